#!/usr/bin/env bash
# Phase: the tests that torch and JAX enable, now that ci/extras.sh installed them: exactly
# those the README's run skipped for want of them (listed by ci/record_skips.py in
# $CI_SKIPPED_FILE), not the whole suite again.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t skipped < <(sort -u "$CI_SKIPPED_FILE")
if [ "${#skipped[@]}" -eq 0 ]; then
    echo "ci: the README's test run skipped no test for want of torch or JAX; expected some" >&2
    exit 1
fi
echo "ci: rerunning the ${#skipped[@]} tests (or modules) skipped without torch or JAX"
status=0
python -m pytest -q "${skipped[@]}" </dev/null || status=$?
if [ "$status" -eq 5 ]; then
    echo "ci: pytest collected none of them (exit status 5)" >&2
    exit 1
fi
exit "$status"
