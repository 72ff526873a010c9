"""Property-based tests (hypothesis) of Lloyd's invariants, on every backend of the ``backend``
fixture: the hot operations, one Lloyd iteration, and the whole ``KMeans`` fit.

Data are drawn in NumPy (tests/strategies.py) and converted once per example with
``backend.asarray``; expected values are computed in NumPy float64. Tolerances scale with the
data (``distance_tolerance``). Results are recorded in tests/PROPERTIES.md.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, note, settings
from hypothesis import strategies as st

from kmeans_xp import KMeans, kmeans_plusplus
from kmeans_xp._estimator import ConvergenceWarning
from kmeans_xp._kernels import kernels_for, portable
from kmeans_xp._lloyd import MAX_ITER, STRICT, lloyd
from tests import strategies
from tests.conftest import make_backend
from tests.strategies import (
    Problem,
    assume_decisive,
    cost,
    distance_tolerance,
    eps,
    integer_matrix,
    problems,
    spread_problems,
    sq_distances,
    weighted_means,
)

# The backend fixture is stateless, so reusing it across the examples of one test is safe.
PROPERTY = settings(
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ]
)

seeds = st.integers(0, 2**32 - 1)

# Relative tol of the fits compared exactly: it stops a run whose centres moved by rounding
# only (tol=0 would make "moved by 1e-17 or not at all" decide n_iter_), and is far below any
# real move on the spread data.
TIGHT = 1e-12


# ---------------------------------------------------------------- helpers
@pytest.fixture(autouse=True)
def float32_tolerances(request, monkeypatch):
    """Tolerances set for float64 data raised to float32's on a backend that computes the
    float64 data in float32 (JAX's default 32-bit mode)."""
    if "backend" in request.fixturenames and not request.getfixturevalue("backend").has_float64:
        monkeypatch.setattr(strategies, "EPS_FLOOR", 1e-5)


@dataclass
class Step:
    """What ``callback`` saw after one iteration, on the host."""

    labels: np.ndarray  # assignment to the previous centres
    inertia: float  # its weighted cost
    centres: np.ndarray  # the updated centres (empty clusters relocated)


@dataclass
class Fit:
    centres: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    stop: str
    steps: list[Step]


def fit(backend, X, k, *, init, sample_weight=None, **params) -> Fit:
    """``KMeans(k, init=init, **params).fit(X, sample_weight)`` on ``backend``, results on the
    host. "Fewer distinct clusters" warnings are expected on adversarial data and ignored."""
    steps: list[Step] = []

    def record(info):
        steps.append(
            Step(backend.to_numpy(info.labels), info.inertia, backend.to_numpy(info.centers))
        )

    if isinstance(init, np.ndarray):
        init = backend.asarray(init)
    if sample_weight is not None:
        sample_weight = backend.asarray(sample_weight)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = KMeans(k, init=init, callback=record, **params).fit(
            backend.asarray(X), sample_weight=sample_weight
        )
    centres = backend.to_numpy(est.cluster_centers_)
    labels = backend.to_numpy(est.labels_)
    assert centres.shape == (k, X.shape[1]) and labels.shape == (X.shape[0],)
    return Fit(centres, labels, est.inertia_, est.n_iter_, est.stop_reason_, steps)


def inertia_slack(X, C, w, eps=1e-9) -> float:
    return float((distance_tolerance(X, C, eps) * w).sum())


def after_update_cost(X, w, labels, centres) -> float:
    """Cost of the labels of an iteration with that iteration's updated centres, allowing each
    row to join a cluster that had no weight (the relocation puts one of them on it)."""
    D = sq_distances(X, centres)
    row = D[np.arange(X.shape[0]), labels]
    _, total = weighted_means(X, labels, w, centres.shape[0])
    emptied = total <= 0
    if emptied.any():
        row = np.minimum(row, D[:, emptied].min(axis=1))
    return float((row * w).sum())


def assert_labels_are_argmin(X, C, labels, eps=1e-9):
    D = sq_distances(X, C)
    chosen = D[np.arange(X.shape[0]), labels]
    excess = chosen - D.min(axis=1)
    assert np.all(excess <= distance_tolerance(X, C, eps)), (
        f"rows {np.flatnonzero(excess > distance_tolerance(X, C, eps))} are not at a nearest "
        f"centre (excess {excess.max()})"
    )


def assert_same_fit(a: Fit, b: Fit, X, w, *, labels=None, centres=None, inertia=None, scale=1.0):
    """``b`` is ``a`` with its labels/centres/inertia mapped as given (defaults: unchanged)."""
    size = float(np.abs(X).max()) + 1.0
    np.testing.assert_array_equal(b.labels, a.labels if labels is None else labels)
    np.testing.assert_allclose(
        b.centres, a.centres if centres is None else centres, rtol=0, atol=eps(1e-9) * size * scale
    )
    expected = a.inertia if inertia is None else inertia
    slack = eps(1e-9) * size**2 * w.sum() * scale**2
    assert b.inertia == pytest.approx(expected, rel=eps(1e-9), abs=slack)
    assert b.n_iter == a.n_iter and b.stop == a.stop


def trajectory(init: np.ndarray, a: Fit) -> list[np.ndarray]:
    """Every centre set the run assigned rows to: the initial one, each iteration's, and (after
    a non-strict stop) the final relabel's."""
    return [init] + [s.centres for s in a.steps]


# ------------------------------------------------------- the hot operations
@PROPERTY
@given(P=problems(), dtype=st.sampled_from(["float64", "float32"]), rows=st.integers(1, 30))
def test_assign_labels_are_an_argmin(backend, P, dtype, rows):
    X, C = P.X.astype(dtype), P.init.astype(dtype)
    labels, sqdist = kernels_for(backend.xp).assign(
        backend.asarray(X), backend.asarray(C), chunk_rows=rows
    )
    labels, sqdist = backend.to_numpy(labels), backend.to_numpy(sqdist)
    assert labels.shape == sqdist.shape == (X.shape[0],)
    index = np.int64 if backend.has_float64 else np.int32  # JAX's 32-bit mode: int32
    assert labels.dtype == index and np.all((labels >= 0) & (labels < P.k))
    computed = sqdist.dtype  # float32 also for float64 data on JAX's 32-bit mode
    tolerance = 1e-6 if computed == np.float32 else 1e-12
    assert_labels_are_argmin(X, C, labels, tolerance)
    chosen = sq_distances(X, C)[np.arange(X.shape[0]), labels]
    assert np.all(sqdist >= 0)
    np.testing.assert_allclose(sqdist, chosen, rtol=tolerance, atol=0)


@PROPERTY
@given(P=problems(), rows=st.integers(1, 30), data=st.data())
def test_assign_step_never_increases_inertia(backend, P, rows, data):
    n = P.X.shape[0]
    previous = np.asarray(data.draw(st.lists(st.integers(0, P.k - 1), min_size=n, max_size=n)))
    _, sqdist = kernels_for(backend.xp).assign(
        backend.asarray(P.X), backend.asarray(P.init), chunk_rows=rows
    )
    sqdist = backend.to_numpy(sqdist)
    before = sq_distances(P.X, P.init)[np.arange(n), previous]
    slack = distance_tolerance(P.X, P.init, 1e-12)
    assert np.all(sqdist <= before + slack)  # row by row, hence in total for any weights
    assert (sqdist * P.w).sum() <= (before * P.w).sum() + (slack * P.w).sum()


@PROPERTY
@given(P=problems(), rows=st.integers(1, 30), data=st.data())
def test_segment_sum_gives_weighted_means_that_never_increase_inertia(backend, P, rows, data):
    n, k = P.X.shape[0], P.k
    labels = np.asarray(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    sums, weight = portable.segment_sum(
        backend.asarray(P.X), backend.asarray(labels), backend.asarray(P.w), k, chunk_rows=rows
    )
    sums, weight = backend.to_numpy(sums), backend.to_numpy(weight)
    means, total = weighted_means(P.X, labels, P.w, k)
    np.testing.assert_array_equal(weight, total)  # multiples of 1/4: exact
    full = total > 0
    size = np.abs(P.X).max() + 1
    np.testing.assert_allclose(sums[full] / weight[full, None], means[full], atol=eps(1e-12) * size)
    updated = np.where(full[:, None], sums / np.where(full, weight, 1.0)[:, None], P.init)
    slack = inertia_slack(P.X, P.init, P.w, 1e-12)
    assert cost(P.X, updated, labels, P.w) <= cost(P.X, P.init, labels, P.w) + slack


# -------------------------------------------------------- one Lloyd iteration
@PROPERTY
@given(P=problems(), rows=st.integers(1, 30))
def test_one_iteration_descends_through_both_steps(backend, P, rows):
    """Update step (means, relocation) then assign step: neither raises the inertia; centres
    of clusters that kept weight are the weighted means of their members; relocated centres
    are rows of X; nothing is NaN."""
    X, C0, w = P.X, P.init, P.w
    seen = []
    result = lloyd(
        backend.asarray(X),
        backend.asarray(C0),
        backend.asarray(w),
        max_iter=1,
        tol=0.0,
        kernels=kernels_for(backend.xp),
        chunk_rows=rows,
        callback=seen.append,
    )
    (info,) = seen
    L1, C1 = backend.to_numpy(info.labels), backend.to_numpy(info.centers)
    labels, C_final = backend.to_numpy(result.labels), backend.to_numpy(result.centers)
    assert np.all(np.isfinite(C1)) and np.array_equal(C1, C_final)
    assert_labels_are_argmin(X, C0, L1, 1e-12)
    slack = inertia_slack(X, C0, w, 1e-12) + inertia_slack(X, C1, w, 1e-12)
    assert info.inertia == pytest.approx(cost(X, C0, L1, w), abs=slack)

    updated = after_update_cost(X, w, L1, C1)
    assert updated <= info.inertia + slack, "the update step raised the inertia"
    assert result.inertia <= updated + slack, "the assign step raised the inertia"
    assert result.inertia == pytest.approx(cost(X, C1, labels, w), abs=slack)
    assert_labels_are_argmin(X, C1, labels, 1e-12)

    means, total = weighted_means(X, L1, w, P.k)
    emptied = total <= 0
    if not emptied.any():
        np.testing.assert_allclose(C1, means, atol=eps(1e-12) * (np.abs(X).max() + 1))
    else:  # relocated onto rows (exact copies: the data here are not shifted by a mean), or
        # kept where no eligible row was left (the rule is tested in detail below)
        for j in np.flatnonzero(emptied):
            on_row = np.any(np.all(X == C1[j], axis=1))
            assert on_row or np.array_equal(C1[j], C0[j]), f"emptied cluster {j} went astray"


@PROPERTY
@given(
    P=problems(max_k=6),
    how=st.sampled_from(["all-equal", "far-away"]),
    rows=st.integers(1, 30),
    seed=seeds,
)
def test_empty_clusters_go_to_the_farthest_rows_and_never_nan(backend, P, how, rows, seed):
    X, w, k = P.X, P.w, P.k
    if how == "all-equal":  # every row ties: all go to cluster 0, k - 1 clusters empty
        C0 = np.repeat(X[:1], k, axis=0)
    else:  # one centre on the data, the others far outside it
        C0 = np.concatenate([X[:1], 1000.0 + P.init[1:]])
    seen = []
    lloyd(
        backend.asarray(X),
        backend.asarray(C0),
        backend.asarray(w),
        max_iter=1,
        tol=0.0,
        kernels=kernels_for(backend.xp),
        chunk_rows=rows,
        callback=seen.append,
    )
    L1, C1 = backend.to_numpy(seen[0].labels), backend.to_numpy(seen[0].centers)
    assert np.all(np.isfinite(C1))
    _, total = weighted_means(X, L1, w, k)
    emptied = np.flatnonzero(total <= 0)
    d0 = sq_distances(X, C0)[np.arange(X.shape[0]), L1]
    # only rows of positive weight off their centre can take an emptied cluster (a weightless
    # row would leave it empty, a row on its centre would duplicate that centre)
    eligible = (w > 0) & (d0 > 0)
    n_moved = min(len(emptied), int(np.count_nonzero(eligible)))
    for i, j in enumerate(emptied):
        if i < n_moved:
            # the first emptied clusters sit on the rows farthest from their centres
            threshold = np.sort(d0[eligible])[::-1][n_moved - 1]
            on = np.all(X == C1[j], axis=1) & eligible
            assert on.any(), f"emptied cluster {j} is not on an eligible row"
            assert d0[on].max() >= threshold - eps(1e-9) * (threshold + 1), "not a farthest row"
        else:  # no candidate left: the cluster keeps its centre
            np.testing.assert_array_equal(C1[j], C0[j])
    # the whole fit from the same start stays finite as well
    result = fit(backend, X, k, init=C0, sample_weight=w, random_state=seed)
    assert np.all(np.isfinite(result.centres)) and np.isfinite(result.inertia)
    assert np.all((result.labels >= 0) & (result.labels < k))


# ------------------------------------------------------------- the whole fit
@PROPERTY
@given(
    P=problems(),
    init=st.sampled_from(["array", "k-means++", "random"]),
    tol=st.sampled_from([0.0, 1e-4]),
    max_iter=st.integers(1, 40),
    seed=seeds,
)
def test_fit_inertia_never_increases_and_labels_are_an_argmin(
    backend, P, init, tol, max_iter, seed
):
    X, w = P.X, P.w
    r = fit(
        backend,
        X,
        P.k,
        init=P.init if init == "array" else init,
        n_init=1,
        sample_weight=w,
        tol=tol,
        max_iter=max_iter,
        random_state=seed,
    )
    assert len(r.steps) == r.n_iter <= max_iter
    assert np.all(np.isfinite(r.centres)) and np.isfinite(r.inertia)
    for t, step in enumerate(r.steps):
        slack = inertia_slack(X, step.centres, w)
        updated = after_update_cost(X, w, step.labels, step.centres)
        assert updated <= step.inertia + slack, f"update step {t + 1} raised the inertia"
        if t + 1 < len(r.steps):
            after = r.steps[t + 1].inertia
            assert after <= updated + slack, f"assign step {t + 2} raised the inertia"
    last = r.steps[-1]
    slack = inertia_slack(X, r.centres, w)
    assert r.inertia <= last.inertia + slack
    assert r.inertia <= after_update_cost(X, w, last.labels, last.centres) + slack
    if r.stop == STRICT:
        np.testing.assert_array_equal(r.labels, last.labels)
    np.testing.assert_array_equal(r.centres, last.centres)
    assert r.inertia == pytest.approx(cost(X, r.centres, r.labels, w), abs=slack)
    assert_labels_are_argmin(X, r.centres, r.labels)


@PROPERTY
@given(P=problems(), init=st.sampled_from(["array", "k-means++"]), seed=seeds)
@example(  # thorough-run find: a weightless cluster whose labels stop changing is not strict
    P=Problem(
        np.asarray([[0.0], [1.0], [0.0]]),
        3,
        np.asarray([[0.0], [1.0], [0.0]]),
        np.asarray([0.0, 1.0, 0.0]),
    ),
    init="array",
    seed=0,
)
def test_converged_centres_are_weighted_means_of_their_members(backend, P, init, seed):
    X, w = P.X, P.w
    r = fit(
        backend,
        X,
        P.k,
        init=P.init if init == "array" else init,
        sample_weight=w,
        tol=0.0,
        random_state=seed,
    )
    note(f"stopped: {r.stop} after {r.n_iter}")
    if r.stop == MAX_ITER:  # a cycle through exact ties; nothing to say about the means
        return
    means, total = weighted_means(X, r.labels, w, P.k)
    held = total > 0
    if r.stop == STRICT:
        assert held.all(), "strict convergence with a cluster that holds no weight"
    np.testing.assert_allclose(r.centres[held], means[held], atol=eps(1e-9) * (np.abs(X).max() + 1))


@PROPERTY
@given(P=spread_problems())
def test_converged_fit_is_a_fixed_point(backend, P):
    """One more Lloyd step changes neither labels nor centres; a refit from cluster_centers_
    stops at once with the same result."""
    X, w = P.X, P.w
    a = fit(backend, X, P.k, init=P.init, sample_weight=w, tol=0.0)
    if a.stop == MAX_ITER:
        return
    assume_decisive(X, [a.centres], w)
    size = np.abs(X).max() + 1
    step = kernels_for(backend.xp).lloyd_step(
        backend.asarray(X),
        backend.asarray(a.centres),
        backend.asarray(w),
        chunk_rows=X.shape[0],
    )
    labels, sums, weight = step.labels, step.sums, step.weights
    np.testing.assert_array_equal(backend.to_numpy(labels), a.labels)
    means = backend.to_numpy(sums) / backend.to_numpy(weight)[:, None]
    np.testing.assert_allclose(means, a.centres, rtol=0, atol=eps(1e-9) * size)

    b = fit(backend, X, P.k, init=a.centres, sample_weight=w)  # relative tol: stops at once
    assert b.n_iter == 1
    np.testing.assert_array_equal(b.labels, a.labels)
    np.testing.assert_allclose(b.centres, a.centres, rtol=0, atol=eps(1e-9) * size)
    assert b.inertia == pytest.approx(a.inertia, rel=eps(1e-9), abs=eps(1e-9) * size**2)


@PROPERTY
@given(P=spread_problems(), perm_seed=seeds)
def test_permuting_rows_permutes_labels_and_keeps_centres(backend, P, perm_seed):
    X, w = P.X, P.w
    perm = np.random.default_rng(perm_seed).permutation(X.shape[0])
    a = fit(backend, X, P.k, init=P.init, sample_weight=w, tol=TIGHT)
    assume_decisive(X, trajectory(P.init, a), w)
    b = fit(backend, X[perm], P.k, init=P.init, sample_weight=w[perm], tol=TIGHT)
    assert_same_fit(a, b, X, w, labels=a.labels[perm])


@PROPERTY
@given(P=spread_problems(), perm_seed=seeds)
def test_permuting_init_rows_relabels_consistently(backend, P, perm_seed):
    X, w = P.X, P.w
    perm = np.random.default_rng(perm_seed).permutation(P.k)
    inverse = np.argsort(perm)
    a = fit(backend, X, P.k, init=P.init, sample_weight=w, tol=TIGHT)
    assume_decisive(X, trajectory(P.init, a), w)
    b = fit(backend, X, P.k, init=P.init[perm], sample_weight=w, tol=TIGHT)
    assert_same_fit(a, b, X, w, labels=inverse[a.labels], centres=a.centres[perm])


@PROPERTY
@given(
    P=spread_problems(),
    scale=st.floats(1e-2, 1e2),
    data=st.data(),
)
def test_translation_and_positive_scaling_carry_through(backend, P, scale, data):
    X, w = P.X, P.w
    shift = data.draw(integer_matrix(1, X.shape[1], 1000))
    a = fit(backend, X, P.k, init=P.init, sample_weight=w, tol=TIGHT)
    assume_decisive(X, trajectory(P.init, a), w)
    b = fit(
        backend, scale * X + shift, P.k, init=scale * P.init + shift, sample_weight=w, tol=TIGHT
    )
    size = np.abs(X).max() + 1
    grown = (scale * size + np.abs(shift).max()) / size  # error scale of the moved data
    assert_same_fit(
        a,
        b,
        X,
        w,
        centres=scale * a.centres + shift,
        inertia=scale**2 * a.inertia,
        scale=grown,
    )


@PROPERTY
@given(P=spread_problems(max_n=16), data=st.data())
def test_integer_weights_equal_repeated_rows(backend, P, data):
    X, n = P.X, P.X.shape[0]
    counts = np.asarray(data.draw(st.lists(st.integers(1, 3), min_size=n, max_size=n)))
    a = fit(backend, X, P.k, init=P.init, sample_weight=counts.astype(float), tol=TIGHT)
    assume_decisive(X, trajectory(P.init, a), counts)
    b = fit(backend, np.repeat(X, counts, axis=0), P.k, init=P.init, tol=TIGHT)
    assert_same_fit(a, b, X, counts.astype(float), labels=np.repeat(a.labels, counts))


@PROPERTY
@given(P=spread_problems(max_n=16), seed=seeds, data=st.data())
def test_kmeans_plusplus_integer_weights_equal_repeated_rows(backend, P, seed, data):
    """Weighted draws go through cumulative weights, so a row of weight 2 is exactly two
    copies of it: on integer data (exact distances) the same seed picks the same points."""
    X, n = P.X, P.X.shape[0]
    counts = np.asarray(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    assume(np.count_nonzero(counts) >= P.k)
    a, _ = kmeans_plusplus(
        backend.asarray(X), P.k, sample_weight=backend.asarray(counts, "float64"), random_state=seed
    )
    b, _ = kmeans_plusplus(backend.asarray(np.repeat(X, counts, axis=0)), P.k, random_state=seed)
    np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(b))


@PROPERTY
@given(
    P=problems(),
    init=st.sampled_from(["array", "k-means++", "random"]),
    n_init=st.sampled_from(["auto", 1, 2]),
    constant=st.sampled_from([1.0, 0.25, 4.0]),
    seed=seeds,
)
def test_unit_weights_equal_no_weights(backend, P, init, n_init, constant, seed):
    """Unit weights, and any constant weight that is a power of two (exact), give exactly the
    fit without weights; the inertia scales with the constant."""
    X = P.X
    if init == "array":
        n_init = "auto"
    params = dict(init=P.init if init == "array" else init, n_init=n_init, random_state=seed)
    a = fit(backend, X, P.k, **params)
    b = fit(backend, X, P.k, sample_weight=np.full(X.shape[0], constant), **params)
    np.testing.assert_array_equal(b.labels, a.labels)
    np.testing.assert_array_equal(b.centres, a.centres)
    assert b.inertia == constant * a.inertia
    assert b.n_iter == a.n_iter


@PROPERTY
@given(P=problems(max_k=1), init=st.sampled_from(["array", "k-means++", "random"]), seed=seeds)
def test_one_cluster_is_the_weighted_mean(backend, P, init, seed):
    X, w = P.X, P.w
    r = fit(
        backend, X, 1, init=P.init if init == "array" else init, sample_weight=w, random_state=seed
    )
    mean = (w[:, None] * X).sum(0) / w.sum()
    size = np.abs(X).max() + 1
    np.testing.assert_allclose(r.centres[0], mean, rtol=0, atol=eps(1e-12) * size)
    np.testing.assert_array_equal(r.labels, np.zeros(X.shape[0], dtype=np.int64))
    expected = float((((X - mean) ** 2).sum(1) * w).sum())
    assert r.inertia == pytest.approx(expected, rel=eps(1e-9), abs=eps(1e-12) * size**2)


@PROPERTY
@given(
    P=spread_problems(min_n=1, max_n=8, max_k=8, bound=6),
    init=st.sampled_from(["rows", "repeated", "k-means++", "random"]),
    tol=st.sampled_from([0.0, 1e-4]),
    seed=seeds,
)
def test_as_many_clusters_as_distinct_rows_gives_zero_inertia(backend, P, init, tol, seed):
    X, w = P.X, P.w
    n = X.shape[0]
    rng = np.random.default_rng(seed)
    start = {
        "rows": X[rng.permutation(n)],
        "repeated": X[rng.integers(0, n, size=n)],  # duplicated centres: empty clusters
    }.get(init, init)
    r = fit(backend, X, n, init=start, sample_weight=w, tol=tol, random_state=seed)
    note(f"stop {r.stop} after {r.n_iter} iterations, labels {r.labels}")
    size = np.abs(X).max() + 1
    assert r.inertia == pytest.approx(0.0, abs=eps(1e-12) * size**2 * w.sum())
    np.testing.assert_array_equal(np.sort(r.labels), np.arange(n))
    np.testing.assert_allclose(r.centres[r.labels], X, rtol=0, atol=eps(1e-12) * size)


@PROPERTY
@given(P=spread_problems(), memory=st.sampled_from([None, 1e-4, 1e-5]))
def test_backends_agree_on_the_same_input_and_init(backend, P, memory):
    """Each backend (with small chunks too) against NumPy with the default chunking."""
    X, w = P.X, P.w
    a = fit(make_backend("numpy", None), X, P.k, init=P.init, sample_weight=w, tol=TIGHT)
    assume_decisive(X, trajectory(P.init, a), w)
    b = fit(backend, X, P.k, init=P.init, sample_weight=w, tol=TIGHT, working_memory=memory)
    assert_same_fit(a, b, X, w)


def test_property_suite_has_a_strategy_for_every_problem():
    """The strategies' own invariants, so that a broken strategy cannot pass silently."""

    @given(P=problems())
    @settings(max_examples=20)
    def adversarial(P: Problem):
        assert P.X.shape[0] >= P.k >= 1 and P.init.shape == (P.k, P.X.shape[1])
        assert np.all(P.w >= 0) and P.w.sum() > 0

    @given(P=spread_problems())
    @settings(max_examples=20)
    def spread(P: Problem):
        assert len(np.unique(P.X, axis=0)) == P.X.shape[0]
        assert len(np.unique(P.init, axis=0)) == P.k and np.all(P.w > 0)

    adversarial()
    spread()


def test_regression_random_init_draws_the_same_rows_for_equal_weights(backend):
    """Found by test_unit_weights_equal_no_weights: init='random' drew other rows as soon as
    sample_weight was passed, even all ones, so unit weights gave another clustering."""
    X = np.random.default_rng(0).normal(size=(50, 2))
    a = fit(backend, X, 4, init="random", n_init=1, random_state=0)
    for constant in (1.0, 3.0):
        b = fit(
            backend,
            X,
            4,
            init="random",
            n_init=1,
            random_state=0,
            sample_weight=np.full(50, constant),
        )
        np.testing.assert_array_equal(b.labels, a.labels)
        np.testing.assert_allclose(b.centres, a.centres, rtol=eps(1e-12))


def test_regression_random_init_with_fewer_weighted_rows_than_clusters(backend):
    """Found by the thorough run of test_fit_inertia_never_increases...: init='random' raised
    numpy's "Fewer non-zero entries in p than size" when fewer than k rows had weight."""
    X = np.asarray([[0.0], [1.0], [2.0], [3.0]])
    w = np.asarray([1.0, 0.0, 0.0, 2.0])
    r = fit(backend, X, 3, init="random", n_init=1, sample_weight=w, random_state=0)
    assert np.all(np.isfinite(r.centres))
    assert r.inertia == pytest.approx(0.0, abs=eps(1e-12))  # the two weighted rows have own centres
