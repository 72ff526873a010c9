"""k-means|| initialisation (Bahmani et al. 2012), on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from kmeans_xp import KMeans, _init, kmeans, make_blobs
from kmeans_xp._xp import host_rng


def _potential(X, C):
    return ((X[:, None, :] - C[None]) ** 2).sum(-1).min(1).sum()


def _kmeans_parallel(X, k, w=None, seed=0, **options):
    w = np.ones(X.shape[0]) if w is None else w
    return _init.kmeans_parallel(X, k, w, host_rng(seed), **options)


def test_as_good_as_kmeans_plusplus_on_blobs():
    X, _ = make_blobs(2000, 5, centers=20, cluster_std=1.5, random_state=0)
    seeds = range(16)  # the spread between two seeds is about 10%
    ones = np.ones(X.shape[0])
    seeding = {
        "k-means++": [
            _potential(X, _init.kmeans_plusplus(X, 20, ones, host_rng(s))[0]) for s in seeds
        ],
        "k-means||": [_potential(X, _kmeans_parallel(X, 20, seed=s)[0]) for s in seeds],
    }
    final = {
        init: [KMeans(20, init=init, random_state=s).fit(X).inertia_ for s in seeds]
        for init in seeding
    }
    assert np.mean(seeding["k-means||"]) <= 1.1 * np.mean(seeding["k-means++"]), seeding
    assert np.mean(final["k-means||"]) <= 1.04 * np.mean(final["k-means++"]), final


def test_returns_distinct_rows_of_X():
    X, _ = make_blobs(500, 3, centers=8, random_state=1)
    centers, idx = _kmeans_parallel(X, 8, seed=2, n_refine_iter=0)
    assert len(set(idx.tolist())) == 8
    np.testing.assert_array_equal(centers, X[idx])


def test_spreads_centres_over_separated_blobs():
    X, y = make_blobs(
        1000, 2, centers=[[0, 0], [50, 0], [0, 50], [50, 50]], cluster_std=0.5, random_state=0
    )
    for seed in range(5):
        _, idx = _kmeans_parallel(X, 4, seed=seed)
        assert sorted(y[idx].tolist()) == [0, 1, 2, 3]


def test_never_picks_zero_weight_rows():
    X, _ = make_blobs(300, 2, centers=5, random_state=3)
    w = np.zeros(300)
    w[::3] = 1.0
    for seed in range(5):
        _, idx = _kmeans_parallel(X, 5, w, seed=seed)
        assert (w[idx] > 0).all()


def test_integer_weights_equal_repeated_rows():
    X, _ = make_blobs(120, 2, centers=4, random_state=4)
    w = np.random.default_rng(0).integers(1, 4, size=120)
    for seed in range(3):
        a, _ = _kmeans_parallel(X, 4, w.astype(np.float64), seed=seed)
        b, _ = _kmeans_parallel(np.repeat(X, w, axis=0), 4, seed=seed)
        np.testing.assert_array_equal(a, b)


def test_same_seed_same_centres_on_every_backend(backend):
    X, _ = make_blobs(600, 3, centers=6, random_state=6)
    ref = KMeans(6, init="k-means||", random_state=11).fit(X)
    est = KMeans(6, init="k-means||", random_state=11).fit(backend.asarray(X))
    np.testing.assert_array_equal(backend.to_numpy(est.labels_), ref.labels_)
    np.testing.assert_allclose(
        backend.to_numpy(est.cluster_centers_), ref.cluster_centers_, atol=backend.tol(1e-10)
    )
    _, labels, _, _ = kmeans(backend.asarray(X), 6, init="k-means||", random_state=11)
    np.testing.assert_array_equal(backend.to_numpy(labels), ref.labels_)


def test_sample_weight_enters_the_fit():
    X, _ = make_blobs(300, 2, centers=3, random_state=7)
    w = np.random.default_rng(1).integers(0, 3, size=300)
    a = KMeans(3, init="k-means||", random_state=0).fit(X, sample_weight=w)
    b = KMeans(3, init="k-means||", random_state=0).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-10)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-10)


def test_on_dask_one_compute_and_n_rounds_plus_one_passes_over_X(monkeypatch):
    # k-means++ reads X once per centre; k-means|| once per round, plus once to weight the
    # candidates, whatever k. Counted as row-block tasks under the synchronous scheduler.
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    from kmeans_xp._kernels import dask as dask_kernels

    X, _ = make_blobs(900, 3, centers=6, random_state=8)
    counts = {"compute": 0, "block": 0}

    def counting(function, key):
        def counted(*args, **kwargs):
            counts[key] += 1
            return function(*args, **kwargs)

        return counted

    monkeypatch.setattr(dask, "compute", counting(dask.compute, "compute"))
    for name in ("_assign_block", "_lloyd_step_block"):
        monkeypatch.setattr(dask_kernels, name, counting(getattr(dask_kernels, name), "block"))
    Xd = da.from_array(X, chunks=(300, 3))
    for k in (6, 40):
        counts.update(compute=0, block=0)
        with dask.config.set(scheduler="sync"):
            centers, idx = _init.kmeans_parallel(Xd, k, da.ones(900, chunks=300), host_rng(4))
            assert counts == {"compute": 1, "block": 3 * (5 + 1)}
            ref, ref_idx = _kmeans_parallel(X, k, seed=4)
            np.testing.assert_array_equal(idx.compute(), ref_idx)
            np.testing.assert_array_equal(centers.compute(), ref)
