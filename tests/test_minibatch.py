"""MiniBatchKMeans: scikit-learn's step and schedule, every backend, streaming sources and the
overlapped batch copies (their CPU-visible logic), partial_fit keeping the centres' library."""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest

from kmeans_xp import KMeans, MiniBatchInfo, MiniBatchKMeans, iter_batches, make_blobs
from kmeans_xp._chunked import mean_column_variance
from kmeans_xp._kernels import kernels_for
from kmeans_xp._minibatch import _batch_sampler
from kmeans_xp._minibatch_step import (
    EarlyStopping,
    clusters_to_reassign,
    minibatch_step,
    numpy_step,
    reassign,
)
from kmeans_xp._streaming import BatchStream, Target, _PlainCopy, copier_for, rows_of
from kmeans_xp._xp import compat_namespace

sklearn_cluster = pytest.importorskip("sklearn.cluster")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


def blobs(n=600, d=3, k=4, seed=0):
    X, y = make_blobs(n, d, centers=k, random_state=seed)
    return np.asarray(X), np.asarray(y)


def numpy_target(dtype=np.float64):
    return Target(compat_namespace(np), "cpu", dtype)


# ------------------------------------------------------------ scikit-learn's step
def test_partial_fit_steps_match_scikit_learn_exactly():
    X, _ = blobs(900, 4, 5)
    init = X[:5].copy()
    ours = MiniBatchKMeans(5, init=init, n_init=1, reassignment_ratio=0.0)
    ref = sklearn_cluster.MiniBatchKMeans(5, init=init, n_init=1, reassignment_ratio=0.0)
    rng = np.random.default_rng(1)
    for start in range(0, 900, 150):
        w = rng.uniform(0.5, 2.0, size=150)
        ours.partial_fit(X[start : start + 150], sample_weight=w)
        ref.partial_fit(X[start : start + 150], sample_weight=w)
        np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-12)
        np.testing.assert_allclose(ours._counts, ref._counts, rtol=1e-12)
        np.testing.assert_array_equal(ours.labels_, ref.labels_)
        assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-12)
    assert ours.n_steps_ == ref.n_steps_ == 6


def test_step_is_the_count_weighted_mean_of_everything_absorbed():
    X = np.array([[0.0], [1.0], [10.0], [12.0]])
    w = np.array([1.0, 3.0, 1.0, 1.0])
    centers = np.array([[0.5], [11.0]])
    counts = np.array([2.0, 0.0])
    new, new_counts, inertia, labels = minibatch_step(
        X, w, centers, counts, kernels=kernels_for(compat_namespace(np)), chunk_rows=4
    )
    np.testing.assert_array_equal(labels, [0, 0, 1, 1])
    # cluster 0: (0.5 * 2 + 0 * 1 + 1 * 3) / (2 + 4); cluster 1: the mean of 10 and 12
    np.testing.assert_allclose(new, [[4.0 / 6.0], [11.0]])
    np.testing.assert_allclose(new_counts, [6.0, 2.0])
    assert float(inertia) == pytest.approx(0.25 + 3 * 0.25 + 1 + 1)


def test_a_cluster_the_batch_misses_keeps_its_centre_and_count():
    X = np.array([[0.0, 0.0], [0.0, 1.0]])
    centers = np.array([[0.0, 0.0], [100.0, 100.0]])
    counts = np.array([1.0, 7.0])
    new, new_counts, _, _ = minibatch_step(
        X, np.ones(2), centers, counts, kernels=kernels_for(compat_namespace(np)), chunk_rows=2
    )
    np.testing.assert_array_equal(new[1], centers[1])
    assert new_counts[1] == 7.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_step_is_the_kernels_step(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 6)).astype(dtype)
    w = rng.uniform(0.5, 2, size=500).astype(dtype)
    C = X[:7].copy()
    counts = rng.integers(0, 30, size=7).astype(dtype)
    kernels = kernels_for(compat_namespace(np))
    # chunks shorter than the batch: the engine's kernels; the whole batch: numpy_step
    generic = minibatch_step(X, w, C, counts, kernels=kernels, chunk_rows=64)
    fast = numpy_step(X, w, C, counts)
    np.testing.assert_array_equal(fast[3], generic[3])
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(fast[:3], generic[:3], strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol)
    assert fast[0].dtype == fast[1].dtype == dtype


