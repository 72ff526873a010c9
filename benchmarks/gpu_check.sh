#!/usr/bin/env bash
# The GPU check in ONE call on the GPU machine, about 5 minutes at most: the environment, the
# kernels compiled once (timed), the GPU tests, then the benchmark (benchmarks/gpu.py). How to run
# it with the device tool, from the repository root of a checkout (see benchmarks/README.md):
#
#   here, once:   bash ../shared/tools/device-wheels.sh     # array-api-compat/-extra/-strict -> .whl/
#   device run:   command "bash benchmarks/gpu_check.sh", carry [".whl"], timeout_s 330
#
# The phases' limits add up to 290 s (COMPILE_LIMIT + TESTS_GPU_LIMIT + TESTS_BACKENDS_LIMIT +
# BENCH_LIMIT), so that with the machine's start (1-2 minutes) a second run still fits in a
# 15-minute device budget. Each phase writes to $OUT as it goes, so a run stopped at any point
# still says what passed (7 files):
#   env.txt              card, driver, versions; the kernels' compile time, registers and local
#                        memory per kernel, and the torch-to-CuPy route's state
#   tests_gpu.log        pytest -v of tests/test_gpu.py: each test's outcome as it ends, then
#                        every outcome (-rA) and the slowest durations
#   tests_gpu.xml        its junit (written when pytest ends within its limit)
#   tests_backends.log   the same for the other GPU tests (the cupy and torch-cuda backends)
#   tests_backends.xml
#   bench.log            each measurement as it comes, each case's table row as the case ends
#   gpu_<card>.json      the benchmark's numbers, written again after every measurement
# Copy gpu_<card>.json to benchmarks/results/ (its name holds the card's) and quote bench.log's
# table.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/kmeans_xp_gpu}
COMPILE_LIMIT=${COMPILE_LIMIT:-40}
TESTS_GPU_LIMIT=${TESTS_GPU_LIMIT:-90}
TESTS_BACKENDS_LIMIT=${TESTS_BACKENDS_LIMIT:-70}
BENCH_LIMIT=${BENCH_LIMIT:-90}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 CUPY_TF32=0 KMEANS_XP_HYPOTHESIS_PROFILE=gpu
# one kernel cache for every phase, empty at the start: the compile phase times the first
# compile (a later process compiles again where CuPy does not read modules with name
# expressions back from its cache: the pytest durations then show it in each phase's first test)
export CUPY_CACHE_DIR=/tmp/kmeans_xp_cupy_cache
rm -rf "$CUPY_CACHE_DIR"

# the pure-Python packages the machine lacks, from .whl/ (carried); the rest is on its image
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH=/tmp/site:$PWD
else
    echo "no .whl/ carried: array-api-compat must already be importable"
    export PYTHONPATH=$PWD
fi

phase() { echo "== $1 (limit ${2}s; ${SECONDS}s since the start)"; }

# pytest for one phase: each test's outcome in the log as it ends (-v), all outcomes and the
# slowest tests at the end (-rA, --durations), junit when it ends within the limit; a summary
# on stdout
run_tests() {
    local name=$1 limit=$2
    shift 2
    phase "pytest $name" "$limit"
    timeout -k 5 "$limit" python3 -m pytest -m gpu -v -rA --durations=25 -p no:cacheprovider \
        $timeout_flag --junitxml="$OUT/$name.xml" "$@" >"$OUT/$name.log" 2>&1
    echo "pytest $name exit: $? (124: stopped at the limit)"
    grep -E "^(FAILED|ERROR)" "$OUT/$name.log" | head -n 30
    grep -E "^=+ .*(passed|failed|error|skipped).* =+$" "$OUT/$name.log" | tail -n 1
}

{
    phase environment 10
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.mem \
        --format=csv
    timeout 30 python3 - <<'EOF'
import array_api_compat, cupy, numpy, torch
print("GPU:", torch.cuda.get_device_name(), "| torch", torch.__version__, "| cupy",
      cupy.__version__, "| numpy", numpy.__version__, "| array-api-compat",
      array_api_compat.__version__)
EOF
    # the tests turn warnings into errors: a warning on importing CuPy would make the conftest's
    # CUDA probe fail and skip every GPU test, so say so here if there is one
    timeout 30 python3 -W error -c "import cupy, cupyx; assert int(cupy.arange(3).sum().get()) == 3" \
        || echo "WARNING: cupy raised under -W error: GPU tests may skip"

    phase "kernels compiled once" "$COMPILE_LIMIT"
    timeout -k 5 "$COMPILE_LIMIT" python3 - <<'EOF'
import time
import warnings

import cupy
import torch

from kmeans_xp._kernels import cupy as native
from kmeans_xp._kernels import torch as torch_native

dev = cupy.cuda.Device()
print(f"compute capability {dev.compute_capability}, NVRTC {cupy.cuda.nvrtc.getVersion()}")
start = time.perf_counter()
native._module(dev.id)
print(f"module compiled in {time.perf_counter() - start:.2f} s; "
      f"scalar fallback: {native.SCALAR_FALLBACK}")
for name in native._NAMES:
    try:
        attrs = native._function(dev.id, name).attributes
        print(f"{name:<22} {attrs['num_regs']:3d} registers, {attrs['local_size_bytes']} B "
              f"local, binary sm_{attrs['binary_version']}")
    except Exception as exc:
        print(f"{name}: {type(exc).__name__}: {exc}")
# the torch-to-CuPy route on this device: its check, on torch's stream, warnings as errors
try:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X = torch.randn((1000, 16), device="cuda")
        w = torch.ones(1000, device="cuda")
        torch_native.lloyd_step(X, X[:8].clone(), w, chunk_rows=300)
        torch.cuda.synchronize()
except Exception as exc:
    print(f"torch route failed: {type(exc).__name__}: {exc}")
print("torch route:", "through CuPy" if torch_native._PROBED else "torch's own operations",
      "| given up:", torch_native.CUPY_ROUTE_ERRORS or "nowhere")
EOF
    echo "compile phase exit: $?"
} 2>&1 | tee "$OUT/env.txt"

timeout_flag=""
python3 -c "import pytest_timeout" 2>/dev/null && timeout_flag="--timeout=60"
run_tests tests_gpu "$TESTS_GPU_LIMIT" tests/test_gpu.py
# the other GPU tests (the backend fixture's cupy and torch-cuda)
run_tests tests_backends "$TESTS_BACKENDS_LIMIT" tests --ignore=tests/test_gpu.py

phase benchmark "$BENCH_LIMIT"
timeout -k 5 "$BENCH_LIMIT" python3 benchmarks/gpu.py --out "$OUT" >"$OUT/bench.log" 2>&1
echo "benchmark exit: $? (124: stopped at the limit)"
tail -n 12 "$OUT/bench.log"
echo "== done in ${SECONDS}s"
