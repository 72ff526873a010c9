"""Dask arrays on a dask.distributed cluster: the same engine, lazily.

Dask is not in the generic ``backend`` fixture. Tried: every test using it passed on Dask but
two: the same-seed test expects the k-means++ clustering, and Dask's default init is k-means||
by design; make_blobs(xp=dask.array) failed (fixed in ``_xp.from_numpy``). And the time blew up:
the portable-kernel tests slice X into 1-row chunks, 40 s as Dask graphs; the Dask cases added
about 70 s in all. The tests here cover the same behaviours on a cluster in a fraction of that.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kmeans_xp import KMeans, kmeans, make_blobs
from tests.conftest import cuda_answers

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from kmeans_xp._kernels import dask as dask_kernels  # noqa: E402


@pytest.fixture(scope="session")
def client():
    """Two single-threaded workers in this process: quick to start, and no pickling."""
    # The scheduler serves its HTTP routes even without a dashboard, on port 8787 unless told
    # otherwise; with another cluster on the machine holding that port the fallback warns.
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(3000, 3, centers=6, cluster_std=1.5, random_state=4)
    return X


def _dask(X, blocks=3):
    return da.from_array(X, chunks=(-(-X.shape[0] // blocks), X.shape[1]))


def test_fit_on_a_cluster_matches_numpy(client, blobs):
    X = blobs
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=X.shape[0])
    ref = KMeans(6, init=X[:6], tol=0).fit(X, sample_weight=w)
    est = KMeans(6, init=X[:6], tol=0).fit(_dask(X), sample_weight=da.from_array(w, chunks=700))

    assert isinstance(est.labels_, da.Array) and isinstance(est.cluster_centers_, da.Array)
    np.testing.assert_array_equal(est.labels_.compute(), ref.labels_)
    np.testing.assert_allclose(est.cluster_centers_.compute(), ref.cluster_centers_, atol=1e-10)
    assert est.inertia_ == pytest.approx(ref.inertia_, rel=1e-10)
    assert (est.n_iter_, est.stop_reason_) == (ref.n_iter_, ref.stop_reason_)


def test_default_init_on_dask_is_kmeans_parallel(client, blobs):
    X = blobs
    est = KMeans(6, random_state=3)
    assert est.get_params()["init"] == "auto"  # stored unchanged (scikit-learn's clone)
    est.fit(_dask(X))
    assert est.get_params()["init"] == "auto"
    ref = KMeans(6, init="k-means||", random_state=3).fit(X)
    np.testing.assert_array_equal(est.labels_.compute(), ref.labels_)
    np.testing.assert_allclose(est.cluster_centers_.compute(), ref.cluster_centers_, atol=1e-10)
    _, labels, inertia, _ = kmeans(_dask(X), 6, random_state=3)
    np.testing.assert_array_equal(labels.compute(), ref.labels_)
    assert inertia == pytest.approx(ref.inertia_, rel=1e-10)


def _raise_on_compute(*args, **kwargs):
    raise AssertionError("a graph was computed")


def test_predict_and_transform_stay_lazy(client, blobs):
    X = blobs
    est = KMeans(6, init=X[:6]).fit(_dask(X))
    new = _dask(X[::7] + 0.25)
    with dask.config.set(scheduler=_raise_on_compute):
        labels = est.predict(new)
        distances = est.transform(new)
        with pytest.raises(AssertionError, match="computed"):
            labels.compute()  # the scheduler really is the raising one
    assert isinstance(labels, da.Array) and isinstance(distances, da.Array)
    ref = KMeans(6, init=X[:6]).fit(X)
    np.testing.assert_array_equal(labels.compute(), ref.predict(X[::7] + 0.25))
    np.testing.assert_allclose(distances.compute(), ref.transform(X[::7] + 0.25), atol=1e-9)
    # a model fitted on NumPy predicts lazily on Dask too
    with dask.config.set(scheduler=_raise_on_compute):
        labels = ref.predict(new)
    np.testing.assert_array_equal(labels.compute(), ref.predict(X[::7] + 0.25))


class _Counter:
    """Counts dask.compute / dask.persist calls and per-block Lloyd step tasks."""

    def __init__(self, monkeypatch):
        self.computes = self.persists = self.blocks = 0
        compute, persist, step = dask.compute, dask.persist, dask_kernels._lloyd_step_block

        def counted_compute(*args, **kwargs):
            self.computes += 1
            return compute(*args, **kwargs)

        def counted_persist(*args, **kwargs):
            self.persists += 1
            return persist(*args, **kwargs)

        def counted_step(*args, **kwargs):
            self.blocks += 1
            return step(*args, **kwargs)

        monkeypatch.setattr(dask, "compute", counted_compute)
        monkeypatch.setattr(dask, "persist", counted_persist)
        monkeypatch.setattr(dask_kernels, "_lloyd_step_block", counted_step)

    def snapshot(self):
        return (self.computes, self.persists, self.blocks)


def test_one_compute_per_iteration_and_x_read_once(monkeypatch, blobs):
    # the synchronous scheduler runs the tasks in this thread, where they can be counted
    X = blobs
    counter = _Counter(monkeypatch)
    seen = []
    with dask.config.set(scheduler="sync"):
        est = KMeans(
            6, init=X[[0, 1, 2, 3, 4, 5]], tol=0, callback=lambda _: seen.append(counter.snapshot())
        ).fit(_dask(X, blocks=4))
    assert est.n_iter_ >= 3 and len(seen) == est.n_iter_
    for before, after in itertools.pairwise(seen):
        # one persist of the iteration's state, one compute that brings back its 4 numbers,
        # and X read once: one task per row block
        assert tuple(b - a for a, b in zip(before, after)) == (1, 1, 4)


def test_nan_raises_from_one_computed_check(monkeypatch, blobs):
    X = blobs.copy()
    X[1234, 1] = np.nan
    counter = _Counter(monkeypatch)
    with dask.config.set(scheduler="sync"), pytest.raises(ValueError, match="NaN"):
        KMeans(6, init=blobs[:6]).fit(_dask(X))
    assert counter.computes == 1 and counter.blocks == 0


def test_empty_cluster_is_relocated_on_dask(client):
    X = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0], [5.1, 5.0], [9.0, 9.0]])
    init = np.array([[0.0, 0.0], [5.0, 5.0], [100.0, 100.0]])
    est = KMeans(3, init=init).fit(_dask(X, blocks=2))
    ref = KMeans(3, init=init).fit(X)
    np.testing.assert_allclose(est.cluster_centers_.compute(), ref.cluster_centers_, atol=1e-12)
    np.testing.assert_array_equal(est.labels_.compute(), [0, 0, 0, 1, 1, 2])


def test_fewer_distinct_points_than_clusters_warns_on_dask(client):
    X = np.array([[1.0, 1.0]] * 5 + [[3.0, 3.0]] * 5)
    with pytest.warns(Warning, match=r"distinct clusters \(2\) found smaller than n_clusters"):
        est = KMeans(3, init=X[[0, 1, 5]]).fit(_dask(X, blocks=2))
    assert est.inertia_ == 0.0


def test_float32_blocks_stay_float32(client, blobs):
    Xd = _dask(blobs.astype(np.float32))
    est = KMeans(6, random_state=0).fit(Xd)
    assert est.cluster_centers_.dtype == np.float32 and est.predict(Xd).dtype == np.int64
    assert est.transform(Xd).dtype == np.float32 and isinstance(est.score(Xd), float)


@pytest.mark.gpu
def test_dask_array_of_cupy_blocks_takes_the_same_path(client, blobs):
    if not cuda_answers("cupy"):
        pytest.skip("no CUDA device answers for cupy")
    import cupy

    X = blobs
    Xg = da.from_array(cupy.asarray(X), chunks=(1000, 3), asarray=False)
    for init in (X[:6], "auto"):
        est = KMeans(6, init=init, random_state=3).fit(Xg)
        ref_init = "k-means||" if isinstance(init, str) else init
        ref = KMeans(6, init=ref_init, random_state=3).fit(X)
        labels = est.labels_.compute()
        assert isinstance(labels, cupy.ndarray)
        np.testing.assert_array_equal(labels.get(), ref.labels_)
        np.testing.assert_allclose(
            est.cluster_centers_.compute().get(), ref.cluster_centers_, atol=1e-8
        )
    assert isinstance(est.predict(Xg)._meta, cupy.ndarray)