def sklearn_to_reassign(counts, ratio, batch_rows):
    """scikit-learn's selection, as written in ``_mini_batch_step``."""
    to_reassign = counts < ratio * counts.max()
    if to_reassign.sum() > 0.5 * batch_rows:
        indices_dont_reassign = np.argsort(counts, kind="stable")[int(0.5 * batch_rows) :]
        to_reassign[indices_dont_reassign] = False
    return to_reassign


@pytest.mark.parametrize("seed", range(20))
def test_reassignment_selection_is_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 50, size=12).astype(float)
    ratio = rng.choice([0.01, 0.3, 1.0])
    rows = int(rng.integers(1, 30))
    np.testing.assert_array_equal(
        clusters_to_reassign(counts, ratio, rows), sklearn_to_reassign(counts, ratio, rows)
    )


def test_reassigned_clusters_move_to_batch_rows_and_get_the_smallest_other_count():
    X = np.arange(20.0).reshape(10, 2)
    centers = np.array([[0.0, 0.0], [5.0, 5.0], [9.0, 9.0]])
    counts = np.array([100.0, 0.5, 40.0])
    new, new_counts, moved = reassign(X, centers, counts, 0.01, np.random.default_rng(0))
    assert moved == 1
    assert any(np.array_equal(new[1], row) for row in X)
    np.testing.assert_array_equal(new[[0, 2]], centers[[0, 2]])
    np.testing.assert_array_equal(new_counts, [100.0, 40.0, 40.0])
    assert counts[1] == 0.5  # the caller's counts are not modified


def test_tol_is_relative_to_scikit_learns_column_variance(backend):
    X, _ = blobs(300, 3, 3)
    X = X + 1000.0  # a large mean: chunks merged naively would lose the variance
    target = Target(backend.xp, backend.asarray(X[:1]).device, backend.asarray(X[:1]).dtype)
    assert mean_column_variance(backend.asarray(X), target, 7) == pytest.approx(
        np.var(X, axis=0).mean(), rel=backend.tol(1e-10)
    )
    km = MiniBatchKMeans(3, tol=1e-3, batch_size=30, random_state=0).fit(X)
    assert km._tol == pytest.approx(1e-3 * np.var(X, axis=0).mean(), rel=1e-10)


def test_early_stopping_counts_steps_without_improvement():
    stop = EarlyStopping(batch_size=10, n_samples=10, tol=0.0, max_no_improvement=2)
    # alpha = min(20 / 11, 1) = 1: the EWA is the last batch's inertia per row
    decisions = [stop.stop(i, 100, 0.0, v, 0) for i, v in enumerate([50, 40, 30, 35, 36, 20])]
    assert decisions == [False, False, False, False, True, False]


def test_early_stopping_on_a_small_centre_shift():
    stop = EarlyStopping(batch_size=10, n_samples=100, tol=1e-3, max_no_improvement=None)
    assert not stop.stop(0, 9, 0.0, 1.0, 0)  # the first step is never judged
    assert not stop.stop(1, 9, 1.0, 1.0, 0)
    assert stop.stop(2, 9, 1e-3, 1.0, 0)


# ------------------------------------------------------------ fit
def test_fit_finds_the_blobs_and_reports_scikit_learns_attributes():
    X, _ = blobs(2000, 3, 4)
    km = MiniBatchKMeans(4, batch_size=100, random_state=0).fit(X)
    from sklearn.metrics import adjusted_rand_score

    full = KMeans(4, random_state=0).fit(X)  # these blobs overlap a little: ARI 0.96 vs truth
    assert adjusted_rand_score(full.labels_, km.labels_) > 0.98
    assert km.cluster_centers_.shape == (4, 3)
    assert km.n_iter_ == int(np.ceil(km.n_steps_ * 100 / 2000))
    assert km.n_features_in_ == 3
    assert km.inertia_ == pytest.approx(-km.score(X))
    np.testing.assert_array_equal(km.predict(X), km.labels_)


