"""What a scikit-learn KMeans user relies on, checked on our estimator: the estimator's own
identities, toy problems solved by hand, initialisations, weights, dtypes, memory layouts and
containers. (The public behaviours scikit-learn's k-means tests check, re-expressed.)"""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

from kmeans_xp import KMeans, _xp, kmeans, kmeans_plusplus, make_blobs
from kmeans_xp._init import random_rows
from kmeans_xp._xp import to_numpy

exceptions = pytest.importorskip("sklearn.exceptions")


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(240, 3, centers=4, cluster_std=1.0, random_state=0)
    return X


# ------------------------------------------------------------------------ identities
def test_fit_predict_is_fit_then_labels(backend, blobs):
    X = backend.asarray(blobs)
    labels = KMeans(4, random_state=1).fit_predict(X)
    again = KMeans(4, random_state=1).fit(X).labels_
    np.testing.assert_array_equal(backend.to_numpy(labels), backend.to_numpy(again))


@pytest.mark.parametrize("tol", [0.0, 1e-2], ids=["strict", "tol"])
def test_predict_gives_labels_and_centres_predict_themselves(backend, blobs, tol):
    X = backend.asarray(blobs)
    km = KMeans(4, random_state=2, tol=tol).fit(X)
    assert km.stop_reason_ == ("strict" if tol == 0 else "tol")
    np.testing.assert_array_equal(backend.to_numpy(km.predict(X)), backend.to_numpy(km.labels_))
    np.testing.assert_array_equal(backend.to_numpy(km.predict(km.cluster_centers_)), np.arange(4))
    # a centre is at distance exactly 0 from itself
    diagonal = np.diagonal(backend.to_numpy(km.transform(km.cluster_centers_)))
    np.testing.assert_array_equal(diagonal, np.zeros(4))


def test_predict_at_max_iter_still_matches_labels():
    X, _ = make_blobs(400, 2, centers=6, cluster_std=3.0, random_state=3)
    km = KMeans(6, init=X[:6], max_iter=1).fit(X)
    assert km.stop_reason_ == "max_iter" and km.n_iter_ == 1
    np.testing.assert_array_equal(km.predict(X), km.labels_)


def test_predict_does_not_move_the_centres(blobs):
    km = KMeans(4, random_state=0).fit(blobs)
    before = km.cluster_centers_.copy()
    km.predict(blobs[:7] + 3.0), km.transform(blobs[:7]), km.score(blobs[:7])
    np.testing.assert_array_equal(km.cluster_centers_, before)


def test_as_many_clusters_as_points_has_zero_inertia(backend):
    X = np.random.default_rng(0).normal(size=(9, 2))
    km = KMeans(9, random_state=0).fit(backend.asarray(X))
    assert km.inertia_ == 0.0
    assert sorted(backend.to_numpy(km.labels_).tolist()) == list(range(9))
    np.testing.assert_allclose(
        np.sort(backend.to_numpy(km.cluster_centers_), axis=0), np.sort(X, axis=0), atol=1e-12
    )


def test_refit_from_the_fitted_centres_is_one_iteration(backend, blobs):
    X = backend.asarray(blobs)
    first = KMeans(4, random_state=0, tol=0).fit(X)
    again = KMeans(4, init=first.cluster_centers_).fit(X)
    # the first step has no earlier labels to compare with: it stops on the zero centre shift
    assert again.n_iter_ == 1 and again.stop_reason_ == "tol"
    np.testing.assert_array_equal(backend.to_numpy(again.labels_), backend.to_numpy(first.labels_))
    np.testing.assert_allclose(
        backend.to_numpy(again.cluster_centers_),
        backend.to_numpy(first.cluster_centers_),
        rtol=0,
        atol=1e-12,
    )


def test_fit_transform_and_score_agree_with_the_fit(backend, blobs):
    X = backend.asarray(blobs)
    w = backend.asarray(np.linspace(0.5, 2.0, blobs.shape[0]))
    km = KMeans(4, random_state=0)
    distances = km.fit_transform(X, sample_weight=w)
    np.testing.assert_allclose(
        backend.to_numpy(distances), backend.to_numpy(km.transform(X)), rtol=0, atol=0
    )
    assert km.score(X, sample_weight=w) == pytest.approx(-km.inertia_, rel=1e-12)
    nearest = backend.to_numpy(distances).min(axis=1)
    assert float(np.sum(nearest**2 * backend.to_numpy(w))) == pytest.approx(km.inertia_, rel=1e-9)


