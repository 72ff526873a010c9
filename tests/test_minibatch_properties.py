"""Property-based tests (hypothesis) of the mini-batch step and of ``partial_fit``, on every
backend of the ``backend`` fixture.

The step moves each centre to the weighted mean of everything it has absorbed: for the labels
the batch gets, the new centres minimise the batch's inertia plus, per cluster, its count times
the squared move of its centre (the learning-rate update's objective). So that objective never
exceeds the batch's inertia before the step; with a fresh argmin the batch's inertia does not
increase either. Counts only grow, by the batch's weights; centres stay in the convex hull of
the initial centres and the rows seen (reassignment moves a centre onto a row).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmeans_xp import MiniBatchKMeans
from kmeans_xp._kernels import kernels_for
from kmeans_xp._minibatch_step import minibatch_step
from tests.strategies import distance_tolerance, problems, sq_distances
from tests.test_properties import PROPERTY

counts_strategy = st.lists(st.integers(0, 40), min_size=1, max_size=5)


def host_cost(X, C, labels, w) -> float:
    return float((sq_distances(X, C)[np.arange(X.shape[0]), labels] * w).sum())


@PROPERTY
@given(P=problems(), data=st.data())
def test_step_never_increases_the_learning_rate_objective(backend, P, data):
    counts = np.asarray(
        data.draw(st.lists(st.integers(0, 40), min_size=P.k, max_size=P.k)), dtype=float
    )
    new, new_counts, inertia, labels = minibatch_step(
        backend.asarray(P.X),
        backend.asarray(P.w),
        backend.asarray(P.init),
        backend.asarray(counts),
        kernels=kernels_for(backend.xp),
        chunk_rows=7,
    )
    new, new_counts = backend.to_numpy(new), backend.to_numpy(new_counts)
    labels = backend.to_numpy(labels)
    before = host_cost(P.X, P.init, labels, P.w)
    slack = float((distance_tolerance(P.X, P.init, 1e-12) * P.w).sum()) + 1e-9
    assert float(inertia) == pytest.approx(before, abs=slack)
    # the objective of the update: batch inertia plus each cluster's count times its move
    moved = ((new - P.init) ** 2).sum(axis=1)
    objective = host_cost(P.X, new, labels, P.w) + float((counts * moved).sum())
    assert objective <= before + slack
    # and with the labels chosen afresh, the batch's inertia does not increase
    after = float((sq_distances(P.X, new).min(axis=1) * P.w).sum())
    assert after <= before + slack
    assert np.all(np.isfinite(new))


@PROPERTY
@given(P=problems(), data=st.data())
def test_counts_grow_by_the_batch_weights(backend, P, data):
    counts = np.asarray(
        data.draw(st.lists(st.integers(0, 40), min_size=P.k, max_size=P.k)), dtype=float
    )
    _, new_counts, _, labels = minibatch_step(
        backend.asarray(P.X),
        backend.asarray(P.w),
        backend.asarray(P.init),
        backend.asarray(counts),
        kernels=kernels_for(backend.xp),
        chunk_rows=5,
    )
    new_counts, labels = backend.to_numpy(new_counts), backend.to_numpy(labels)
    assert np.all(new_counts >= counts)
    expected = counts + np.bincount(labels, P.w, minlength=P.k)
    np.testing.assert_array_equal(new_counts, expected)  # weights are multiples of 1/4: exact


def in_convex_hull(points: np.ndarray, hull: np.ndarray, tol: float) -> bool:
    """Whether every point is a convex combination of the rows of ``hull`` (a linear program)."""
    from scipy.optimize import linprog

    m = hull.shape[0]
    for p in points:
        eq = np.vstack([hull.T, np.ones((1, m))])
        res = linprog(
            np.zeros(m), A_eq=eq, b_eq=np.append(p, 1.0), bounds=[(0, None)] * m, method="highs"
        )
        if res.status != 0:
            # not exactly feasible: accept only a rounding-sized miss
            dist = np.min(np.abs(hull - p).max(axis=1))
            if dist > tol:
                return False
    return True


@PROPERTY
@given(
    P=problems(max_n=20, max_d=2, max_k=4),
    splits=st.lists(st.integers(1, 20), min_size=1, max_size=4),
    ratio=st.sampled_from([0.0, 0.01, 0.5]),
    seed=st.integers(0, 2**16),
)
def test_partial_fit_counts_are_monotone_and_centres_stay_in_the_hull(
    backend, P, splits, ratio, seed
):
    pytest.importorskip("scipy")
    km = MiniBatchKMeans(P.k, init=P.init, n_init=1, reassignment_ratio=ratio, random_state=seed)
    seen = [P.init]
    previous = np.zeros(P.k)
    start = 0
    n = P.X.shape[0]
    for i, size in enumerate(splits):
        if i == 0:  # the first batch initialises: it needs at least k rows
            size = max(size, P.k)
        rows = np.arange(start, start + size) % n
        start += size
        batch, w = P.X[rows], P.w[rows]
        if not w.sum() > 0:
            if i == 0:
                return
            continue
        km.partial_fit(backend.asarray(batch), sample_weight=w)
        seen.append(batch)
        counts = backend.to_numpy(km._counts)
        if ratio == 0.0:  # reassignment resets counts; without it they only grow
            assert np.all(counts >= previous)
        previous = counts
        centres = backend.to_numpy(km.cluster_centers_)
        assert np.all(np.isfinite(centres))
        hull = np.unique(np.vstack(seen), axis=0)
        assert in_convex_hull(centres, hull, backend.tol(1e-9) * (np.abs(hull).max() + 1))