def test_fit_without_stopping_runs_max_iter_epochs():
    X, _ = blobs(300, 2, 3)
    km = MiniBatchKMeans(3, batch_size=30, max_iter=4, max_no_improvement=None, random_state=0)
    km.fit(X)
    assert km.n_steps_ == 4 * 300 // 30
    assert km.n_iter_ == 4


def test_typical_fits_come_within_2_percent_of_lloyds_inertia():
    # a seed now and then starts k-means++ in a poor local optimum (as scikit-learn's does:
    # 5 and 4 of 120 seeds on 20,000 x 8 blobs): the median of five seeds is compared
    X, _ = blobs(20_000, 8, 8, seed=3)
    lloyd = KMeans(8, n_init=3, random_state=0).fit(X).inertia_
    fits = [MiniBatchKMeans(8, batch_size=256, random_state=s).fit(X) for s in range(5)]
    assert np.median([f.inertia_ for f in fits]) <= 1.02 * lloyd


def test_compute_labels_false_reports_the_smoothed_inertia():
    X, _ = blobs(1000, 2, 3)
    km = MiniBatchKMeans(3, batch_size=50, compute_labels=False, random_state=0).fit(X)
    assert not hasattr(km, "labels_")
    exact = -km.score(X)
    assert 0.5 * exact < km.inertia_ < 2.0 * exact
    np.testing.assert_array_equal(km.fit_predict(X), km.predict(X))


def test_callback_sees_every_step():
    X, _ = blobs(400, 2, 3)
    seen: list[MiniBatchInfo] = []
    km = MiniBatchKMeans(3, batch_size=40, random_state=0, callback=seen.append).fit(X)
    assert [info.step for info in seen] == list(range(1, km.n_steps_ + 1))
    np.testing.assert_array_equal(seen[-1].centers, km.cluster_centers_)
    assert np.all(np.diff([np.sum(info.counts) for info in seen]) >= 0)


def test_verbose_prints_scikit_learns_lines(capsys):
    X, _ = blobs(400, 2, 3)
    MiniBatchKMeans(3, batch_size=40, random_state=0, verbose=1).fit(X)
    out = capsys.readouterr().out
    assert "Init 1/1 with method k-means++" in out
    assert re.search(r"Minibatch step 2/\d+: mean batch inertia: .*, ewa inertia: ", out)


def test_same_seed_same_clustering_and_caller_data_untouched():
    X, _ = blobs(500, 2, 3)
    w = np.linspace(0.1, 2.0, 500)
    X0, w0 = X.copy(), w.copy()
    a = MiniBatchKMeans(3, batch_size=50, random_state=7).fit(X, sample_weight=w)
    b = MiniBatchKMeans(3, batch_size=50, random_state=7).fit(X, sample_weight=w)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(w, w0)


def test_batches_are_drawn_in_proportion_to_the_weights():
    w = np.array([0.0, 1.0, 3.0, 0.0])
    draw = _batch_sampler(np.random.default_rng(0), 4, 40_000, w)
    counts = np.bincount(draw(), minlength=4)
    assert counts[0] == counts[3] == 0
    assert counts[2] / counts[1] == pytest.approx(3.0, rel=0.05)


