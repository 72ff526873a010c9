#!/usr/bin/env bash
# Phase: the README's set-up block, exactly as written (install and run the demo; install and
# run the tests), in the fresh virtual environment that .ci/run activated. The test run also
# loads ci/record_skips.py, which lists the tests skipped for want of torch or JAX (in
# $CI_SKIPPED_FILE) for ci/extras_tests.sh; it changes nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

export PYTHONPATH="$PWD/ci${PYTHONPATH:+:$PYTHONPATH}"
export PYTEST_ADDOPTS="-p record_skips${PYTEST_ADDOPTS:+ $PYTEST_ADDOPTS}"
: > "$CI_SKIPPED_FILE"

commands="$(python3 ci/readme_commands.py README.md)"
while IFS= read -r command; do
    echo "ci: \$ $command"
    status=0
    bash -o pipefail -c "$command" </dev/null || status=$?
    if [ "$status" -ne 0 ]; then
        if [ "$status" -eq 5 ]; then
            echo "ci: pytest collected no test (exit status 5)" >&2
        fi
        echo "ci: the README's command failed with exit status $status: $command" >&2
        exit "$status"
    fi
done <<< "$commands"
