"""The compiled loop of the fused CPU step (``numpy_fused``, ``_fused_step.c``): the same labels
as the NumPy-call path step after step, in its tiles and in the rows left after them, with or
without X transposed; its checks of what it is handed; and the package without it. Then
k-means++'s trials of candidates in the same module, against the portable ones.
(``tests/test_kernels_numpy.py`` runs every NumPy-path test with it and without it.)"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import kmeans_xp
from kmeans_xp._kernels import numpy as fast
from kmeans_xp._kernels import numpy_fused, numpy_step, numpy_threads, portable

built = pytest.mark.skipif(
    numpy_fused._fused_step is None, reason="the compiled loop is not built (no C compiler)"
)


def _data(n, d, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(dtype)
    return X, X[rng.choice(n, k, replace=False)].copy()


def _run(X, C, w, steps, fused, monkeypatch):
    """``steps`` Lloyd steps on one workspace, the centres moved to the means in between."""
    monkeypatch.setattr(numpy_fused, "ENABLED", fused)
    ws = fast.make_workspace(X, w, C.shape[0], 10**6)
    assert ws.layout.fused == fused
    out, prev = [], None
    for _ in range(steps):
        s = fast.lloyd_step(X, C, w, chunk_rows=10**6, prev_labels=prev, workspace=ws)
        out.append(s)
        C = fast.center_update(s, C)[0]
        prev = s.labels
    labels, sqdist = fast.assign(X, C, chunk_rows=10**6, workspace=ws)
    return out, labels, sqdist


@built
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
# d from 1 to 32: one to four features in the last pass of the generic loop, several passes;
# k from 1 to 32: whole groups of four clusters in a tile and the ones left over
@pytest.mark.parametrize(("d", "k"), [(1, 3), (2, 8), (3, 5), (5, 4), (16, 16), (32, 32), (9, 1)])
@pytest.mark.parametrize("weights", ["unit", "general", "some zero"])
def test_steps_match_the_numpy_call_path(dtype, d, k, weights, monkeypatch):
    monkeypatch.setattr(numpy_step, "UPDATE_MIN_ROWS", 0)
    # 2,003 rows: whole tiles and a few rows after them in the last block
    X, C = _data(2003, d, k, dtype, seed=d * k)
    rng = np.random.default_rng(1)
    w = np.ones(2003, dtype) if weights == "unit" else rng.uniform(0.5, 2, 2003).astype(dtype)
    if weights == "some zero":
        w[::5] = 0
    got, got_labels, got_sqdist = _run(X, C, w, 6, True, monkeypatch)
    ref, ref_labels, ref_sqdist = _run(X, C, w, 6, False, monkeypatch)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_array_equal(g.labels, r.labels)
        assert float(g.n_changed) == float(r.n_changed)
        np.testing.assert_allclose(g.sums, r.sums, rtol=tol, atol=tol * 100)
        np.testing.assert_allclose(g.weights, r.weights, rtol=tol)
        assert float(g.inertia) == pytest.approx(float(r.inertia), rel=tol)
    np.testing.assert_array_equal(got_labels, ref_labels)
    np.testing.assert_allclose(got_sqdist, ref_sqdist, rtol=tol * 10, atol=tol * 10 * d)


@built
def test_labels_and_exact_distances_without_a_workspace():
    """No transposed copy (``assign`` outside a run): each block is transposed as it is
    scored; the distances are the explicit sums of squares, as portable's."""
    X, C = _data(1000, 7, 6, np.float32)
    ref_labels, ref_sqdist = portable.assign(X, C, chunk_rows=300)
    layout = numpy_step.Layout(X, 6, 300)
    assert layout.fused and layout.xt is None
    labels, sqdist = numpy_step.assign(layout, C)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(sqdist, ref_sqdist, rtol=1e-5, atol=1e-5)


@built
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 2, 4, 7, 16])  # from the block's columns up to 4, else rows
def test_exact_distances_are_squares_added_in_feature_order(dtype, d):
    X, C = _data(1001, d, 5, dtype, seed=d)
    w = np.ones(1001, dtype)
    ws = fast.make_workspace(X, w, 5, 10**6)
    fast.lloyd_step(X, C, w, chunk_rows=10**6, workspace=ws)  # (fills X transposed in)
    moved = C + dtype(0.25)  # new centres: labels scored again, not the last step's
    for centres in (C, moved):
        for workspace in ({"workspace": ws}, {}):
            labels, sqdist = fast.assign(X, centres, chunk_rows=10**6, **workspace)
            diff = X - centres[labels]
            expected = np.zeros(1001, dtype)
            for j in range(d):
                expected += diff[:, j] * diff[:, j]
            np.testing.assert_array_equal(sqdist, expected)