def test_weight_two_is_a_repeated_row_in_a_partial_fit_step():
    X, _ = blobs(60, 2, 3)
    w = np.arange(60) % 3 + 1.0
    init = X[:3].copy()
    a = MiniBatchKMeans(3, init=init, reassignment_ratio=0.0).partial_fit(X, sample_weight=w)
    b = MiniBatchKMeans(3, init=init, reassignment_ratio=0.0)
    b.partial_fit(np.repeat(X, w.astype(int), axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12)
    np.testing.assert_allclose(a._counts, b._counts)


def test_float32_stays_float32_and_integers_become_float64():
    X, _ = blobs(300, 2, 3)
    km = MiniBatchKMeans(3, batch_size=30, random_state=0).fit(X.astype(np.float32))
    assert km.cluster_centers_.dtype == np.float32
    km.partial_fit(X[:10])  # a float64 batch is cast to the centres' dtype
    assert km.cluster_centers_.dtype == np.float32
    km = MiniBatchKMeans(3, batch_size=30, random_state=0).fit((X * 10).astype(np.int32))
    assert km.cluster_centers_.dtype == np.float64


@pytest.mark.parametrize(
    "params, message",
    [
        ({"batch_size": 0}, r"batch_size must be an integer >= 1; got 0"),
        ({"reassignment_ratio": -1.0}, r"reassignment_ratio must be a number >= 0; got -1.0"),
        ({"max_no_improvement": -2}, r"max_no_improvement must be None or an integer >= 0"),
        ({"init_size": 0}, r"init_size must be None or an integer >= 1; got 0"),
        ({"init": "k-means||"}, r"init must be one of \('k-means\+\+', 'random'\)"),
        ({"compute_labels": "yes"}, r"compute_labels must be True or False; got 'yes'"),
        ({"n_clusters": 1000}, r"n_samples=50 should be >= n_clusters=1000"),
        ({"init": np.zeros((2, 2))}, r"does not match the number of clusters 3"),
    ],
)
def test_bad_parameters_are_named(params, message):
    X, _ = blobs(50, 2, 3)
    params = {"n_clusters": 3, **params}
    with pytest.raises(ValueError, match=message):
        MiniBatchKMeans(**params).fit(X)


def test_a_sparse_init_is_refused_by_name():
    sparse = pytest.importorskip("scipy.sparse")
    X, _ = blobs(50, 2, 3)
    with pytest.raises(TypeError, match="init must be a dense array; got a sparse csr_matrix"):
        MiniBatchKMeans(3, init=sparse.csr_matrix(X[:3])).fit(X)


def test_bad_sample_weight_is_named():
    X, _ = blobs(50, 2, 3)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(50,\)"):
        MiniBatchKMeans(3).fit(X, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        MiniBatchKMeans(3).fit(X, sample_weight=-np.ones(50))


def test_transform_is_the_euclidean_distance_and_exact_at_the_centres():
    X, _ = blobs(300, 3, 3)
    km = MiniBatchKMeans(3, batch_size=30, random_state=0).fit(X)
    C = km.cluster_centers_
    expected = np.sqrt(((X[:, None, :] - C[None]) ** 2).sum(-1))
    np.testing.assert_allclose(km.transform(X), expected, rtol=1e-10, atol=1e-10)
    assert np.all(np.diag(km.transform(C)) == 0)
    np.testing.assert_array_equal(km.predict(C), np.arange(3))


# ------------------------------------------------------------ every backend
def test_backends_find_the_numpy_clustering(backend):
    X, _ = blobs(800, 3, 4)
    ref = MiniBatchKMeans(4, batch_size=64, random_state=0).fit(X)
    km = MiniBatchKMeans(4, batch_size=64, random_state=0).fit(backend.asarray(X))
    assert type(km.cluster_centers_) is type(backend.asarray(X))
    np.testing.assert_allclose(
        backend.to_numpy(km.cluster_centers_), ref.cluster_centers_, rtol=backend.tol(1e-7)
    )
    np.testing.assert_array_equal(backend.to_numpy(km.labels_), ref.labels_)
    assert km.n_steps_ == ref.n_steps_
    assert km.score(backend.asarray(X)) == pytest.approx(ref.score(X), rel=backend.tol(1e-6))
    distances = backend.to_numpy(km.transform(backend.asarray(X)))
    np.testing.assert_allclose(distances, ref.transform(X), rtol=backend.tol(1e-10))


def test_partial_fit_keeps_the_centres_in_the_library_of_the_first_batch(backend):
    X, _ = blobs(600, 3, 4)
    km = MiniBatchKMeans(4, random_state=0)
    km.partial_fit(backend.asarray(X[:200]))
    like = backend.asarray(X[:1])
    for start in (200, 400):  # later batches from the host are moved to the centres
        km.partial_fit(X[start : start + 200])
        assert type(km.cluster_centers_) is type(like)
        assert str(km.cluster_centers_.device) == str(like.device)
    ref = MiniBatchKMeans(4, random_state=0)
    for start in (0, 200, 400):
        ref.partial_fit(X[start : start + 200])
    np.testing.assert_allclose(
        backend.to_numpy(km.cluster_centers_), ref.cluster_centers_, rtol=backend.tol(1e-7)
    )
    assert isinstance(km.labels_, np.ndarray)  # labels of the last (NumPy) batch


def test_partial_fit_on_jax_keeps_jax_arrays():
    jnp = pytest.importorskip("jax.numpy")
    import jax

    from kmeans_xp._xp import array_namespace

    if kernels_for(array_namespace(jnp.zeros(1))).name == "numpy":
        pytest.skip(
            "JAX arrays are dispatched to the NumPy kernels here (the namespace 'jax.numpy' is "
            "matched as 'numpy'); this runs once the JAX backend is in the dispatch table"
        )
    X, _ = blobs(400, 2, 3)
    X = X.astype(np.float32)  # JAX's default precision (x64 is a process-wide switch)
    km = MiniBatchKMeans(3, random_state=0)
    ref = MiniBatchKMeans(3, random_state=0)
    for start in (0, 200):
        km.partial_fit(jnp.asarray(X[start : start + 200]))
        ref.partial_fit(X[start : start + 200])
    assert isinstance(km.cluster_centers_, jax.Array)
    assert isinstance(km.predict(jnp.asarray(X)), jax.Array)
    np.testing.assert_allclose(np.asarray(km.cluster_centers_), ref.cluster_centers_, rtol=1e-5)


def test_an_init_array_of_another_library_decides_where_the_centres_live():
    torch = pytest.importorskip("torch")
    X, _ = blobs(600, 3, 4)
    init = X[[0, 150, 300, 450]].copy()
    ref = MiniBatchKMeans(4, init=init, batch_size=64, random_state=0).fit(X)
    km = MiniBatchKMeans(4, init=torch.asarray(init), batch_size=64, random_state=0).fit(X)
    assert isinstance(km.cluster_centers_, torch.Tensor)
    assert isinstance(km.labels_, np.ndarray)  # outputs in X's library
    np.testing.assert_allclose(km.cluster_centers_.numpy(), ref.cluster_centers_)
    np.testing.assert_array_equal(km.labels_, ref.labels_)


# ------------------------------------------------------------ sources
def test_memory_map_sparse_and_dask_sources_give_the_in_memory_clustering(tmp_path):
    X, _ = blobs(700, 3, 4)
    ref = MiniBatchKMeans(4, batch_size=64, random_state=0).fit(X)
    np.save(tmp_path / "x.npy", X)
    sources = [np.load(tmp_path / "x.npy", mmap_mode="r")]
    sparse = pytest.importorskip("scipy.sparse")
    sources.append(sparse.csr_matrix(X))
    da = pytest.importorskip("dask.array")
    sources.append(da.from_array(X, chunks=200))
    for source in sources:
        km = MiniBatchKMeans(4, batch_size=64, random_state=0).fit(source)
        np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_)
        np.testing.assert_array_equal(km.labels_, ref.labels_)
        np.testing.assert_array_equal(km.predict(source), ref.labels_)


def test_memory_map_streamed_into_torch_matches_numpy(tmp_path):
    torch = pytest.importorskip("torch")
    X, _ = blobs(700, 3, 4)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    init = X[[0, 200, 400, 600]].copy()
    ref = MiniBatchKMeans(4, init=init, reassignment_ratio=0.0)
    km = MiniBatchKMeans(4, init=torch.asarray(init), reassignment_ratio=0.0)
    for batch in iter_batches(mm, 100, like=torch.empty(0)):
        assert isinstance(batch, torch.Tensor)
        km.partial_fit(batch)
    for start in range(0, 700, 100):
        ref.partial_fit(X[start : start + 100])
    np.testing.assert_allclose(km.cluster_centers_.numpy(), ref.cluster_centers_)


def test_iter_batches_covers_every_row_once_in_order(backend):
    X = np.arange(35.0).reshape(7, 5)
    like = backend.asarray(np.zeros((1, 1)))
    batches = list(iter_batches(X, 3, like=like))
    assert [b.shape[0] for b in batches] == [3, 3, 1]
    for b in batches:
        assert type(b) is type(like) and str(b.device) == str(like.device)
    np.testing.assert_array_equal(np.concatenate([backend.to_numpy(b) for b in batches]), X)
    one_at_a_time = list(iter_batches(X, 3, like=like, ahead=False))
    for a, b in zip(batches, one_at_a_time, strict=True):
        np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(b))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1; got 0"):
        list(iter_batches(X, 0))


