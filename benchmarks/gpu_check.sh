#!/usr/bin/env bash
# The GPU check in ONE call on the GPU machine (about 5-8 minutes): environment, the GPU tests,
# then the benchmark (benchmarks/gpu.py). How to run it with the device tool, from the repository
# root of a checkout (see benchmarks/README.md):
#
#   here, once:   bash ../shared/tools/device-wheels.sh     # array-api-compat/-extra/-strict -> .whl/
#   device run:   command "bash benchmarks/gpu_check.sh", carry [".whl"], timeout_s 540
#
# Results come back from $OUT (5 files): env.txt, pytest.log, bench.log, gpu_<card>.json and
# junit.xml. Copy gpu_<card>.json to benchmarks/results/ (its name holds the card's) and quote
# the table that bench.log ends with. Budgets: the tests stop after TEST_LIMIT seconds, the
# benchmark after BENCH_LIMIT; each prints what it finished.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/kmeans_xp_gpu}
TEST_LIMIT=${TEST_LIMIT:-270}
BENCH_LIMIT=${BENCH_LIMIT:-200}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 CUPY_TF32=0 KMEANS_XP_HYPOTHESIS_PROFILE=gpu

# the pure-Python packages the machine lacks, from .whl/ (carried); the rest is on its image
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH=/tmp/site:$PWD
else
    echo "no .whl/ carried: array-api-compat must already be importable"
    export PYTHONPATH=$PWD
fi

{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.mem \
        --format=csv
    python3 - <<'EOF'
import array_api_compat, cupy, numpy, torch
print("GPU:", torch.cuda.get_device_name(), "| torch", torch.__version__, "| cupy",
      cupy.__version__, "| numpy", numpy.__version__, "| array-api-compat",
      array_api_compat.__version__)
EOF
} 2>&1 | tee "$OUT/env.txt"

# the test suite turns warnings into errors: a warning on importing CuPy would make the
# conftest's CUDA probe fail and skip every GPU test, so say so here if there is one
python3 -W error -c "import cupy, cupyx; assert int(cupy.arange(3).sum().get()) == 3" 2>&1 \
    | tee -a "$OUT/env.txt" || echo "WARNING: cupy raised under -W error: GPU tests may skip"

timeout_flag=""
python3 -c "import pytest_timeout" 2>/dev/null && timeout_flag="--timeout=120"
echo "== pytest -m gpu (limit ${TEST_LIMIT}s)"
timeout -k 10 "$TEST_LIMIT" python3 -m pytest -m gpu -q -rfEs -p no:cacheprovider $timeout_flag \
    --continue-on-collection-errors --junitxml="$OUT/junit.xml" --durations=10 tests 2>&1 \
    | tee "$OUT/pytest.log" | tail -n 40
echo "pytest exit: ${PIPESTATUS[0]}"

echo "== benchmark (limit ${BENCH_LIMIT}s)"
timeout -k 10 "$BENCH_LIMIT" python3 benchmarks/gpu.py --out "$OUT" 2>&1 | tee "$OUT/bench.log"
echo "benchmark exit: ${PIPESTATUS[0]}"
