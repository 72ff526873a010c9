"""Initialisation: k-means++ and 'random', on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from kmeans_xp import KMeans, kmeans_plusplus, make_blobs


def test_kmeans_plusplus_returns_distinct_rows_of_X(backend):
    X, _ = make_blobs(400, 3, centers=6, random_state=0)
    centers, idx = kmeans_plusplus(backend.asarray(X), 6, random_state=1)
    idx, centers = backend.to_numpy(idx), backend.to_numpy(centers)
    assert len(set(idx.tolist())) == 6
    np.testing.assert_array_equal(centers, X[idx].astype(centers.dtype))


def test_kmeans_plusplus_same_seed_same_rows_on_every_backend(backend):
    X, _ = make_blobs(500, 4, centers=8, random_state=2)
    _, ref = kmeans_plusplus(X, 8, random_state=5)
    _, idx = kmeans_plusplus(backend.asarray(X), 8, random_state=5)
    np.testing.assert_array_equal(backend.to_numpy(idx), ref)


def test_kmeans_plusplus_never_picks_zero_weight_rows():
    X, _ = make_blobs(300, 2, centers=5, random_state=3)
    w = np.zeros(300)
    w[::3] = 1.0
    for seed in range(10):
        _, idx = kmeans_plusplus(X, 5, sample_weight=w, random_state=seed)
        assert (w[idx] > 0).all()


def test_kmeans_plusplus_weight_equals_repeated_rows():
    X, _ = make_blobs(120, 2, centers=4, random_state=4)
    w = np.random.default_rng(0).integers(1, 4, size=120)
    for seed in range(5):
        a, _ = kmeans_plusplus(X, 4, sample_weight=w, random_state=seed)
        b, _ = kmeans_plusplus(np.repeat(X, w, axis=0), 4, random_state=seed)
        np.testing.assert_array_equal(a, b)


def test_kmeans_plusplus_spreads_centres_over_separated_blobs():
    X, y = make_blobs(
        1000, 2, centers=[[0, 0], [50, 0], [0, 50], [50, 50]], cluster_std=0.5, random_state=0
    )
    for seed in range(10):
        _, idx = kmeans_plusplus(X, 4, random_state=seed)
        assert sorted(y[idx].tolist()) == [0, 1, 2, 3]


def test_more_local_trials_never_hurt_on_average():
    X, _ = make_blobs(800, 5, centers=12, random_state=6)

    def potential(C):
        return ((X[:, None] - C[None]) ** 2).sum(-1).min(1).sum()

    one = np.mean(
        [potential(kmeans_plusplus(X, 12, random_state=s, n_local_trials=1)[0]) for s in range(15)]
    )
    many = np.mean([potential(kmeans_plusplus(X, 12, random_state=s)[0]) for s in range(15)])
    assert many < one


def test_random_init_picks_distinct_rows_weighted():
    X = np.arange(20.0).reshape(10, 2)
    w = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1.0])
    for seed in range(5):
        est = KMeans(3, init="random", n_init=1, max_iter=1, random_state=seed, callback=None).fit(
            X, sample_weight=w
        )
        assert np.isfinite(est.cluster_centers_).all()


def test_callable_init_gets_the_callers_data_and_a_random_state(backend):
    X, _ = make_blobs(100, 2, centers=3, random_state=7)
    seen = {}

    def init(data, k, random_state):  # called as scikit-learn calls it
        seen["type"] = type(data)
        seen["random_state"] = random_state
        return data[:k, ...]

    est = KMeans(3, init=init, n_init=1, random_state=0).fit(backend.asarray(X))
    assert seen["type"] is type(backend.asarray(X))
    assert isinstance(seen["random_state"], np.random.RandomState)
    ref = KMeans(3, init=X[:3]).fit(X)
    np.testing.assert_allclose(
        backend.to_numpy(est.cluster_centers_), ref.cluster_centers_, atol=backend.tol(1e-10)
    )


def test_n_init_keeps_the_lowest_inertia():
    X, _ = make_blobs(600, 2, centers=8, cluster_std=2.5, random_state=1)
    single = [KMeans(8, init="random", n_init=1, random_state=s).fit(X).inertia_ for s in range(5)]
    best = KMeans(8, init="random", n_init=10, random_state=0).fit(X).inertia_
    assert best <= np.median(single)


def test_explicit_init_with_n_init_runs_once_and_warns():
    X, _ = make_blobs(100, 2, centers=2, random_state=0)
    with pytest.warns(RuntimeWarning, match="Explicit initial center position passed"):
        est = KMeans(2, init=X[:2], n_init=5).fit(X)
    assert est.n_iter_ >= 1