@built
def test_threads_give_the_single_thread_results(monkeypatch):
    X, C = _data(30_001, 16, 16, np.float32, seed=3)
    w = np.ones(30_001, np.float32)
    one, one_labels, _ = _run(X, C, w, 4, True, monkeypatch)
    monkeypatch.setattr(numpy_threads, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(numpy_threads, "n_threads", lambda: 3)
    many, many_labels, _ = _run(X, C, w, 4, True, monkeypatch)
    for a, b in zip(one, many, strict=True):
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.sums, b.sums, rtol=1e-6)
    np.testing.assert_array_equal(one_labels, many_labels)


@built
def test_a_fit_gives_the_numpy_call_paths_answer(monkeypatch):
    X, _ = kmeans_xp.make_blobs(20_000, 8, centers=6, random_state=0, dtype=np.float32)
    fits = []
    for fused in (True, False):
        monkeypatch.setattr(numpy_fused, "ENABLED", fused)
        fits.append(kmeans_xp.KMeans(6, n_init=1, random_state=0).fit(X))
    np.testing.assert_array_equal(fits[0].labels_, fits[1].labels_)
    np.testing.assert_allclose(fits[0].cluster_centers_, fits[1].cluster_centers_, rtol=1e-5)
    assert fits[0].n_iter_ == fits[1].n_iter_
    assert fits[0].inertia_ == pytest.approx(fits[1].inertia_, rel=1e-6)


def _call(**changes):
    """The compiled entry point on a valid small problem, with ``changes`` to its arguments."""
    return numpy_fused._fused_step.fused_range(*_call_args(**changes).values())


def _call_args(**changes) -> dict:
    X, C = _data(40, 3, 4, np.float32)
    args = {
        "itemsize": 4,
        "k": 4,
        "d": 3,
        "ld": 40,
        "start": 0,
        "stop": 40,
        "xt": np.ascontiguousarray(X.T),
        "xt_out": None,
        "X": X,
        "minus_2_c": -2 * C,
        "c_sq": (C * C).sum(axis=1),
        "C": None,
        "w": None,
        "prev": None,
        "labels": np.zeros(40, np.int64),
        "sqdist": None,
        "sums": np.zeros((4, 3)),
        "weights": np.zeros(4),
        "counts": np.zeros(4, np.int64),
        "delta": False,
        "known": False,
    }
    args.update(changes)
    return args


@built
def test_the_compiled_loop_checks_what_it_is_handed():
    best, norms, changed = _call()
    assert np.isfinite(best) and norms == 0.0 and changed == 0
    with pytest.raises(ValueError, match="itemsize is 2, expected 4 or 8"):
        _call(itemsize=2)
    with pytest.raises(ValueError, match=r"xt holds items of format 'f' \(4 bytes\), expected"):
        _call(itemsize=8)
    with pytest.raises(ValueError, match="labels holds items of format 'd'"):
        _call(labels=np.zeros(40))
    with pytest.raises(ValueError, match=r"rows 0:41 of 40"):
        _call(stop=41)
    with pytest.raises(ValueError, match="labels holds 160 bytes, expected at least 320"):
        _call(labels=np.zeros(20, np.int64))
    with pytest.raises(ValueError, match="prev and sums with delta"):
        _call(delta=True)
    with pytest.raises(ValueError, match="C with sqdist"):
        _call(sqdist=np.zeros(40, np.float32))
    with pytest.raises((ValueError, BufferError, TypeError)):
        _call(labels=np.zeros(40, np.int64)[::-1])  # not contiguous
    with pytest.raises((ValueError, BufferError, TypeError)):
        _call(X=np.asfortranarray(_data(40, 3, 4, np.float32)[0]))
    out_of_range = np.full(40, 7, np.int64)
    with pytest.raises(ValueError, match=r"a label is outside 0\.\.3"):
        _call(prev=out_of_range, delta=True)
    with pytest.raises(ValueError, match=r"a label is outside 0\.\.3"):
        _call(labels=out_of_range, known=True, sums=None, weights=None, counts=None)
    assert (out_of_range == 7).all()  # given labels are never written


def test_without_the_compiled_module_the_numpy_calls_serve(monkeypatch):
    X, C = _data(3000, 4, 5, np.float32)
    w = np.ones(3000, np.float32)
    monkeypatch.setattr(numpy_fused, "_fused_step", None)
    assert not numpy_fused.applies(X)
    layout = numpy_step.Layout(X, 5, 10**6)
    assert layout.by_cluster and not layout.fused
    step = fast.lloyd_step(X, C, w, chunk_rows=10**6)
    np.testing.assert_array_equal(step.labels, portable.assign(X, C, chunk_rows=3000)[0])
    est = kmeans_xp.KMeans(5, n_init=1, random_state=0).fit(X)
    assert est.labels_.shape == (3000,)