def test_more_iterations_never_score_worse():
    X, _ = make_blobs(500, 2, centers=8, cluster_std=2.5, random_state=4)
    scores = [KMeans(8, init=X[:8], max_iter=m).fit(X).score(X) for m in (1, 2, 5, 100)]
    assert scores == sorted(scores)


# ------------------------------------------------------------------------------ verbose
@pytest.mark.parametrize(
    ("params", "last_line"),
    [
        ({"tol": 0.0}, r"Converged at iteration \d+: strict convergence"),
        ({"tol": 10.0}, r"Converged at iteration 1: center shift .* within tolerance"),
        ({"tol": 0.0, "max_iter": 2}, r"Stopped at max_iter=2 without converging"),
    ],
    ids=["strict", "tol", "max_iter"],
)
def test_verbose_prints_each_iteration_and_why_it_stopped(capsys, params, last_line):
    X, _ = make_blobs(300, 2, centers=5, cluster_std=2.0, random_state=5)
    km = KMeans(5, init=X[:5], verbose=1, **params).fit(X)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "Initialization complete"
    steps = [line for line in lines if line.startswith("Iteration ")]
    assert len(steps) == km.n_iter_
    assert all(re.match(r"Iteration \d+, inertia .*, center shift ", line) for line in steps)
    assert re.match(last_line, lines[-1]), lines[-1]


def test_silent_by_default(capsys, blobs):
    KMeans(4, random_state=0).fit(blobs)
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------- toy problems by hand
def test_weighted_toy_problem_solved_by_hand(backend):
    # two groups; the weighted means are (0.25, 1) and (4.25, 4)
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [4.0, 4.0], [5.0, 4.0]])
    w = np.array([1.0, 1.0, 2.0, 3.0, 1.0])
    init = np.array([[0.0, 0.0], [5.0, 4.0]])
    km = KMeans(2, init=backend.asarray(init)).fit(
        backend.asarray(X), sample_weight=backend.asarray(w)
    )
    np.testing.assert_array_equal(backend.to_numpy(km.labels_), [0, 0, 0, 1, 1])
    np.testing.assert_allclose(backend.to_numpy(km.cluster_centers_), [[0.25, 1.0], [4.25, 4.0]])
    # 1.0625 + 1.5625 + 2 * 1.0625 + 3 * 0.0625 + 0.5625
    assert km.inertia_ == pytest.approx(5.5, rel=1e-12)
    assert km.n_iter_ == 2 and km.stop_reason_ == "strict"


def test_empty_clusters_move_to_the_farthest_weighted_points(backend):
    # both far-away centres attract nothing: they move onto 21 and 20, the points farthest from
    # the centre at 1; the weightless point at 100 is never chosen
    X = np.array([[0.0], [1.0], [2.0], [20.0], [21.0], [100.0]])
    w = np.array([1.0, 1.0, 1.0, 1.0, 3.0, 0.0])
    init = np.array([[1.0], [50.0], [-50.0]])
    km = KMeans(3, init=backend.asarray(init)).fit(
        backend.asarray(X), sample_weight=backend.asarray(w)
    )
    np.testing.assert_allclose(backend.to_numpy(km.cluster_centers_), [[1.0], [21.0], [20.0]])
    np.testing.assert_array_equal(backend.to_numpy(km.labels_), [0, 0, 0, 2, 1, 1])
    assert km.inertia_ == pytest.approx(2.0, rel=1e-12)
    # the second step moves 20 and 21 to the clusters already centred on them: nothing shifts
    assert km.n_iter_ == 2 and km.stop_reason_ == "tol"


def test_empty_cluster_relocation_matches_scikit_learn_without_weights():
    cluster = pytest.importorskip("sklearn.cluster")
    X = np.array([[0.0, 0.0], [0.2, 0.1], [3.0, 3.0], [3.1, 2.9], [8.0, 0.0], [9.0, 0.5]])
    init = np.array([[0.0, 0.0], [3.0, 3.0], [-40.0, 40.0], [40.0, -40.0]])
    ours = KMeans(4, init=init).fit(X)
    theirs = cluster.KMeans(4, init=init, n_init=1).fit(X)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, atol=1e-12)


def test_duplicate_points_do_not_duplicate_relocated_centres():
    # five centres on four distinct points: the spare one has nowhere better to go, so it stays
    X = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    with pytest.warns(exceptions.ConvergenceWarning, match=r"distinct clusters \(4\)"):
        km = KMeans(5, init=X).fit(X)
    assert km.n_iter_ == 1
    np.testing.assert_array_equal(km.cluster_centers_, X)


