# Helpers that .ci/run sources: the fresh virtual environment and the timing of each phase.

# A fresh virtual environment outside the clone, activated for every phase that follows (the
# phases inherit PATH and VIRTUAL_ENV); removed when CI ends.
ci_fresh_venv() {
    CI_VENV_PARENT="$(mktemp -d "${TMPDIR:-/tmp}/kmeans-xp-ci.XXXXXX")"
    trap 'rm -rf "$CI_VENV_PARENT"' EXIT
    python3 -m venv "$CI_VENV_PARENT/venv"
    # the tests the README's run skipped for want of torch or JAX (ci/record_skips.py)
    export CI_SKIPPED_FILE="$CI_VENV_PARENT/skipped-without-extras.txt"
    # shellcheck disable=SC1091
    source "$CI_VENV_PARENT/venv/bin/activate"
    echo "ci: fresh virtual environment with $(python --version), pip $(python -m pip --version | cut -d' ' -f2)"
}

# run_phase NAME SCRIPT: run one phase's script; stop CI with its exit status when it fails.
run_phase() {
    local name="$1" script="$2" start status
    start=$SECONDS
    echo
    echo "==== ci: phase '$name' ($script)"
    if bash "$script"; then
        echo "==== ci: phase '$name' passed in $((SECONDS - start)) s"
    else
        status=$?
        echo "==== ci: phase '$name' FAILED (exit status $status) after $((SECONDS - start)) s"
        exit "$status"
    fi
}
