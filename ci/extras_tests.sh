#!/usr/bin/env bash
# Phase: the tests that torch and JAX enable. The README's run has already run everything else
# (these skipped there), so only those are selected: tests whose name or parameters mention the
# library, and the torch kernels' module.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
python -m pytest -q -k "torch or jax or native_kernels" </dev/null || status=$?
if [ "$status" -eq 5 ]; then
    echo "ci: no test selected for torch or JAX (pytest exit status 5)" >&2
    exit 1
fi
exit "$status"
