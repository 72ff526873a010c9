#!/usr/bin/env bash
# CI: compile the CuPy kernels' CUDA source for sm_80 and sm_90 without a GPU (NVRTC as CuPy calls
# it, then ptxas, both from NVIDIA's wheels), failing on any error, warning, spill or local memory,
# and print registers and spills per kernel. Run inside the CI virtual environment: the wheels it
# installs there also make tests/test_native_kernels.py's compile test run (not skip) in the
# suite that follows.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install -q nvidia-cuda-nvrtc-cu12 nvidia-cuda-nvcc-cu12
KMEANS_XP_REQUIRE_CUDA_COMPILE=1 python -m pytest -q -rA -p no:cacheprovider \
    tests/test_native_kernels.py -k "kernel_source_compiles or cuda_build_check"
