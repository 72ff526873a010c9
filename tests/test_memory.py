"""Memory stays O(n d + chunk k): a 3,000,000 x 4 fit with k=1024 never builds n x k, and a
3,000,000 x 64 fit with k=1024, its default k-means++ initialisation included, holds no more
than the working-memory budget plus the k x d centres beyond X."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# The child's own peak resident memory. Linux keeps ru_maxrss across fork and exec, so a child
# of a large test process would report its parent's peak; VmHWM belongs to the new program.
PEAK = textwrap.dedent(
    """
    import resource

    def peak_bytes():
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    """
)

SCRIPT = PEAK + textwrap.dedent(
    """
    import numpy as np
    from kmeans_xp import KMeans
    X = np.random.default_rng(0).standard_normal((3_000_000, 4), dtype=np.float32)
    est = KMeans(1024, init="random", n_init=1, max_iter=3, random_state=0).fit(X)
    assert est.cluster_centers_.shape == (1024, 4) and np.isfinite(est.cluster_centers_).all()
    print(peak_bytes())
    """
)


@pytest.mark.slow
def test_three_million_rows_k1024_fit_under_1_5_gb():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=900
    )
    peak = int(out.stdout.split()[-1])
    # a full n x k float32 matrix alone would be 12 GB
    assert peak < 1.5 * 2**30, f"peak RSS {peak / 2**30:.2f} GiB"


# The fit runs its default initialisation (k-means++) as it always does, with its budget, but
# only the first CENTRES centres are drawn, the others being random rows: every centre of
# k-means++ holds the same memory (n_local_trials candidates, fixed by k), so its peak is
# reached by the first, while all 1,024 would read X 2,048 times (many minutes on 2 cores).
# Two Lloyd iterations and the final assignment follow on all 1,024 centres.
WHOLE_FIT = PEAK + textwrap.dedent(
    """
    import math
    import numpy as np
    from kmeans_xp import KMeans, _init
    N, D, K, CENTRES = 3_000_000, 64, 1024, 8
    draw = _init.kmeans_plusplus

    def first_centres(X, k, w, rng, *, n_local_trials=None, working_memory):
        assert k == K and n_local_trials is None
        trials = 2 + int(math.log(k))  # those of the k=1024 run
        centers, idx = draw(
            X, CENTRES, w, rng, n_local_trials=trials, working_memory=working_memory
        )
        rest = np.random.default_rng(1).choice(X.shape[0], k - CENTRES, replace=False)
        return np.concatenate([centers, X[rest]]), np.concatenate([idx, rest])

    _init.kmeans_plusplus = first_centres
    X = np.random.default_rng(0).standard_normal((N, D), dtype=np.float32)
    before = peak_bytes()
    est = KMeans(K, max_iter=2, random_state=0).fit(X)
    assert est.cluster_centers_.shape == (K, D) and np.isfinite(est.cluster_centers_).all()
    peak = peak_bytes()
    print(peak - before)
    """
)


@pytest.mark.slow
def test_whole_fit_with_default_init_within_the_budget_plus_the_centres():
    out = subprocess.run(
        [sys.executable, "-c", WHOLE_FIT],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    beyond_x = int(out.stdout.split()[-1])
    budget = 256 * 2**20  # KMeans's default working memory
    centres = 1024 * 64 * 4
    assert beyond_x <= budget + centres, f"{beyond_x / 2**20:.0f} MiB beyond X"
