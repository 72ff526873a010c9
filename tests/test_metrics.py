"""silhouette_score: scikit-learn's values on every backend, in chunks, never an n x n matrix."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from kmeans_xp import silhouette_score

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _data(n=240, d=3, k=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    labels = rng.integers(0, k, n)
    return centres[labels] + rng.normal(size=(n, d)), labels


def test_matches_sklearn_on_every_backend(backend):
    X, labels = _data()
    expected = sklearn_metrics.silhouette_score(X, labels)
    got = silhouette_score(backend.asarray(X), backend.asarray(labels))
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=backend.tol(1e-9), abs=backend.tol(1e-12))


def test_float32_input_is_scored_in_float64_where_available(backend):
    X, labels = _data(seed=1)
    expected = sklearn_metrics.silhouette_score(X.astype(np.float32), labels)
    got = silhouette_score(backend.asarray(X, dtype="float32"), backend.asarray(labels))
    assert got == pytest.approx(expected, rel=1e-5)


def test_many_small_chunks_give_the_same_score():
    X, labels = _data(n=300)
    whole = silhouette_score(X, labels)
    chunked = silhouette_score(X, labels, working_memory=0.01)  # a handful of rows per chunk
    assert chunked == pytest.approx(whole, rel=1e-12)


def test_singletons_duplicates_and_arbitrary_label_values():
    X, labels = _data(n=60, k=3, seed=2)
    X[5] = X[6]  # duplicate points
    X[7] = X[6]
    labels = labels * 10 + 3  # labels need not be 0..k-1
    labels[0] = 99  # a cluster of one row scores 0
    expected = sklearn_metrics.silhouette_score(X, labels)
    assert silhouette_score(X, labels) == pytest.approx(expected, rel=1e-9)


def test_identical_points_in_two_clusters_score_zero_like_sklearn():
    X = np.zeros((6, 2))
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert silhouette_score(X, labels) == sklearn_metrics.silhouette_score(X, labels) == 0.0


def test_sample_size_draws_the_rows_sklearn_draws():
    X, labels = _data(n=400, seed=3)
    expected = sklearn_metrics.silhouette_score(X, labels, sample_size=120, random_state=7)
    got = silhouette_score(X, labels, sample_size=120, random_state=7)
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("labels", "message"),
    [(np.zeros(10, dtype=int), "number of labels"), (np.arange(10), "number of labels")],
)
def test_undefined_label_counts_raise(labels, message):
    X, _ = _data(n=10)
    with pytest.raises(ValueError, match=message):
        silhouette_score(X, labels)


def test_labels_of_the_wrong_length_raise():
    X, labels = _data(n=10)
    with pytest.raises(ValueError, match="one entry per row"):
        silhouette_score(X, labels[:-1])


def test_memory_stays_far_below_an_n_by_n_matrix():
    n = 5000
    X, labels = _data(n=n, d=2, k=3, seed=4)
    full_matrix = n * n * 8  # 200 MB
    tracemalloc.start()
    try:
        silhouette_score(X, labels, working_memory=4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < full_matrix / 8, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinity_raises_on_every_backend(backend, bad):
    X, labels = _data(n=30, seed=5)
    X[7, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        silhouette_score(backend.asarray(X), backend.asarray(labels))
    with pytest.raises(ValueError):  # scikit-learn refuses them too
        sklearn_metrics.silhouette_score(X, labels)


def test_lists_are_accepted_like_sklearn():
    X, labels = _data(n=40, seed=6)
    expected = sklearn_metrics.silhouette_score(X.tolist(), labels.tolist())
    assert silhouette_score(X.tolist(), labels.tolist()) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="nested sequence of numbers"):
        silhouette_score([["a", "b"], ["c", "d"], ["e", "f"]], [0, 0, 1])
