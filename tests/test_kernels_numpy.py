"""The NumPy fast paths against the portable kernels, on each of their code paths: scores by
cluster or by row, one-hot or bincount sums, one thread or several, unit or general weights,
ties between centres, the row norms and sums kept from one step to the next. Every test runs
twice: cluster-major steps through the compiled loop (``numpy_fused``) and through NumPy
calls."""

from __future__ import annotations

import numpy as np
import pytest

from kmeans_xp._kernels import numpy as fast
from kmeans_xp._kernels import (
    numpy_blocks,
    numpy_bounds,
    numpy_fused,
    numpy_pool,
    numpy_step,
    numpy_threads,
    portable,
)


@pytest.fixture(autouse=True, params=["fused", "numpy-calls"])
def step_kind(request, monkeypatch):
    fused = request.param == "fused"
    if fused and numpy_fused._fused_step is None:
        pytest.skip("the compiled loop is not built (no C compiler at install)")
    monkeypatch.setattr(numpy_fused, "ENABLED", fused)
    return request.param


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

    step = fast.lloyd_step(X, C, w, chunk_rows=rows)
    labels, sqdist, sums, weights = step.labels, step.sqdist, step.sums, step.weights
    assert labels.dtype == np.int64 and sums.dtype == X.dtype and weights.dtype == X.dtype
    np.testing.assert_array_equal(labels, ref_labels)
    scale = float(np.abs(X).max()) ** 2 * X.shape[1]
    # cluster-major steps compute no per-row distances, only their weighted sum
    assert (sqdist is None) == (k <= numpy_step.SMALL_K and X.shape[1] <= numpy_step.SMALL_D)
    if sqdist is not None:
        np.testing.assert_allclose(sqdist, ref_sqdist, rtol=tol * 10, atol=tol * 10 * scale)
    ref_inertia = float(np.dot(ref_sqdist.astype(np.float64), w))
    assert float(step.inertia) == pytest.approx(ref_inertia, rel=tol * 10, abs=tol * scale)
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
def test_ties_go_to_the_first_center(d, k):
    X, C, w = _data(500, d, k, np.float64, ties=True)
    _check_against_portable(X, C, w, rows=64)