def test_the_environment_switches_it_off(monkeypatch):
    try:
        monkeypatch.setenv("KMEANS_XP_FUSED", "0")
        assert importlib.reload(numpy_fused).ENABLED is False
        monkeypatch.setenv("KMEANS_XP_FUSED", "1")
        assert importlib.reload(numpy_fused).ENABLED is True
    finally:
        monkeypatch.delenv("KMEANS_XP_FUSED")
        importlib.reload(numpy_fused)


@built
def test_only_cluster_major_layouts_of_contiguous_float_arrays_take_it():
    X32 = np.zeros((100, 4), np.float32)
    assert numpy_step.Layout(X32, 5, 100).fused
    assert not numpy_step.Layout(X32, 40, 100).fused  # many clusters: by row
    assert not numpy_step.Layout(np.zeros((100, 40), np.float32), 5, 100).fused
    assert not numpy_fused.applies(np.asfortranarray(X32))
    assert not numpy_fused.applies(X32.astype(np.float16))


@built
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 2, 7, 8, 9, 16, 17, 64, 257])
@pytest.mark.parametrize("ties", [False, True])
def test_row_min_gives_argmin_and_the_second_smallest(dtype, k, ties):
    rng = np.random.default_rng(k)
    m = 300
    if ties:  # few distinct values: many rows with equal smallest scores in several lanes
        products = rng.integers(0, 3, size=(m, k)).astype(dtype)
        c_sq = rng.integers(0, 2, size=k).astype(dtype)
    else:
        products = rng.normal(size=(m, k)).astype(dtype)
        products[::5, ::2] = np.inf  # (infinities compare as argmin compares them)
        c_sq = rng.uniform(0, 3, size=k).astype(dtype)
    products[0] = np.inf  # a row of infinities: index 0, as argmin
    labels = np.empty(m, np.int64)
    best, second = np.empty(m, dtype), np.empty(m, dtype)
    numpy_fused.row_min(products, c_sq, labels, best, second)
    scores = products + c_sq  # (added as NumPy adds them: the same values)
    ref = np.argmin(scores, axis=1)
    np.testing.assert_array_equal(labels, ref)
    np.testing.assert_array_equal(best, scores[np.arange(m), ref])
    others = scores.copy()
    others[np.arange(m), ref] = np.inf
    np.testing.assert_array_equal(second, others.min(axis=1))
    numpy_fused.row_min(products, c_sq, labels)  # best and second are optional
    np.testing.assert_array_equal(labels, ref)


def test_labels_a_callback_keeps_are_never_overwritten():
    """Steps reuse the labels array of the step before last only when nothing else holds it."""
    X, _ = kmeans_xp.make_blobs(20_000, 4, centers=5, random_state=1, dtype=np.float32)
    kept, copies = [], []

    def keep(info):
        kept.append(info.labels)
        copies.append(np.array(info.labels, copy=True))

    kmeans_xp.KMeans(5, n_init=1, random_state=0, max_iter=8, tol=0, callback=keep).fit(X)
    assert len(kept) >= 4 and len({id(a) for a in kept}) == len(kept)
    for a, b in zip(kept, copies, strict=True):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------- k-means++'s seeding trials
