"""The Lloyd engine against scikit-learn and against itself across backends."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import kmeans_xp
from kmeans_xp import KMeans, kmeans, make_blobs

sklearn_cluster = pytest.importorskip("sklearn.cluster")


@pytest.fixture(scope="module")
def article_data():
    X, _ = make_blobs(2000, 2, centers=3, cluster_std=1.35, random_state=11)
    return X


def test_article_data_matches_scikit_learn_exactly(backend, article_data):
    X = article_data
    init, _ = sklearn_cluster.kmeans_plusplus(X, 3, random_state=3)
    ref = sklearn_cluster.KMeans(3, init=init, n_init=1).fit(X)

    est = KMeans(3, init=backend.asarray(init)).fit(backend.asarray(X))

    assert type(est.labels_) is type(backend.asarray(X[:1, 0].astype(np.int64)))
    np.testing.assert_array_equal(backend.to_numpy(est.labels_), ref.labels_)
    np.testing.assert_allclose(
        backend.to_numpy(est.cluster_centers_), ref.cluster_centers_, rtol=0, atol=backend.tol(1e-8)
    )
    assert est.inertia_ == pytest.approx(ref.inertia_, rel=backend.tol(1e-10))
    assert est.n_iter_ == ref.n_iter_


@pytest.mark.parametrize("init_rows", [[0, 1, 2], [5, 900, 1700], [10, 11, 12]])
def test_parity_with_scikit_learn_from_several_inits(article_data, init_rows):
    X = article_data
    init = X[init_rows]
    ref = sklearn_cluster.KMeans(3, init=init, n_init=1, max_iter=300).fit(X)
    est = KMeans(3, init=init).fit(X)
    np.testing.assert_array_equal(est.labels_, ref.labels_)
    np.testing.assert_allclose(est.cluster_centers_, ref.cluster_centers_, rtol=0, atol=1e-8)
    assert est.n_iter_ == ref.n_iter_


def test_max_iter_stop_relabels_to_final_centers(article_data):
    X = article_data
    init = X[[0, 1, 2]]
    ref = sklearn_cluster.KMeans(3, init=init, n_init=1, max_iter=2).fit(X)
    est = KMeans(3, init=init, max_iter=2).fit(X)
    assert est.stop_reason_ == "max_iter" and est.n_iter_ == 2
    np.testing.assert_array_equal(est.labels_, ref.labels_)
    np.testing.assert_allclose(est.cluster_centers_, ref.cluster_centers_, atol=1e-8)
    assert est.inertia_ == pytest.approx(ref.inertia_, rel=1e-10)
    np.testing.assert_array_equal(est.predict(X), est.labels_)


def test_default_init_is_as_good_as_scikit_learn():
    X, _ = make_blobs(3000, 10, centers=30, cluster_std=2.0, random_state=0)
    # A single k-means++ run now and then merges two blobs, so the mean over seeds is noisy:
    # over 40 seeds two means differ by a few percent by chance alone. 300 seeds bring the
    # standard error of the ratio to about 0.44%. (The init itself draws like scikit-learn's:
    # over seeds 1000-2499 the k-means++ potentials' ratio was 1.0008 +- 0.0018.)
    seeds = range(300)
    ours = np.mean([KMeans(30, random_state=s).fit(X).inertia_ for s in seeds])
    theirs = np.mean([sklearn_cluster.KMeans(30, random_state=s).fit(X).inertia_ for s in seeds])
    assert ours <= 1.01 * theirs, (ours, theirs)


def test_same_seed_gives_same_clustering_on_every_backend(backend):
    X, _ = make_blobs(600, 3, centers=5, cluster_std=1.5, random_state=4)
    ref = KMeans(5, random_state=123).fit(X)
    est = KMeans(5, random_state=123).fit(backend.asarray(X))
    np.testing.assert_array_equal(backend.to_numpy(est.labels_), ref.labels_)
    np.testing.assert_allclose(
        backend.to_numpy(est.cluster_centers_), ref.cluster_centers_, atol=backend.tol(1e-10)
    )


def test_random_init_same_seed_same_clustering(backend):
    X, _ = make_blobs(500, 4, centers=4, random_state=1)
    ref = KMeans(4, init="random", n_init=3, random_state=7).fit(X)
    est = KMeans(4, init="random", n_init=3, random_state=7).fit(backend.asarray(X))
    np.testing.assert_array_equal(backend.to_numpy(est.labels_), ref.labels_)


def test_outputs_live_in_the_callers_namespace_and_dtype(backend):
    X, _ = make_blobs(300, 3, centers=3, random_state=2)
    Xb = backend.asarray(X, dtype="float32")
    est = KMeans(3, random_state=0).fit(Xb)
    xp = backend.xp
    for out in (est.cluster_centers_, est.transform(Xb)):
        assert out.dtype == xp.float32
        assert kmeans_xp._xp.device_of(out) == kmeans_xp._xp.device_of(Xb)
    for out in (est.labels_, est.predict(Xb)):
        assert out.dtype == backend.int64
        assert kmeans_xp._xp.device_of(out) == kmeans_xp._xp.device_of(Xb)
    assert isinstance(est.inertia_, float) and isinstance(est.score(Xb), float)


def test_integer_input_becomes_float64(backend):
    X = np.array([[0, 0], [0, 1], [10, 10], [10, 11]], dtype=np.int64)
    est = KMeans(2, init=np.array([[0.0, 0.0], [10.0, 10.0]])).fit(backend.asarray(X))
    assert est.cluster_centers_.dtype == backend.float64
    np.testing.assert_allclose(backend.to_numpy(est.cluster_centers_), [[0, 0.5], [10, 10.5]])


def test_float32_fit_agrees_with_float64():
    X, _ = make_blobs(2000, 8, centers=6, random_state=5)
    init = X[:6]
    a = KMeans(6, init=init).fit(X)
    b = KMeans(6, init=init.astype(np.float32)).fit(X.astype(np.float32))
    assert b.cluster_centers_.dtype == np.float32
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-5, atol=1e-5)


def test_transform_is_euclidean_distance(backend):
    X, _ = make_blobs(200, 3, centers=4, random_state=8)
    est = KMeans(4, random_state=0).fit(backend.asarray(X))
    C = backend.to_numpy(est.cluster_centers_)
    expected = np.sqrt(((X[:, None, :] - C[None]) ** 2).sum(-1))
    np.testing.assert_allclose(
        backend.to_numpy(est.transform(backend.asarray(X))),
        expected,
        rtol=backend.tol(1e-9),
        atol=backend.tol(1e-9),
    )
    assert est.score(backend.asarray(X)) == pytest.approx(-est.inertia_, rel=backend.tol(1e-10))


def test_empty_cluster_is_relocated_not_nan(backend):
    # centre 2 is far from everything, so it attracts no point in the first step
    X = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0], [5.1, 5.0], [9.0, 9.0]])
    init = np.array([[0.0, 0.0], [5.0, 5.0], [100.0, 100.0]])
    est = KMeans(3, init=backend.asarray(init)).fit(backend.asarray(X))
    centers = backend.to_numpy(est.cluster_centers_)
    assert np.isfinite(centers).all()
    np.testing.assert_allclose(centers[2], [9.0, 9.0])
    np.testing.assert_array_equal(backend.to_numpy(est.labels_), [0, 0, 0, 1, 1, 2])
    ref = sklearn_cluster.KMeans(3, init=init, n_init=1).fit(X)
    np.testing.assert_allclose(centers, ref.cluster_centers_, atol=1e-12)


def test_fewer_distinct_points_than_clusters_warns_and_stays_finite(backend):
    X = np.array([[1.0, 1.0]] * 5 + [[3.0, 3.0]] * 5)
    message = r"distinct clusters \(2\) found smaller than n_clusters \(3\)"
    with pytest.warns(Warning, match=message):
        est = KMeans(3, random_state=0).fit(backend.asarray(X))
    assert np.isfinite(backend.to_numpy(est.cluster_centers_)).all()
    assert est.inertia_ == 0.0


def test_sample_weight_integer_equals_repeated_rows():
    X, _ = make_blobs(200, 2, centers=3, random_state=3)
    w = np.random.default_rng(0).integers(0, 4, size=200)
    init = X[:3]
    a = KMeans(3, init=init).fit(X, sample_weight=w)
    b = KMeans(3, init=init).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-10)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-10)


def test_kmeans_function_returns_the_estimators_results(backend):
    X, _ = make_blobs(300, 2, centers=3, random_state=6)
    Xb = backend.asarray(X)
    centers, labels, inertia, n_iter = kmeans(Xb, 3, random_state=1)
    est = KMeans(3, random_state=1).fit(Xb)
    np.testing.assert_array_equal(backend.to_numpy(labels), backend.to_numpy(est.labels_))
    assert inertia == est.inertia_ and n_iter == est.n_iter_
    np.testing.assert_array_equal(backend.to_numpy(centers), backend.to_numpy(est.cluster_centers_))


def test_verbose_prints_each_iteration_and_why_it_stopped(capsys):
    X, _ = make_blobs(500, 2, centers=3, random_state=0)
    est = KMeans(3, random_state=0, verbose=1, tol=0).fit(X)
    out = capsys.readouterr().out.splitlines()
    iteration_lines = [line for line in out if line.startswith("Iteration ")]
    assert len(iteration_lines) == est.n_iter_
    assert iteration_lines[0].startswith("Iteration 1, inertia ")
    assert "center shift" in iteration_lines[0]
    assert out[-1].startswith(f"Converged at iteration {est.n_iter_}: strict convergence")


def test_callback_sees_every_iteration_in_the_callers_namespace(backend):
    X, _ = make_blobs(400, 2, centers=3, random_state=9)
    seen = []
    est = KMeans(3, random_state=0, callback=seen.append).fit(backend.asarray(X))
    assert [info.iteration for info in seen] == list(range(1, est.n_iter_ + 1))
    inertias = [info.inertia for info in seen]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(inertias))
    last = seen[-1]
    assert type(last.centers) is type(est.cluster_centers_)
    np.testing.assert_allclose(
        backend.to_numpy(last.centers), backend.to_numpy(est.cluster_centers_), atol=1e-12
    )
    assert seen[0].n_changed == 400


def test_tolerance_is_relative_to_the_data_variance():
    X, _ = make_blobs(1000, 2, centers=3, random_state=2)
    init = X[:3]
    for scale in (1e-3, 1.0, 1e3):
        est = KMeans(3, init=init * scale, tol=1e-2).fit(X * scale)
        base = KMeans(3, init=init, tol=1e-2).fit(X)
        assert est.n_iter_ == base.n_iter_


def test_one_host_sync_per_iteration(backend, monkeypatch):
    from kmeans_xp import _lloyd
    from kmeans_xp._kernels import kernels_for

    X, _ = make_blobs(3000, 4, centers=10, random_state=3)
    calls = []
    real = _lloyd.to_host

    def counting(*arrays):
        calls.append(len(arrays))
        return real(*arrays)

    monkeypatch.setattr(_lloyd, "to_host", counting)
    run = _lloyd.lloyd(
        backend.asarray(X),
        backend.asarray(X[:10]),
        backend.asarray(np.ones(3000)),
        max_iter=5,
        tol=-1.0,
        kernels=kernels_for(backend.xp),
        chunk_rows=700,
    )
    assert run.n_iter == 5
    # one per iteration (its four statistics) and one at the end (the exact inertia)
    assert calls == [1] * (run.n_iter + 1), calls


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_data_far_from_the_origin_is_centered_and_clustered_as_near_it(offset, monkeypatch):
    from kmeans_xp import _estimator

    seen = []
    real = _estimator.lloyd
    monkeypatch.setattr(
        _estimator, "lloyd", lambda X, *a, **kw: seen.append(X) or real(X, *a, **kw)
    )
    X, _ = make_blobs(4000, 3, centers=6, cluster_std=0.3, random_state=5)
    X32 = (X + offset).astype(np.float32)
    init = X32[:6]
    est = KMeans(6, init=init, tol=0.0).fit(X32)
    # near the origin the loop runs on X itself; far from it, on a centred copy (precision)
    assert (seen[0] is X32) == (offset == 0.0)
    ref = KMeans(6, init=init.astype(np.float64), tol=0.0).fit(X32.astype(np.float64))
    np.testing.assert_array_equal(est.labels_, ref.labels_)
    # predict does as the fit did: X itself near the origin, a centred copy far from it
    from kmeans_xp._kernels import kernels_for

    kernels, given = kernels_for(np), []
    real_assign = kernels.assign
    monkeypatch.setattr(
        kernels, "assign", lambda X, *a, **kw: given.append(X) or real_assign(X, *a, **kw)
    )
    np.testing.assert_array_equal(est.predict(X32), est.labels_)
    assert (given[0] is X32) == (offset == 0.0)
    np.testing.assert_allclose(est.cluster_centers_, ref.cluster_centers_, rtol=1e-6)
    assert est.inertia_ == pytest.approx(ref.inertia_, rel=1e-4)


def test_huge_float32_values_do_not_pass_for_infinity():
    # the quick sum of squares for tol overflows float32 here; the per-row one in float64 not
    X, _ = make_blobs(1000, 2, centers=3, random_state=4)
    small = KMeans(3, init=X[:3], tol=1e-4).fit(X.astype(np.float32))
    huge = KMeans(3, init=X[:3] * 1e17, tol=1e-4).fit((X * 1e17).astype(np.float32))
    np.testing.assert_array_equal(huge.labels_, small.labels_)
    assert huge.n_iter_ == small.n_iter_


def test_the_loop_frees_each_steps_distances_before_the_next_step():
    import weakref

    from kmeans_xp import _lloyd
    from kmeans_xp._kernels import kernels_for

    kernels = kernels_for(np)
    steps, alive_at_step = [], []
    real_step = kernels.lloyd_step

    def step(*args, **kwargs):
        alive_at_step.append([ref() is not None for ref in steps])
        out = real_step(*args, **kwargs)
        steps.append(weakref.ref(out.sqdist))
        return out

    X, _ = make_blobs(3000, 40, centers=6, random_state=3)  # by row: per-row distances
    kernels_copy = type(kernels)(**{**vars(kernels), "lloyd_step": step})
    run = _lloyd.lloyd(
        X, X[:6], np.ones(3000), max_iter=4, tol=-1.0, kernels=kernels_copy, chunk_rows=700
    )
    assert run.n_iter == 4 and len(steps) == 4
    assert alive_at_step == [[], [False], [False, False], [False, False, False]]