def test_threads_give_the_single_thread_results(monkeypatch):
    X, C, w = _data(20_000, 4, 8, np.float32, seed=5)
    one = fast.lloyd_step(X, C, w, chunk_rows=700)
    monkeypatch.setattr(numpy_threads, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(numpy_threads, "n_threads", lambda: 3)
    assert len(numpy_step.Layout(X, C.shape[0], 700).ranges) == 3
    many = fast.lloyd_step(X, C, w, chunk_rows=700)
    np.testing.assert_array_equal(many.labels, one.labels)
    assert float(many.inertia) == pytest.approx(float(one.inertia), rel=1e-6)
    np.testing.assert_allclose(many.sums, one.sums, rtol=1e-6)
    np.testing.assert_allclose(many.weights, one.weights, rtol=1e-6)


def _record_paths(monkeypatch) -> list:
    """The path of every later NumPy step, in order."""
    paths, choose = [], numpy_step.choose_path
    monkeypatch.setattr(numpy_step, "choose_path", lambda *a: paths.append(choose(*a)) or paths[-1])
    return paths


def _steps(step, X, C0, w, n_steps, rows, **kw):
    """``n_steps`` Lloyd steps of ``step`` from C0, each handed the previous one's labels (and
    the run's workspace in ``kw``); the centres move to the means (clusters without weight keep
    theirs)."""
    C, prev, out = C0, None, []
    for _ in range(n_steps):
        s = step(X, C, w, chunk_rows=rows, prev_labels=None if prev is None else prev.labels, **kw)
        out.append(s)
        nonempty = s.weights > 0
        C = np.where(nonempty[:, None], s.sums / np.where(nonempty, s.weights, 1)[:, None], C)
        prev = s
    return out


# one-hot and bincount sums; by cluster (scores for every row) and by row (with bounds)
@pytest.mark.parametrize(("d", "k"), [(3, 6), (40, 5), (6, 40), (40, 1)])
@pytest.mark.parametrize("weights", ["unit", "general", "some zero"])
@pytest.mark.parametrize("threads", [1, 3])
def test_updated_sums_follow_the_full_ones_step_after_step(d, k, weights, threads, monkeypatch):
    monkeypatch.setattr(numpy_step, "UPDATE_MAX_CHANGED", 1.0)  # update after every first step
    monkeypatch.setattr(numpy_step, "UPDATE_MIN_ROWS", 0)
    monkeypatch.setattr(numpy_blocks, "MOVES_CHUNK_BYTES", 2000)  # (many clusters) moves in chunks
    if threads > 1:
        monkeypatch.setattr(numpy_threads, "PARALLEL_MIN_WORK", 0)
        monkeypatch.setattr(numpy_threads, "n_threads", lambda: threads)
    X, C, w = _data(3000, d, k, np.float64, seed=d * k)
    if weights == "unit":
        w = np.ones_like(w)
    elif weights == "some zero":
        w[::4] = 0.0
    if k > 1:
        C[-1] = 1e3  # far from every row: this cluster is empty from the first step on
    ws = fast.make_workspace(X, w, k, 257)
    paths = _record_paths(monkeypatch)
    fast_steps = _steps(fast.lloyd_step, X, C, w, 8, rows=257, workspace=ws)
    ref_steps = _steps(portable.lloyd_step, X, C, w, 8, rows=257)
    # every path of the layout, each checked below against portable
    if d <= numpy_step.SMALL_D and k <= numpy_step.SMALL_K:
        assert paths == [numpy_step.BY_CLUSTER] + [numpy_step.BY_CLUSTER_UPDATE] * 7
    else:
        assert paths == [numpy_step.BY_ROW, numpy_step.BY_ROW_UPDATE] + [numpy_step.BOUNDED] * 6
    for got, ref in zip(fast_steps, ref_steps, strict=True):
        np.testing.assert_array_equal(got.labels, ref.labels)
        np.testing.assert_allclose(got.sums, ref.sums, rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(got.weights, ref.weights, rtol=1e-10, atol=1e-9)
        assert float(got.n_changed) == float(ref.n_changed)
        assert float(got.inertia) == pytest.approx(float(ref.inertia), rel=1e-9)
        # an empty cluster has sums and weight exactly zero, however the updates rounded
        assert k == 1 or (got.weights[-1] == 0.0 and not got.sums[-1].any())
    assert 0 < float(fast_steps[2].n_changed) < X.shape[0] or k == 1  # updates exercised
    if paths[-1] == numpy_step.BOUNDED:  # rows proved settled not scored: no distances
        assert fast_steps[-1].sqdist is None and ws.last.bounds.used


@pytest.mark.parametrize("k", [4, 40])
def test_a_cluster_emptied_by_the_update_is_exactly_empty(k, monkeypatch):
    monkeypatch.setattr(numpy_step, "UPDATE_MAX_CHANGED", 1.0)
    monkeypatch.setattr(numpy_step, "UPDATE_MIN_ROWS", 0)
    X, C, w = _data(5000, 3, k, np.float64, seed=k)
    ws = fast.make_workspace(X, w, k, 500)
    first = fast.lloyd_step(X, C, w, chunk_rows=500, workspace=ws)
    assert (first.weights > 0).all()
    C2 = C.copy()
    C2[1] = 1e6  # every row of cluster 1 leaves it
    step = fast.lloyd_step(X, C2, w, chunk_rows=500, prev_labels=first.labels, workspace=ws)
    assert step.weights[1] == 0.0 and not step.sums[1].any()
    ref = portable.lloyd_step(X, C2, w, chunk_rows=500)
    np.testing.assert_allclose(step.sums, ref.sums, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("empty", [False, True])
def test_center_update_matches_portable(empty):
    X, C, w = _data(3000, 5, 6, np.float32, seed=12)
    if empty:
        C[2] = 1e4  # no row is nearest: cluster 2 is empty and keeps its centre
    step = fast.lloyd_step(X, C, w, chunk_rows=400)
    new, stats = fast.center_update(step, C)
    ref_new, ref_stats = portable.center_update(step, C)
    assert new.dtype == C.dtype and stats.dtype == np.float64
    np.testing.assert_array_equal(new, ref_new)
    np.testing.assert_allclose(stats, ref_stats, rtol=1e-12)
    assert stats[1] == (1.0 if empty else 0.0)
    assert (new[2] == C[2]).all() == empty


def _how_assign_labels(monkeypatch) -> list:
    """How every later assignment found its labels: "known" (the last step's, no scores),
    "bounded" (the last step's where its bounds keep them) or "scored"."""
    seen = []
    plan = numpy_step.assignment_plan

    def recorded(layout, centers, last):
        known, prev, bounds = plan(layout, centers, last)
        seen.append("known" if known else "bounded" if bounds is not None else "scored")
        return known, prev, bounds

    monkeypatch.setattr(numpy_step, "assignment_plan", recorded)
    return seen


@pytest.mark.parametrize(("d", "k"), [(3, 6), (40, 5)])
def test_assign_after_a_step_on_the_same_centers_reuses_its_labels(d, k, monkeypatch):
    X, C, w = _data(3000, d, k, np.float32, seed=d + k)
    ws = fast.make_workspace(X, w, k, 700)
    fast.lloyd_step(X, C, w, chunk_rows=700, workspace=ws)
    seen = _how_assign_labels(monkeypatch)
    for centers, how in [(C.copy(), "known"), (C + np.float32(1e-3), "scored")]:
        labels, sqdist = fast.assign(X, centers, chunk_rows=700, workspace=ws)
        assert seen.pop() == how
        ref_labels, ref_sqdist = portable.assign(X, centers, chunk_rows=700)
        np.testing.assert_array_equal(labels, ref_labels)
        np.testing.assert_allclose(sqdist, ref_sqdist, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("d", "k"), [(40, 5), (6, 40)])
@pytest.mark.parametrize("whole", [0.0, 2.0])  # blocks scored whole, or only their open rows
def test_assign_after_a_bounded_step_gives_the_labels_of_scoring(d, k, whole, dtype, monkeypatch):
    # rows its bounds keep are proven nearer by more than the scores' rounding: the labels and
    # distances of scoring every row, whether the blocks are scored whole or their open rows
    monkeypatch.setattr(numpy_step, "UPDATE_MAX_CHANGED", 1.0)
    monkeypatch.setattr(numpy_step, "UPDATE_MIN_ROWS", 0)
    monkeypatch.setattr(numpy_bounds, "WHOLE_BLOCK_OPEN", whole)
    X, C, w = _data(3000, d, k, dtype, seed=3)
    ws = fast.make_workspace(X, w, k, 500)
    steps = _steps(fast.lloyd_step, X, C, w, 4, rows=500, workspace=ws)
    assert steps[-1].sqdist is None  # (a bounded step)
    nonempty = steps[-1].weights > 0
    means = steps[-1].sums / np.where(nonempty, steps[-1].weights, 1)[:, None]
    seen = _how_assign_labels(monkeypatch)
    for centers in [ws.last.scored, np.where(nonempty[:, None], means, ws.last.scored)]:
        labels, sqdist = fast.assign(X, centers, chunk_rows=500, workspace=ws)
        assert seen.pop() == "bounded"
        ref_labels, ref_sqdist = fast.assign(X, centers, chunk_rows=500)
        np.testing.assert_array_equal(labels, ref_labels)
        np.testing.assert_array_equal(sqdist, ref_sqdist)


def test_bounds_open_every_row_they_do_not_prove_by_more_than_the_rounding():
    C = _data(10, 8, 3, np.float64)[1]
    c_sq = np.sum(C * C, axis=1)
    bounds = numpy_bounds.Bounds(5, C, c_sq, 8, np.float64, None, None)
    x_sq = np.full(5, 4.0)
    twice = 2.0 * bounds.coef * (4.0 + bounds.c_max)  # twice the rounding, squared units
    upper = np.full(5, 2.0)
    # lower^2 - upper^2: above twice the rounding, below it, negative; then lower below 0
    lower = np.sqrt(4.0 + np.array([2 * twice, 0.9 * twice, 0.1 * twice, -1.0, 0.0]))
    lower[4] = -1.0
    np.testing.assert_array_equal(bounds.open_rows(upper, lower, x_sq), [1, 2, 3, 4])
    assert lower[4] == 0.0  # (clamped: a distance is never negative)


def test_the_transposed_copy_is_exact():
    # made by a product with the identity (quicker than a strided copy): it must copy exactly
    X, C, w = _data(5000, 7, 5, np.float32, seed=4)
    X[::7, 3] = np.float32(3e-39)  # subnormal values too
    ws = fast.make_workspace(X, w, 5, 1000)
    fast.lloyd_step(X, C, w, chunk_rows=1000, workspace=ws)
    xt = ws.layout.xt
    np.testing.assert_array_equal(xt[:7], X.T)
    if ws.layout.fused:  # (the compiled loop adds ||c||^2 itself: no row of ones)
        assert xt.shape == (7, 5000)
    else:
        assert (xt[7] == 1.0).all()


def test_threads_get_equal_shares_in_equal_blocks(monkeypatch):
    monkeypatch.setattr(numpy_threads, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(numpy_threads, "n_threads", lambda: 2)
    X = _data(100_000, 16, 16, np.float32)[0]
    p = numpy_step.Layout(X, 16, 10**7)
    lengths = [stop - start for start, stop in p.ranges]
    assert len(lengths) == 2 and max(lengths) - min(lengths) <= 1 and sum(lengths) == 100_000
    start, stop = p.ranges[0]
    m = p.block_rows(start, stop)
    blocks = -(-(stop - start) // m)
    assert m <= p.rows and blocks * m - (stop - start) < blocks  # the last block is not short


def _grid(n, d, dtype, seed=0):
    """Integer-grid rows, centred as the fit centres them: many rows are at exactly equal
    distances from two centres, and only the rounding of the scores decides between them."""
    X = np.random.default_rng(seed).integers(0, 4, size=(n, d)).astype(np.float64)
    return (X - X.mean(axis=0)).astype(dtype)


# (d, k) for each layout: cluster-major; row-major with one-hot sums; row-major with bincount
# sums and bounds from the second step on
@pytest.mark.parametrize(("d", "k"), [(2, 5), (3, 12), (40, 5), (3, 40), (6, 60)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_path_breaks_ties_as_portable(d, k, dtype, monkeypatch):
    monkeypatch.setattr(numpy_step, "UPDATE_MAX_CHANGED", 1.0)
    monkeypatch.setattr(numpy_step, "UPDATE_MIN_ROWS", 0)
    X = _grid(4000, d, dtype)
    # distinct rows (duplicate centres: the next test; BLAS may round a copy in another column
    # of the product differently, so portable's choice between copies is not the reference)
    _, first = np.unique(X, axis=0, return_index=True)
    C = X[np.sort(first)[:k]].copy()
    w = np.ones(X.shape[0], dtype=dtype)
    ws = fast.make_workspace(X, w, k, 600)
    paths = _record_paths(monkeypatch)
    fast_steps = _steps(fast.lloyd_step, X, C, w, 5, rows=600, workspace=ws)
    ref_steps = _steps(portable.lloyd_step, X, C, w, 5, rows=600)
    assert len(set(paths)) == 2 if numpy_step.Layout(X, k, 600).by_cluster else 3
    for got, ref in zip(fast_steps, ref_steps, strict=True):
        np.testing.assert_array_equal(got.labels, ref.labels)
    # the last assignment (X transposed, or the row norms, of the run) as well
    labels, _ = fast.assign(X, ws.last.scored, chunk_rows=600, workspace=ws)
    np.testing.assert_array_equal(labels, portable.assign(X, ws.last.scored, chunk_rows=600)[0])


@pytest.mark.parametrize(("d", "k"), [(2, 5), (2, 40), (3, 40), (40, 6), (40, 40)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_duplicate_centers_go_to_the_first_copy(d, k, dtype, monkeypatch):
    monkeypatch.setattr(numpy_step, "UPDATE_MAX_CHANGED", 1.0)
    monkeypatch.setattr(numpy_step, "UPDATE_MIN_ROWS", 0)
    X = _grid(4000, d, dtype, seed=k)
    C = X[:k].copy()  # the grid's few points repeat
    C[k - 1] = C[0]  # the last column of a product is often computed by other code
    first = np.unique(C, axis=0, return_index=True, return_inverse=True)
    first_copy = first[1][first[2].reshape(-1)]  # each centre's first copy
    later = np.flatnonzero(first_copy != np.arange(k))
    w = np.ones(X.shape[0], dtype=dtype)
    ws = fast.make_workspace(X, w, k, 700)
    got = fast.lloyd_step(X, C, w, chunk_rows=700, workspace=ws)
    assert not np.isin(got.labels, later).any()
    assert (got.weights[later] == 0.0).all()
    # portable's choice among distinct centres, moved to the first copy of its centre
    ref_labels, _ = portable.assign(X, C, chunk_rows=700)
    np.testing.assert_array_equal(got.labels, first_copy[ref_labels])
    labels, _ = fast.assign(X, C, chunk_rows=700)
    np.testing.assert_array_equal(labels, got.labels)


def test_the_integer_grid_fit_gives_scikit_learns_answer():
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    from kmeans_xp import KMeans

    X = np.random.default_rng(0).integers(0, 4, size=(5000, 2)).astype(float)
    est = KMeans(5, init=X[:5]).fit(X)
    ref = sklearn_cluster.KMeans(5, init=X[:5], n_init=1).fit(X)
    assert est.inertia_ == pytest.approx(2198.01, abs=0.01) and est.n_iter_ == 3
    np.testing.assert_array_equal(est.labels_, ref.labels_)


def test_a_duplicate_center_scores_the_largest_float_whatever_the_product_rounds():
    # the rule holds by construction, not by BLAS rounding both copies alike
    X, C, _ = _data(100, 3, 6, np.float32, seed=2)
    C[4] = C[1]
    C[5] = C[1]
    for by_cluster in (False, True):
        centers = numpy_blocks.Centers(C, X.dtype, by_cluster)
        assert centers.duplicates
        big = np.finfo(np.float32).max
        assert (centers.c_sq[4:] == big).all() and not centers.minus_2_c[4:].any()
        assert (centers.c_sq[:4] == (C[:4] * C[:4]).sum(1)).all()
    assert not numpy_blocks.Centers(C[:4], X.dtype).duplicates


def test_layouts_give_their_work_arrays_back_for_the_next_run(monkeypatch):
    monkeypatch.setattr(numpy_pool, "_free", {})
    monkeypatch.setattr(numpy_pool, "_held", 0)
    X, C, w = _data(3000, 40, 5, np.float32)  # row-major: blocks' buffers and row norms
    first = numpy_step.Layout(X, 5, 1000)
    other = numpy_step.Layout(X, 5, 1000)  # alive at once: arrays of its own
    taken = [first.buffers(*first.ranges[0]), first.work_array("x_sq", (3000,))]
    assert other.buffers(*other.ranges[0]) is not taken[0]
    assert other.work_array("x_sq", (3000,)) is not taken[1]
    del first
    again = numpy_step.Layout(X, 5, 1000)
    assert again.buffers(*again.ranges[0]) is taken[0]
    assert again.work_array("x_sq", (3000,)) is taken[1]
    assert numpy_step.Layout(X, 5, 1000).work_array("x_sq", (3000,)) is not taken[1]
    # a step on arrays of an earlier run gives what a step on fresh ones gives
    del again, other
    ws = fast.make_workspace(X, w, 5, 1000)
    step = fast.lloyd_step(X, C, w, chunk_rows=1000, workspace=ws)
    reference = fast.lloyd_step(X, C, w, chunk_rows=1000)
    np.testing.assert_array_equal(step.labels, reference.labels)
    np.testing.assert_array_equal(step.sums, reference.sums)


def test_the_pool_keeps_at_most_its_bytes(monkeypatch):
    monkeypatch.setattr(numpy_pool, "_free", {})
    monkeypatch.setattr(numpy_pool, "_held", 0)
    monkeypatch.setattr(numpy_pool, "MAX_BYTES", 600)
    a, b = np.empty(100, np.float32), np.empty(100, np.float32)
    numpy_pool.give_back([("a", a)])
    numpy_pool.give_back([("b", b)])  # 800 bytes in all: a is dropped to keep b
    assert numpy_pool._held == 400
    assert numpy_pool.take("a", lambda: "made") == "made"
    assert numpy_pool.take("b", lambda: "made") is b and numpy_pool._held == 0
    numpy_pool.give_back([("big", np.empty(200, np.float32))])  # more than the pool holds
    assert numpy_pool._held == 0