# ------------------------------------------------------------------------ initialisations
@pytest.mark.parametrize("init", ["k-means++", "random", "array", "callable", "list"])
def test_every_init_finds_well_separated_blobs(backend, init):
    X, y = make_blobs(300, 2, centers=[[0, 0], [30, 0], [0, 30]], cluster_std=0.5, random_state=6)
    seeds = np.array([[1.0, 1.0], [29.0, 1.0], [1.0, 29.0]])
    given = {
        "array": backend.asarray(seeds),
        "list": seeds.tolist(),
        # a callable gets the caller's data (as floats) and returns centres of its library
        "callable": lambda data, k, random_state: backend.asarray(seeds),
    }.get(init, init)
    km = KMeans(3, init=given, n_init=10 if init == "random" else "auto", random_state=0)
    labels = backend.to_numpy(km.fit(backend.asarray(X)).labels_)
    # the same partition as the true one, up to the names of the clusters
    assert len(set(zip(labels.tolist(), y.tolist()))) == 3


@pytest.mark.parametrize(
    ("init", "n_init", "runs"),
    [("k-means++", "auto", 1), ("random", "auto", 10), ("array", "auto", 1), ("random", 3, 3)],
)
def test_n_init_auto_and_explicit(capsys, init, n_init, runs):
    X, _ = make_blobs(100, 2, centers=3, random_state=7)
    KMeans(3, init=X[:3] if init == "array" else init, n_init=n_init, verbose=1).fit(X)
    assert capsys.readouterr().out.count("Initialization complete") == runs


def test_np_integer_n_clusters_and_array_like_init():
    X, _ = make_blobs(60, 2, centers=2, random_state=8)
    a = KMeans(np.int64(2), init=X[:2].tolist()).fit(X)
    b = KMeans(2, init=X[:2]).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)


def test_zero_weight_rows_are_never_initial_centres():
    X, _ = make_blobs(120, 4, centers=5, random_state=9)
    w = np.random.default_rng(0).uniform(size=120)
    w[::2] = 0.0
    for seed in range(5):
        _, idx = kmeans_plusplus(X, 10, sample_weight=w, random_state=seed)
        assert (w[to_numpy(idx)] > 0).all()
        _, idx = random_rows(X, 10, w, np.random.default_rng(seed), unit_weight=False)
        assert (w[to_numpy(idx)] > 0).all()


def test_weights_change_the_initialisation():
    X, _ = make_blobs(200, 5, centers=10, random_state=10)
    w = np.random.default_rng(1).uniform(size=200)
    a = KMeans(5, max_iter=1, random_state=0).fit(X, sample_weight=w)
    b = KMeans(5, max_iter=1, random_state=0).fit(X)
    assert not np.allclose(a.cluster_centers_, b.cluster_centers_)


# ------------------------------------------------------------------------------- weights
@pytest.mark.parametrize("init", ["k-means++", "array"])
def test_integer_weights_equal_repeated_rows_in_any_order(backend, init):
    X, _ = make_blobs(90, 3, centers=5, cluster_std=2.0, random_state=11)
    w = np.random.default_rng(2).integers(0, 4, size=90)
    order = np.random.default_rng(3).permutation(90)
    init_centres = X[[0, 20, 40, 60, 80]] if init == "array" else init
    for seed in range(3):
        repeated = KMeans(5, init=init_centres, random_state=seed).fit(
            backend.asarray(np.repeat(X, w, axis=0))
        )
        weighted = KMeans(5, init=init_centres, random_state=seed).fit(
            backend.asarray(X[order]), sample_weight=backend.asarray(w[order].astype(float))
        )
        np.testing.assert_allclose(
            backend.to_numpy(weighted.cluster_centers_),
            backend.to_numpy(repeated.cluster_centers_),
            rtol=0,
            atol=backend.tol(1e-10),
        )
        assert weighted.inertia_ == pytest.approx(repeated.inertia_, rel=backend.tol(1e-10))
        assert weighted.n_iter_ == repeated.n_iter_
        Xb = backend.asarray(X)
        np.testing.assert_array_equal(
            backend.to_numpy(weighted.predict(Xb)), backend.to_numpy(repeated.predict(Xb))
        )


def test_unit_weights_are_no_weights_and_scaling_weights_changes_nothing(blobs):
    w = np.random.default_rng(4).uniform(0.2, 3.0, size=blobs.shape[0])
    none = KMeans(4, random_state=0).fit(blobs)
    ones = KMeans(4, random_state=0).fit(blobs, sample_weight=np.ones(blobs.shape[0]))
    np.testing.assert_array_equal(none.labels_, ones.labels_)
    np.testing.assert_allclose(none.cluster_centers_, ones.cluster_centers_, atol=1e-12)
    a = KMeans(4, random_state=0).fit(blobs, sample_weight=w)
    b = KMeans(4, random_state=0).fit(blobs, sample_weight=w * 7.5)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-12)
    assert b.inertia_ == pytest.approx(7.5 * a.inertia_, rel=1e-12)