def test_rows_of_reads_indices_and_slices_of_every_source(tmp_path):
    X = np.arange(24.0).reshape(8, 3)
    np.save(tmp_path / "x.npy", X)
    target = numpy_target()
    idx = np.array([5, 0, 5, 2])
    for source in (X, np.load(tmp_path / "x.npy", mmap_mode="r"), X.astype(np.int16)):
        np.testing.assert_array_equal(rows_of(source, idx, target), X[idx])
        np.testing.assert_array_equal(rows_of(source, (2, 6), target), X[2:6])


# ------------------------------------------------------------ the overlapped copies
class RecordingCopy(_PlainCopy):
    """A copier that logs when batches are staged and finished (by their first value)."""

    def __init__(self, target, log):
        super().__init__(target)
        self.log = log

    def stage(self, host):
        self.log.append(("stage", int(host[0, 0])))
        return super().stage(host)

    def finish(self, staged):
        self.log.append(("finish", int(staged[0, 0])))
        return super().finish(staged)


def test_the_next_batch_is_read_and_staged_before_the_current_one_is_used():
    torch = pytest.importorskip("torch")
    X = np.arange(40.0).reshape(20, 2)
    target = Target(compat_namespace(torch), torch.device("cpu"), torch.float64)
    slices = iter([(0, 4), (4, 8), (8, 12)])
    log: list = []

    def draw():
        rows = next(slices)
        log.append(("draw", rows[0]))
        return rows

    with BatchStream(X, target, draw, copier=RecordingCopy(target, log)) as stream:
        first = stream.next()
        # batch 2 was drawn before batch 1 was handed out, and is read and staged by the
        # worker without the caller asking for it
        assert log.index(("draw", 4)) < log.index(("finish", 0))
        stream._next.result()
        assert ("stage", 8) in log and ("finish", 8) not in log
        second = stream.next()
    np.testing.assert_array_equal(first.numpy(), X[0:4])
    np.testing.assert_array_equal(second.numpy(), X[4:8])