def _trials_data(n, d, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(dtype)
    x_sq = np.vecdot(X.astype(np.float64), X.astype(np.float64))
    w = rng.uniform(0.0, 2.0, n)
    w[::7] = 0.0
    closest = rng.uniform(0.0, 3.0 * d, n).astype(dtype)
    return X, x_sq, X[rng.choice(n, m, replace=False)], closest, w


@built
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
# d: below, at and past whole groups of four features; m: whole groups of four candidates
# and the ones left over; n odd (a last row without its pair) and past one block of rows
@pytest.mark.parametrize(("n", "d", "m"), [(301, 1, 1), (2003, 2, 3), (700, 4, 4), (517, 17, 7)])
@pytest.mark.parametrize("first", [False, True])
def test_seeding_trials_match_the_portable_ones(dtype, n, d, m, first):
    X, x_sq, C, closest, w = _trials_data(n, d, m, dtype, seed=n + d + m)
    closest = None if first else closest
    got, got_dist = numpy_fused.seeding_trials(X, x_sq, C, closest, w, keep=True)
    ref, ref_dist = portable.seeding_trials(
        X.astype(np.float64), x_sq, C, closest, w, chunk_rows=256, keep=True
    )
    assert got.dtype == np.float64 and got_dist.dtype == dtype and got_dist.shape == (m, n)
    np.testing.assert_allclose(got, ref, rtol=1e-13)
    # each distance from float64 values that agree to rounding, then rounded to X's dtype
    np.testing.assert_allclose(got_dist, ref_dist, rtol=1e-6, atol=1e-10 * d)
    assert np.all(got_dist >= 0)
    if closest is not None:
        assert np.all(got_dist <= closest)
    assert numpy_fused.seeding_trials(X, x_sq, C, closest, w, keep=False)[1] is None


@built
def test_seeding_trials_on_threads_give_the_one_thread_results(monkeypatch):
    X, x_sq, C, closest, w = _trials_data(40_001, 16, 6, np.float32)
    monkeypatch.setattr(numpy_threads, "THREADS", 1)
    one, one_dist = numpy_fused.seeding_trials(X, x_sq, C, closest, w, keep=True)
    monkeypatch.setattr(numpy_threads, "THREADS", 3)
    assert len(numpy_threads.row_ranges(40_001, 6, 16)) == 3
    three, three_dist = numpy_fused.seeding_trials(X, x_sq, C, closest, w, keep=True)
    np.testing.assert_array_equal(three_dist, one_dist)
    np.testing.assert_allclose(three, one, rtol=1e-14)


@built
def test_float32_seeding_trials_are_the_same_in_the_plain_build():
    """The products of floats are exact in double: the AVX2 build's fused multiply-adds give
    the plain build's values, bit for bit (in the plain build this compares it with itself)."""
    X, x_sq, C, closest, w = _trials_data(999, 13, 5, np.float32)
    got, dist = numpy_fused.seeding_trials(X, x_sq, C, closest, w, keep=True)
    # the plain build's sums written out: four lanes, (0 + 1) + (2 + 3), then the tail
    Xd, Cd = X.astype(np.float64), C.astype(np.float64)
    lanes = np.zeros((999, 5, 4))
    for f in range(0, 12, 4):
        for lane in range(4):
            lanes[:, :, lane] += Xd[:, None, f + lane] * Cd[None, :, f + lane]
    dots = (lanes[:, :, 0] + lanes[:, :, 1]) + (lanes[:, :, 2] + lanes[:, :, 3])
    dots += Xd[:, None, 12] * Cd[None, :, 12]
    c_sq = np.vecdot(Cd, Cd)
    s = np.maximum(x_sq[:, None] - 2.0 * dots + c_sq, 0.0)
    s = np.minimum(s, closest[:, None].astype(np.float64))
    np.testing.assert_array_equal(dist, s.T.astype(np.float32))
    np.testing.assert_allclose(got, w @ s, rtol=1e-13)


def _seed_call(**changes):
    return numpy_fused._fused_step.seeding_trials(*_seed_call_args(**changes).values())


def _seed_call_args(**changes) -> dict:
    X, x_sq, C, closest, w = _trials_data(40, 3, 2, np.float32)
    args = dict(itemsize=4, m=2, d=3, n=40, start=0, stop=40, X=X, x_sq=x_sq, C=C,
                c_sq=np.vecdot(C, C).astype(np.float64), closest=closest, w=w,
                dist=np.zeros((2, 40), np.float32), potentials=np.zeros(2))  # fmt: skip
    args.update(changes)
    return args


@built
def test_the_seeding_trials_check_what_they_are_handed():
    _seed_call()
    with pytest.raises(ValueError, match="itemsize=2"):
        _seed_call(itemsize=2)
    with pytest.raises(ValueError, match=r"rows 0:41 of 40"):
        _seed_call(stop=41)
    with pytest.raises(ValueError, match="x_sq holds items of format 'f'"):
        _seed_call(x_sq=np.zeros(40, np.float32))
    with pytest.raises(ValueError, match="dist holds 160 bytes, expected at least 320"):
        _seed_call(dist=np.zeros(40, np.float32))
    with pytest.raises((ValueError, BufferError, TypeError)):
        _seed_call(potentials=np.zeros(4)[::2])  # not contiguous
    with pytest.raises(TypeError):  # the weights are required
        _seed_call(w=None)
    _seed_call(closest=None, dist=None)  # (before the first centre; minima not kept)


@built
def test_k_means_plus_plus_draws_the_same_rows_with_the_loop_off(monkeypatch):
    X, _ = kmeans_xp.make_blobs(5000, 8, centers=40, random_state=3, dtype=np.float32)
    got = kmeans_xp.kmeans_plusplus(X, 40, random_state=0)[1]
    monkeypatch.setattr(numpy_fused, "ENABLED", False)
    np.testing.assert_array_equal(kmeans_xp.kmeans_plusplus(X, 40, random_state=0)[1], got)


# ---------------------------------------------------------------- the module's own threads


def _fit_labels(X, k=16):
    return kmeans_xp.KMeans(k, n_init=1, max_iter=8, tol=0.0, random_state=0).fit(X).labels_


def _threads(monkeypatch, n):
    monkeypatch.setattr(numpy_threads, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(numpy_threads, "n_threads", lambda: n)


@built
def test_a_batch_gives_each_call_its_own_result():
    calls = [tuple(_seed_call_args(start=s, stop=s + 10).values()) for s in range(0, 40, 10)]
    assert numpy_fused._fused_step.seeding_ranges(4, calls) == [None] * 4
    one = [np.zeros(2) for _ in calls]
    for call, potentials in zip(calls, one, strict=True):
        numpy_fused._fused_step.seeding_trials(*call[:-1], potentials)
    for call, potentials in zip(calls, one, strict=True):
        np.testing.assert_array_equal(call[-1], potentials)


@built
def test_a_batch_with_a_bad_call_raises_and_holds_no_buffer():
    import sys

    good = tuple(_seed_call_args().values())
    bad = tuple(_seed_call_args(stop=41).values())
    arrays = [a for a in good if isinstance(a, np.ndarray)]
    held = [sys.getrefcount(a) for a in arrays]  # (a buffer taken holds a reference)
    for calls in ([good, bad, good], [bad, good]):
        with pytest.raises(ValueError, match=r"rows 0:41 of 40"):
            numpy_fused._fused_step.seeding_ranges(2, calls)
    assert [sys.getrefcount(a) for a in arrays] == held
    with pytest.raises(TypeError, match="calls: expected a list of argument tuples"):
        numpy_fused._fused_step.fused_ranges(2, 3)
    out_of_range = np.full(40, 7, np.int64)
    fine = tuple(_call_args().values())
    wrong = tuple(_call_args(prev=out_of_range, delta=True).values())
    with pytest.raises(ValueError, match=r"a label is outside 0\.\.3"):
        numpy_fused._fused_step.fused_ranges(2, [fine, wrong, fine])


@built
def test_threads_of_the_module_give_the_one_thread_labels(monkeypatch):
    X, _ = kmeans_xp.make_blobs(20_000, 16, centers=16, random_state=0, dtype=np.float32)
    _threads(monkeypatch, 1)
    one = _fit_labels(X)
    for n in (2, 5):
        _threads(monkeypatch, n)
        np.testing.assert_array_equal(_fit_labels(X), one)
    # where the module has no threads of its own (Windows), numpy_threads' workers serve
    monkeypatch.setattr(numpy_fused, "_fused_step", _WithoutPool(numpy_fused._fused_step))
    np.testing.assert_array_equal(_fit_labels(X), one)


class _WithoutPool:
    """The compiled module as it is built without threads of its own."""

    POOL = 0

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        if name.endswith("_ranges"):  # (there, they run their calls one after another)

            def serial(*args):
                raise AssertionError(f"{name} called without a pool")

            return serial
        return getattr(self._module, name)


@built
def test_fits_on_several_python_threads_at_once_give_their_own_labels(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    _threads(monkeypatch, 2)
    data = [
        kmeans_xp.make_blobs(20_000, 16, centers=16, random_state=s, dtype=np.float32)[0]
        for s in range(4)
    ]
    alone = [_fit_labels(X) for X in data]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(_fit_labels, data * 2))
    for got, expected in zip(together, alone * 2, strict=True):
        np.testing.assert_array_equal(got, expected)


_FORKED = """
import multiprocessing as mp, numpy as np, kmeans_xp
from kmeans_xp._kernels import numpy_threads
numpy_threads.PARALLEL_MIN_WORK = 0
X = kmeans_xp.make_blobs(20_000, 16, centers=16, random_state=0, dtype=np.float32)[0]
def labels(_=None):
    return kmeans_xp.KMeans(16, n_init=1, max_iter=8, tol=0.0, random_state=0).fit(X).labels_
parent = labels()  # (the module's threads started in the parent)
with mp.get_context("fork").Pool(2) as pool:
    children = pool.map(labels, range(2))
assert all((c == parent).all() for c in children)
print("ok")
"""


@built
@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_a_forked_child_starts_threads_of_its_own():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _FORKED], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
