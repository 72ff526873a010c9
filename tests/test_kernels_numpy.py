"""The NumPy fast paths against the portable kernels, on each of their code paths: scores by
cluster or by row, one-hot or bincount sums, one thread or several, unit or general weights,
ties between centres, the remembered row norms."""

from __future__ import annotations

import numpy as np
import pytest

from kmeans_xp._kernels import numpy as fast
from kmeans_xp._kernels import portable


def _data(n, d, k, dtype, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    if ties:  # small integers: every product is exact, so equal distances tie exactly
        X = rng.integers(-2, 3, size=(n, d)).astype(dtype)
        C = rng.integers(-2, 3, size=(k, d)).astype(dtype)
        C[1::2] = C[0::2][: k // 2]
    else:
        X = rng.normal(size=(n, d)).astype(dtype)
        C = rng.normal(size=(k, d)).astype(dtype)
    w = rng.uniform(0.5, 2.0, size=n).astype(dtype)
    return X, C, w


def _check_against_portable(X, C, w, rows):
    k = C.shape[0]
    tol = 1e-5 if X.dtype == np.float32 else 1e-12
    ref_labels, ref_sqdist = portable.assign(X, C, chunk_rows=rows)
    ref_sums, ref_weights = portable.segment_sum(X, ref_labels, w, k, chunk_rows=rows)

    labels, sqdist = fast.assign(X, C, chunk_rows=rows)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(sqdist, ref_sqdist, rtol=tol, atol=tol)

    labels, sqdist, sums, weights = fast.lloyd_step(X, C, w, chunk_rows=rows, kernels=None)
    assert labels.dtype == np.int64 and sums.dtype == X.dtype and weights.dtype == X.dtype
    np.testing.assert_array_equal(labels, ref_labels)
    scale = float(np.abs(X).max()) ** 2 * X.shape[1]
    np.testing.assert_allclose(sqdist, ref_sqdist, rtol=tol * 10, atol=tol * 10 * scale)
    np.testing.assert_allclose(sums, ref_sums, rtol=tol * 10, atol=tol * 10 * X.shape[0])
    np.testing.assert_allclose(weights, ref_weights, rtol=tol * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("n", "d", "k"),
    [
        (3000, 2, 8),  # by cluster, few columns copied contiguous, one-hot sums
        (3000, 16, 32),  # by cluster, one-hot sums
        (1500, 40, 5),  # by row, one-hot sums
        (1500, 6, 40),  # by row, bincount sums
    ],
)
@pytest.mark.parametrize("unit_weight", [True, False])
def test_every_path_matches_portable(dtype, n, d, k, unit_weight):
    X, C, w = _data(n, d, k, dtype, seed=n + d + k)
    if unit_weight:
        w = np.ones_like(w)
    _check_against_portable(X, C, w, rows=293)


@pytest.mark.parametrize(("d", "k"), [(2, 6), (50, 40)])
def test_ties_go_to_the_first_centre(d, k):
    X, C, w = _data(500, d, k, np.float64, ties=True)
    _check_against_portable(X, C, w, rows=64)


def test_threads_give_the_single_thread_results(monkeypatch):
    X, C, w = _data(20_000, 4, 8, np.float32, seed=5)
    one = fast.lloyd_step(X, C, w, chunk_rows=700, kernels=None)
    monkeypatch.setattr(fast, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(fast, "n_threads", lambda: 3)
    assert len(fast._Pass(X, C, 700).ranges(X.shape[0])) == 3
    many = fast.lloyd_step(X, C, w, chunk_rows=700, kernels=None)
    np.testing.assert_array_equal(many[0], one[0])
    np.testing.assert_allclose(many[1], one[1])
    np.testing.assert_allclose(many[2], one[2], rtol=1e-6)
    np.testing.assert_allclose(many[3], one[3], rtol=1e-6)


def test_remembered_row_norms_follow_the_array():
    X, C, w = _data(40_000, 3, 4, np.float64, seed=6)
    first = fast.lloyd_step(X, C, w, chunk_rows=10**6, kernels=None)[1]
    Y = X + 1.0  # a new array of the same shape must not reuse X's norms
    second = fast.lloyd_step(Y, C, w, chunk_rows=10**6, kernels=None)[1]
    np.testing.assert_allclose(second, portable.assign(Y, C, chunk_rows=10**6)[1], rtol=1e-9)
    assert not np.allclose(first, second)