def test_batches_are_the_same_with_and_without_reading_ahead():
    torch = pytest.importorskip("torch")
    X, _ = blobs(300, 2, 3)
    target = Target(compat_namespace(torch), torch.device("cpu"), torch.float64)
    batches = {}
    for ahead in (True, False):
        draw = functools.partial(np.random.default_rng(0).integers, 0, 300, 16)
        with BatchStream(X, target, draw, ahead=ahead) as stream:
            batches[ahead] = [stream.next().numpy() for _ in range(5)]
    for a, b in zip(batches[True], batches[False], strict=True):
        np.testing.assert_array_equal(a, b)


def test_cpu_targets_copy_plainly():
    torch = pytest.importorskip("torch")
    import array_api_strict

    cpu = Target(compat_namespace(torch), torch.device("cpu"), torch.float32)
    assert isinstance(copier_for(cpu), _PlainCopy)
    strict = Target(
        compat_namespace(array_api_strict),
        array_api_strict.Device("device1"),
        array_api_strict.float64,
    )
    assert isinstance(copier_for(strict), _PlainCopy)


@pytest.mark.gpu
def test_torch_cuda_batches_arrive_through_the_side_stream():
    torch = pytest.importorskip("torch")
    X, _ = blobs(5000, 8, 4)
    target = Target(compat_namespace(torch), torch.device("cuda"), torch.float32)
    rng = np.random.default_rng(0)
    idx = [rng.integers(0, 5000, 512) for _ in range(6)]
    it = iter(idx)
    with BatchStream(X, target, lambda: next(it)) as stream:
        got = [stream.next().cpu().numpy() for _ in range(5)]
    for rows, batch in zip(idx, got, strict=False):
        np.testing.assert_array_equal(batch, X[rows].astype(np.float32))