def test_unit_weights_are_kept_read_only_and_fresh_beyond_their_cap(monkeypatch):
    # NumPy's weights of 1 are one read-only array of ones, sliced, from fit to fit
    monkeypatch.setattr(_xp, "_unit_weights", {})
    a = _xp.unit_weights(np, 1000, np.float32, None)
    b = _xp.unit_weights(np, 10, np.float32, None)
    assert a.shape == (1000,) and b.shape == (10,) and np.shares_memory(a, b)
    assert (a == 1).all() and a.dtype == np.float32 and not a.flags.writeable
    grown = _xp.unit_weights(np, 2000, np.float32, None)
    assert grown.shape == (2000,) and (grown == 1).all()
    assert _xp.unit_weights(np, 3, np.float64, None).dtype == np.float64
    monkeypatch.setattr(_xp, "UNIT_WEIGHTS_MAX_BYTES", 4 * 2000)
    beyond = _xp.unit_weights(np, 2001, np.float32, None)
    assert (beyond == 1).all() and beyond.flags.writeable  # a fresh array, not kept
    assert not np.shares_memory(beyond, _xp.unit_weights(np, 2001, np.float32, None))


@pytest.mark.parametrize("n", [10, 1 << 14, (1 << 14) + 1, 100_003])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_sum_is_the_sum_of_the_products_in_float64(n, dtype):
    rng = np.random.default_rng(n)
    values = rng.uniform(0, 5, size=n).astype(dtype)
    w = rng.uniform(0.5, 2, size=n).astype(dtype)
    total = _xp.weighted_sum(np, values, w, np.float64)
    assert total.dtype == np.float64 and total.shape == ()
    assert float(total) == pytest.approx(float(np.sum(values * w, dtype=np.float64)), rel=1e-12)


def test_the_fits_labels_are_no_array_a_callback_was_handed():
    # the last assignment reuses a step's labels buffer only when nothing else holds it
    X = make_blobs(n_samples=20_000, centers=4, random_state=3)[0].astype(np.float32)
    seen = []

    def keep(info):
        seen.append((info.labels, info.labels.copy()))

    for callback in (keep, None):
        seen.clear()
        est = KMeans(4, init=X[:4], n_init=1, max_iter=6, tol=0, callback=callback).fit(X)
        for held, copy in seen:
            np.testing.assert_array_equal(held, copy)
            assert not np.shares_memory(held, est.labels_)
        np.testing.assert_array_equal(est.labels_, est.predict(X))


def test_shuffling_the_rows_shuffles_the_labels(blobs):
    order = np.random.default_rng(5).permutation(blobs.shape[0])
    a = KMeans(4, random_state=3).fit(blobs)
    b = KMeans(4, random_state=3).fit(blobs[order])
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-12)
    np.testing.assert_array_equal(a.labels_[order], b.labels_)


def test_kmeans_function_takes_weights_like_the_estimator(blobs):
    w = np.random.default_rng(6).integers(1, 3, size=blobs.shape[0])
    _, labels, inertia, n_iter = kmeans(blobs, 4, sample_weight=w, random_state=0)
    km = KMeans(4, random_state=0).fit(blobs, sample_weight=w)
    np.testing.assert_array_equal(labels, km.labels_)
    assert inertia == km.inertia_ and n_iter == km.n_iter_


# ----------------------------------------------------------------- dtypes and layouts
@pytest.mark.parametrize("dtype", ["int32", "int64", "bool", "float32", "float64"])
def test_dtypes(backend, dtype):
    X = np.array([[0, 0], [0, 1], [1, 1], [9, 9], [9, 8], [8, 9]])
    if dtype == "bool":
        X = X > 4
    km = KMeans(2, random_state=0).fit(backend.asarray(X.astype(dtype)))
    expected = backend.xp.float32 if dtype == "float32" else backend.float64
    assert km.cluster_centers_.dtype == expected
    assert km.transform(backend.asarray(X.astype(dtype))).dtype == expected
    assert km.labels_.dtype == backend.int64
    groups = backend.to_numpy(km.labels_)
    assert len(set(groups[:3])) == 1 and len(set(groups[3:])) == 1 and groups[0] != groups[3]


