"""Memory stays O(n d + chunk k): a 3,000,000 x 4 fit with k=1024 never builds n x k."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import resource
    import numpy as np
    from kmeans_xp import KMeans
    X = np.random.default_rng(0).standard_normal((3_000_000, 4), dtype=np.float32)
    est = KMeans(1024, init="random", n_init=1, max_iter=3, random_state=0).fit(X)
    assert est.cluster_centers_.shape == (1024, 4) and np.isfinite(est.cluster_centers_).all()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
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