# ------------------------------------------------------------ kmeans-xp fit --mini-batch
def test_cli_mini_batch_fit_reads_a_memory_mapped_npy(tmp_path, capsys):
    from kmeans_xp.cli import main

    X, _ = blobs(900, 3, 3)
    np.save(tmp_path / "x.npy", X.astype(np.float32))
    labels, centers = tmp_path / "labels.txt", tmp_path / "centers.csv"
    argv = [
        "fit",
        str(tmp_path / "x.npy"),
        "-k",
        "3",
        "--mini-batch",
        "--batch-size",
        "128",
        "--labels",
        str(labels),
        "--centers",
        str(centers),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"k=3: inertia \S+ after \d+ steps of 128 rows \(\d+ passes\)", out)
    ref = MiniBatchKMeans(3, batch_size=128, random_state=0, max_iter=300)
    ref.fit(X.astype(np.float32))
    np.testing.assert_array_equal(np.loadtxt(labels, dtype=int), ref.labels_)
    np.testing.assert_allclose(np.loadtxt(centers, delimiter=","), ref.cluster_centers_, rtol=1e-6)


def test_cli_mini_batch_on_torch_keeps_the_file_on_the_host(tmp_path, capsys):
    pytest.importorskip("torch")
    from kmeans_xp.cli import main

    X, _ = blobs(600, 2, 3)
    np.save(tmp_path / "x.npy", X)
    argv = ["fit", str(tmp_path / "x.npy"), "-k", "3", "--mini-batch", "--backend", "torch"]
    assert main([*argv, "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "backend torch" in out and "batches of 1024 rows" in out
    assert re.search(r"k=3: inertia \S+ after \d+ steps of 600 rows", out)


def test_cli_mini_batch_refuses_a_plot_in_one_line(tmp_path, capsys):
    from kmeans_xp.cli import main

    X, _ = blobs(60, 2, 3)
    np.save(tmp_path / "x.npy", X)
    argv = ["fit", str(tmp_path / "x.npy"), "-k", "3", "--mini-batch", "--plot", "p.png"]
    assert main(argv) == 2
    assert "--plot is not available with --mini-batch" in capsys.readouterr().err


# ------------------------------------------------------------ scikit-learn's estimator checks
def _expected_failures(estimator) -> dict:
    # the same expected failures scikit-learn declares for its own MiniBatchKMeans
    reason = "sample_weight is not equivalent to removing/repeating samples."
    return {
        "check_sample_weight_equivalence_on_dense_data": reason,
        "check_sample_weight_equivalence_on_sparse_data": reason,
    }


@parametrize_with_checks(
    [MiniBatchKMeans(n_clusters=2, n_init=2, max_iter=5, batch_size=10), MiniBatchKMeans(3)],
    expected_failed_checks=_expected_failures,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.gpu
def test_cupy_batches_arrive_through_their_stream():
    cupy = pytest.importorskip("cupy")
    X, _ = blobs(5000, 8, 4)
    target = Target(compat_namespace(cupy), cupy.cuda.Device(), cupy.float32)
    rng = np.random.default_rng(0)
    idx = [rng.integers(0, 5000, 512) for _ in range(6)]
    it = iter(idx)
    with BatchStream(X, target, lambda: next(it)) as stream:
        got = [cupy.asnumpy(stream.next()) for _ in range(5)]
    for rows, batch in zip(idx, got, strict=False):
        np.testing.assert_array_equal(batch, X[rows].astype(np.float32))