def test_float32_and_float64_find_the_same_clustering(blobs):
    init = blobs[[0, 60, 120, 180]]
    a = KMeans(4, init=init).fit(blobs)
    b = KMeans(4, init=init.astype(np.float32)).fit(blobs.astype(np.float32))
    assert b.cluster_centers_.dtype == np.float32 and isinstance(b.inertia_, float)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-5, atol=1e-5)
    assert b.inertia_ == pytest.approx(a.inertia_, rel=1e-5)


def test_weights_of_another_dtype_are_accepted(blobs):
    w = np.random.default_rng(7).integers(1, 4, size=blobs.shape[0])
    ref = KMeans(4, random_state=0).fit(blobs, sample_weight=w.astype(np.float64))
    for weights in (w, w.astype(np.float32), w.astype(np.int32)):
        km = KMeans(4, random_state=0).fit(blobs, sample_weight=weights)
        np.testing.assert_array_equal(km.labels_, ref.labels_)


@pytest.mark.parametrize("layout", ["fortran", "every-other-row", "reversed", "column-slice"])
def test_memory_layouts_give_the_contiguous_answer(layout):
    X, _ = make_blobs(200, 4, centers=3, random_state=12)
    wide = np.concatenate([X, X], axis=1)
    given = {
        "fortran": np.asfortranarray(X),
        "every-other-row": np.repeat(X, 2, axis=0)[::2],
        "reversed": X[::-1][::-1],
        "column-slice": wide[:, :4],
    }[layout]
    assert not given.flags.c_contiguous or layout == "reversed"
    ref = KMeans(3, random_state=0).fit(np.ascontiguousarray(X))
    km = KMeans(3, random_state=0).fit(given)
    np.testing.assert_array_equal(km.labels_, ref.labels_)
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, atol=1e-12)
    np.testing.assert_array_equal(km.predict(given), ref.labels_)


def test_strided_torch_tensors_give_the_contiguous_answer():
    torch = pytest.importorskip("torch")
    X, _ = make_blobs(200, 4, centers=3, random_state=12)
    ref = KMeans(3, random_state=0).fit(torch.asarray(X))
    for given in (torch.asarray(X).T.contiguous().T, torch.asarray(np.repeat(X, 2, axis=0))[::2]):
        assert not given.is_contiguous()
        km = KMeans(3, random_state=0).fit(given)
        torch.testing.assert_close(km.labels_, ref.labels_)
        torch.testing.assert_close(km.cluster_centers_, ref.cluster_centers_, rtol=0, atol=1e-12)


# --------------------------------------------------------------------- containers
def test_lists_and_dataframes_are_accepted_and_feature_names_recorded(blobs):
    pd = pytest.importorskip("pandas")
    ref = KMeans(4, random_state=0).fit(blobs)
    from_list = KMeans(4, random_state=0).fit(blobs.tolist())
    np.testing.assert_array_equal(from_list.labels_, ref.labels_)
    assert not hasattr(from_list, "feature_names_in_")

    df = pd.DataFrame(blobs, columns=["a", "b", "c"])
    km = KMeans(4, random_state=0).fit(df, sample_weight=pd.Series(np.ones(len(df))))
    np.testing.assert_array_equal(km.labels_, ref.labels_)
    assert km.feature_names_in_.tolist() == ["a", "b", "c"] and km.n_features_in_ == 3
    np.testing.assert_array_equal(km.predict(df), ref.labels_)
    assert km.get_feature_names_out().tolist() == ["kmeans0", "kmeans1", "kmeans2", "kmeans3"]
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        km.predict(blobs)
    with pytest.warns(UserWarning, match="X has feature names, but KMeans was fitted without"):
        ref.predict(df)
    with pytest.raises(ValueError, match="feature names should match"):
        km.predict(df[["c", "b", "a"]])


def test_torch_after_dataframe_warns_about_feature_names(blobs):
    pd = pytest.importorskip("pandas")
    torch = pytest.importorskip("torch")
    km = KMeans(4, random_state=0).fit(pd.DataFrame(blobs, columns=["a", "b", "c"]))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        labels = km.predict(torch.asarray(blobs))
    assert isinstance(labels, torch.Tensor)


def test_pickled_estimators_predict_the_same(backend, blobs):
    X = backend.asarray(blobs)
    km = KMeans(4, random_state=0).fit(X)
    try:
        clone = pickle.loads(pickle.dumps(km))
    except (TypeError, pickle.PicklingError, AttributeError) as exc:
        pytest.skip(f"{backend} arrays do not pickle: {exc}")
    np.testing.assert_array_equal(
        backend.to_numpy(clone.predict(X)), backend.to_numpy(km.predict(X))
    )
    assert clone.inertia_ == km.inertia_ and clone.get_params() == km.get_params()
