from __future__ import annotations

import numpy as np
import pytest

from kmeans_xp import make_blobs


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_samples=2000, n_features=2, centers=3, cluster_std=1.35, random_state=11),
        dict(
            n_samples=101, n_features=5, centers=4, cluster_std=[1.0, 2.0, 0.5, 3.0], random_state=0
        ),
        dict(n_samples=50, centers=[[0.0, 1.0], [5.0, 5.0]], random_state=3, shuffle=False),
    ],
)
def test_make_blobs_draws_what_scikit_learn_draws(kwargs):
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = make_blobs(**kwargs)
    X_ref, y_ref = datasets.make_blobs(**kwargs)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


def test_make_blobs_on_a_backend(backend):
    X, y = make_blobs(30, 3, centers=2, random_state=0, xp=backend.xp, device=backend.device)
    assert X.shape == (30, 3) and y.shape == (30,)
    assert X.dtype == backend.float64 and y.dtype == backend.int64
    X_np, y_np = make_blobs(30, 3, centers=2, random_state=0)
    X_host = backend.to_numpy(X)
    np.testing.assert_array_equal(X_host, X_np.astype(X_host.dtype))
    np.testing.assert_array_equal(backend.to_numpy(y), y_np)
    X32, _ = make_blobs(
        30, 3, random_state=0, xp=backend.xp, device=backend.device, dtype=backend.xp.float32
    )
    assert X32.dtype == backend.xp.float32


@pytest.mark.parametrize("bad", [0, -5, 2.5])
def test_make_blobs_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        make_blobs(bad)
