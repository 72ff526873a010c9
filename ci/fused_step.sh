#!/usr/bin/env bash
# Phase: the fused CPU step's compiled loop, an optional C extension. CI has a C compiler, so
# the README's install must have built it: fail if not, lest a broken build pass unnoticed
# behind the NumPy-call fallback. Then build the package with no working compiler and check
# that it installs and fits all the same, without the loop (what users without one get); and
# test the loop's plain build (for CPUs without AVX2 and FMA), which this CPU would not run,
# and its AVX2 build where this CPU would run the AVX-512 one.
set -euo pipefail
cd "$(dirname "$0")/.."

python - <<'PY'
from kmeans_xp._kernels import numpy_fused

if numpy_fused._fused_step is None:
    raise SystemExit("ci: the README's install did not build kmeans_xp._kernels._fused_step")
print("ci: the fused step's loop is built; it runs", numpy_fused._fused_step.INSTRUCTIONS)
PY

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kmeans-xp-nocc.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# the committed sources only (no in-place build from the editable install)
mkdir -p "$tmp/src" && git archive HEAD | tar -x -C "$tmp/src"
CC=false python -m pip wheel -q --no-deps -w "$tmp/wheel" "$tmp/src" </dev/null
python -m pip install -q --no-deps --target "$tmp/site" "$tmp"/wheel/*.whl
(
    cd "$tmp"
    PYTHONPATH="$tmp/site" python - <<'PY'
import numpy as np

import kmeans_xp
from kmeans_xp._kernels import numpy_fused

assert numpy_fused._fused_step is None, "built although no compiler worked"
X, _ = kmeans_xp.make_blobs(20_000, 4, centers=5, random_state=0, dtype=np.float32)
km = kmeans_xp.KMeans(5, n_init=1, random_state=0).fit(X)
assert km.labels_.shape == (20_000,) and np.isfinite(km.inertia_)
print("ci: without a C compiler the package installs and fits through the NumPy calls")
PY
)

# the plain build in a copy of the sources, tested there; its labels differ from BLAS's only
# where rounding decides a tie, which test_fused_step.py leaves to test_kernels_numpy.py. It is
# built without the module's own threads too, as on Windows (numpy_threads' workers serve)
CFLAGS="-DFUSED_PLAIN_ONLY -DFUSED_NO_POOL" \
    python -m pip wheel -q --no-deps -w "$tmp/plain" "$tmp/src" </dev/null
python -m zipfile -e "$tmp"/plain/*.whl "$tmp/plain/unpacked"
cp "$tmp"/plain/unpacked/kmeans_xp/_kernels/_fused_step.*.so "$tmp/src/kmeans_xp/_kernels/"
(
    cd "$tmp/src"
    python -c "from kmeans_xp._kernels import _fused_step as f
assert (f.INSTRUCTIONS, f.POOL) == ('plain', 0), (f.INSTRUCTIONS, f.POOL)"
    python -m pytest -q -p no:cacheprovider tests/test_fused_step.py </dev/null
)

# the AVX2 build, capped to on this CPU when it has AVX-512 (its labels are BLAS's, like the
# AVX-512 build's: every NumPy-path test runs on it)
KMEANS_XP_FUSED_ISA=avx2-fma python - <<'PY'
from kmeans_xp._kernels import numpy_fused

print("ci: the fused step's loop capped to", numpy_fused._fused_step.INSTRUCTIONS)
PY
KMEANS_XP_FUSED_ISA=avx2-fma python -m pytest -q -p no:cacheprovider \
    tests/test_fused_step.py tests/test_kernels_numpy.py </dev/null
