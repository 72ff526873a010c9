"""Bad input is refused with a ValueError or TypeError that names what was received and what was
expected; data of other libraries is converted; the caller's arrays are never changed."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

from kmeans_xp import KMeans, kmeans_plusplus, make_blobs
from kmeans_xp._xp import to_numpy

exceptions = pytest.importorskip("sklearn.exceptions")

X4 = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 10.0], [10.0, 11.0], [5.0, 5.0]])


def _fit(backend, X, **params):
    return KMeans(**{"n_clusters": 2, "random_state": 0, **params}).fit(backend.asarray(X))


# ------------------------------------------------------------------------------------- X
@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.where(X4 == 5.0, np.nan, X4), r"Input X contains NaN"),
        (np.where(X4 == 5.0, np.inf, X4), r"Input X contains infinity"),
        (np.where(X4 == 5.0, -np.inf, X4), r"Input X contains infinity"),
        (X4[:, 0], r"Expected 2D array, got 1D array"),
        (X4.reshape(5, 2, 1), r"Found array with dim 3.*dim <= 2 is required by KMeans"),
        (np.zeros((0, 2)), r"Found array with 0 sample\(s\) \(shape=\(0, 2\)\).*minimum of 1"),
        (np.zeros((5, 0)), r"Found array with 0 feature\(s\) \(shape=\(5, 0\)\).*minimum of 1"),
        (X4 + 1j, r"Complex data not supported"),
        (
            X4 * 1e200,
            r"too large for k-means \(largest magnitude 1\.1e\+201\).*overflows \S*float64",
        ),
    ],
    ids=["nan", "inf", "-inf", "1-D", "3-D", "no rows", "no features", "complex", "huge"],
)
def test_bad_X_is_refused_on_every_backend(backend, X, match):
    if match.startswith("too large") and not backend.has_float64:
        pytest.skip("1e201 has no float32 value: this backend cannot hold the data")
    with pytest.raises(ValueError, match=match):
        _fit(backend, X)


def test_scalar_X_is_refused():
    with pytest.raises(ValueError, match=r"Expected 2D array, got (0D array|scalar)"):
        KMeans(2).fit(np.float64(3.0))


@pytest.mark.parametrize(
    "X",
    [np.array([["a", "b"], ["c", "d"], ["e", "f"]]), [["a", "b"], ["c", "d"], ["e", "f"]]],
    ids=["str-array", "str-list"],
)
def test_strings_are_refused(X):
    with pytest.raises(ValueError, match=r"(bytes/strings|real numbers|convert string)"):
        KMeans(2).fit(X)


def test_object_array_of_non_numbers_is_refused():
    X = X4.astype(object)
    X[0, 0] = {"a": 1}
    with pytest.raises(TypeError, match=r"must be a string.* number"):
        KMeans(2).fit(X)


# ------------------------------------------------------------------------------ parameters
@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_clusters": 0}, r"n_clusters must be an integer >= 1; got 0"),
        ({"n_clusters": -3}, r"n_clusters must be an integer >= 1; got -3"),
        ({"n_clusters": 2.5}, r"n_clusters must be an integer >= 1; got 2.5"),
        ({"n_clusters": 2.0}, r"n_clusters must be an integer >= 1; got 2.0"),
        ({"n_clusters": "2"}, r"n_clusters must be an integer >= 1; got '2'"),
        ({"n_clusters": True}, r"n_clusters must be an integer >= 1; got True"),
        ({"n_clusters": 6}, r"n_samples=5 should be >= n_clusters=6"),
        (
            {"init": "kmeans++"},
            r"init must be one of \('auto', 'k-means\+\+', 'k-means\|\|', 'random'\).*'kmeans\+\+'",
        ),
        ({"init": np.zeros((3, 2))}, r"initial centers \(3, 2\) does not match the number of clu"),
        ({"init": np.zeros((2, 3))}, r"initial centers \(2, 3\) does not match the number of fea"),
        ({"init": np.zeros(2)}, r"initial centers \(2,\) does not match .* = \(2, 2\)"),
        ({"init": np.full((2, 2), np.nan)}, r"Input init contains NaN"),
        ({"n_init": 0}, r"n_init must be 'auto' or an integer >= 1; got 0"),
        ({"n_init": -1}, r"n_init must be 'auto' or an integer >= 1; got -1"),
        ({"n_init": "warn"}, r"n_init must be 'auto' or an integer >= 1; got 'warn'"),
        ({"max_iter": 0}, r"max_iter must be an integer >= 1; got 0"),
        ({"max_iter": 1.5}, r"max_iter must be an integer >= 1; got 1.5"),
        ({"tol": -1e-4}, r"tol must be a number >= 0; got -0.0001"),
        ({"tol": "small"}, r"tol must be a number >= 0; got 'small'"),
        ({"algorithm": "full"}, r"algorithm must be one of \('lloyd', 'elkan'\); got 'full'"),
        ({"random_state": "seed"}, r"random_state must be None, an int.*got 'seed'"),
        ({"working_memory": 0}, r"working_memory must be a positive finite number of MiB; got 0"),
        ({"working_memory": float("inf")}, r"working_memory must be a positive finite.*got inf"),
        ({"working_memory": float("nan")}, r"working_memory must be a positive finite.*got nan"),
        ({"working_memory": True}, r"working_memory must be a positive finite.*got True"),
        ({"callback": 5}, r"callback must be None or a callable.*got 5"),
        ({"verbose": "yes"}, r"verbose must be an integer >= 0 \(or a bool\); got 'yes'"),
        ({"verbose": -1}, r"verbose must be an integer >= 0 \(or a bool\); got -1"),
        ({"init": np.zeros((2, 2)) + 1j}, r"Complex data not supported: init has dtype complex"),
    ],
)
def test_bad_parameters_are_refused(params, match):
    with pytest.raises(ValueError, match=match):
        KMeans(**{"n_clusters": 2, **params}).fit(X4)


@pytest.mark.parametrize(
    "params",
    [
        {"working_memory": float("inf")},
        {"callback": 5},
        {"verbose": "yes"},
        {"random_state": "seed"},
        {"init": np.zeros((3, 2))},
        {"init": np.zeros((2, 2)) + 1j},
        {"max_iter": 0},
    ],
    ids=lambda p: f"{next(iter(p))}={p[next(iter(p))]!r}"[:30],
)
def test_every_parameter_is_checked_before_any_work(params, monkeypatch):
    def work(*args, **kwargs):
        raise AssertionError("the fit started before its parameters were checked")

    monkeypatch.setattr(KMeans, "_fit", work)
    with pytest.raises(ValueError):
        KMeans(**{"n_clusters": 2, **params}).fit(X4)


@pytest.mark.parametrize(
    ("sample_weight", "match"),
    [
        (np.ones(4), r"sample_weight must have shape \(5,\).*got shape \(4,\)"),
        (np.ones((5, 1)), r"sample_weight must have shape \(5,\).*got shape \(5, 1\)"),
        (np.array([1.0, np.nan, 1.0, 1.0, 1.0]), r"Input sample_weight contains NaN"),
        (np.array([1.0, np.inf, 1.0, 1.0, 1.0]), r"Input sample_weight contains infinity"),
        (np.zeros(5), r"sample_weight must not be all zero"),
        (np.array([1.0, -1.0, 1.0, 1.0, 1.0]), r"sample_weight must be >= 0"),
    ],
    ids=["short", "2-D", "nan", "inf", "all-zero", "negative"],
)
def test_bad_sample_weight_is_refused_on_every_backend(backend, sample_weight, match):
    with pytest.raises(ValueError, match=match):
        KMeans(2).fit(backend.asarray(X4), sample_weight=backend.asarray(sample_weight))


def test_kmeans_plusplus_function_validates_too():
    with pytest.raises(ValueError, match=r"n_clusters must be an integer in \[1, n_samples=5\]"):
        kmeans_plusplus(X4, 6)
    with pytest.raises(ValueError, match=r"n_local_trials must be None or an integer >= 1"):
        kmeans_plusplus(X4, 2, n_local_trials=0)
    with pytest.raises(ValueError, match=r"Input X contains NaN"):
        kmeans_plusplus(np.where(X4 == 5.0, np.nan, X4), 2)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        ((X4 * 1e20).astype(np.float32), r"too large for k-means in float32 \(largest magnitude"),
        (X4 * 1e200, r"too large for k-means \(largest magnitude 1\.1e\+201\).*overflows float64"),
    ],
    ids=["float32", "float64"],
)
def test_kmeans_plusplus_refuses_data_whose_squares_overflow_as_kmeans_does(X, match):
    with pytest.raises(ValueError, match=match):
        kmeans_plusplus(X, 2, random_state=0)
    with pytest.raises(ValueError, match=match):
        KMeans(2, random_state=0).fit(X)


@pytest.mark.parametrize("name", ["sample_weight", "init"])
def test_complex_weights_and_centres_are_refused_like_complex_X(backend, name):
    value = np.ones(5) + 1j if name == "sample_weight" else X4[:2] + 1j
    args = {"sample_weight": backend.asarray(value)} if name == "sample_weight" else {}
    est = KMeans(2, init=backend.asarray(value) if name == "init" else "k-means++")
    with pytest.raises(ValueError, match=rf"Complex data not supported: {name} has dtype"):
        est.fit(backend.asarray(X4), **args)


# ----------------------------------------------------------------------------- inference
@pytest.mark.parametrize("method", ["predict", "transform", "score"])
def test_inference_before_fit_is_not_fitted_error(backend, method):
    with pytest.raises(exceptions.NotFittedError, match=r"KMeans instance is not fitted yet"):
        getattr(KMeans(2), method)(backend.asarray(X4))


@pytest.mark.parametrize("method", ["predict", "transform", "score"])
def test_inference_with_the_wrong_number_of_features(backend, method):
    km = _fit(backend, X4)
    with pytest.raises(ValueError, match=r"X has 3 features, but KMeans is expecting 2 features"):
        getattr(km, method)(backend.asarray(np.ones((4, 3))))


def test_inference_refuses_bad_X_too(backend):
    km = _fit(backend, X4)
    with pytest.raises(ValueError, match=r"Input X contains NaN"):
        km.predict(backend.asarray(np.full((2, 2), np.nan)))
    with pytest.raises(ValueError, match=r"Expected 2D array, got 1D array"):
        km.transform(backend.asarray(np.ones(2)))


# ------------------------------------------------------------------------------- warnings
def test_fewer_distinct_points_than_clusters_is_a_convergence_warning(backend):
    X = np.array([[1.0, 1.0]] * 4 + [[3.0, 3.0]] * 4)
    with pytest.warns(exceptions.ConvergenceWarning) as record:
        km = KMeans(3, random_state=0).fit(backend.asarray(X))
    assert len(record) == 1
    assert "Number of distinct clusters (2) found smaller than n_clusters (3)" in str(
        record[0].message
    )
    assert np.isfinite(backend.to_numpy(km.cluster_centers_)).all()
    assert len(np.unique(backend.to_numpy(km.labels_))) == 2


def test_explicit_init_with_several_n_init_runs_once_with_a_runtime_warning():
    init = X4[[0, 2]]
    with pytest.warns(RuntimeWarning, match=r"only one init in KMeans instead of n_init=4"):
        warned = KMeans(2, init=init, n_init=4).fit(X4)
    once = KMeans(2, init=init, n_init=1).fit(X4)  # no warning (warnings are errors here)
    np.testing.assert_array_equal(warned.labels_, once.labels_)
    assert warned.n_iter_ == once.n_iter_


def test_explicit_init_with_auto_n_init_does_not_warn():
    KMeans(2, init=X4[[0, 2]]).fit(X4)  # warnings are errors in this test suite


# --------------------------------------------------------------------- mixed libraries
def test_numpy_init_and_weights_with_other_library_X_give_the_numpy_answer(backend):
    X, _ = make_blobs(200, 3, centers=4, random_state=5)
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=200)
    init = X[[0, 50, 100, 150]]
    ref = KMeans(4, init=init).fit(X, sample_weight=w)
    est = KMeans(4, init=init).fit(backend.asarray(X), sample_weight=w)  # host init and weights
    assert type(est.cluster_centers_) is type(backend.asarray(X))
    np.testing.assert_array_equal(backend.to_numpy(est.labels_), ref.labels_)
    np.testing.assert_allclose(
        backend.to_numpy(est.cluster_centers_), ref.cluster_centers_, atol=backend.tol(1e-10)
    )
    # lists are host data too
    lists = KMeans(4, init=init.tolist()).fit(backend.asarray(X), sample_weight=w.tolist())
    np.testing.assert_array_equal(backend.to_numpy(lists.labels_), ref.labels_)


def test_small_arrays_of_another_library_or_device_are_converted_to_Xs():
    torch = pytest.importorskip("torch")
    xps = pytest.importorskip("array_api_strict")
    X, _ = make_blobs(150, 2, centers=3, random_state=1)
    init = X[[0, 60, 120]]
    ref = KMeans(3, init=init).fit(X)
    # array-api-strict X on its second device, torch init and weights
    X_dev1 = xps.asarray(X, device=xps.Device("device1"))
    est = KMeans(3, init=torch.asarray(init)).fit(X_dev1, sample_weight=torch.ones(150))
    assert est.cluster_centers_.device == X_dev1.device
    np.testing.assert_array_equal(to_numpy(est.labels_), ref.labels_)
    # torch X, init on the other array-api-strict device
    init_dev1 = xps.asarray(init, device=xps.Device("device1"))
    est = KMeans(3, init=init_dev1).fit(torch.asarray(X))
    assert isinstance(est.labels_, torch.Tensor)
    np.testing.assert_array_equal(est.labels_.numpy(), ref.labels_)


def test_predict_converts_the_fitted_centres_to_the_data_library():
    torch = pytest.importorskip("torch")
    X, _ = make_blobs(100, 2, centers=3, random_state=2)
    km = KMeans(3, random_state=0).fit(torch.asarray(X))
    labels = km.predict(X)
    assert isinstance(labels, np.ndarray)
    np.testing.assert_array_equal(labels, km.labels_.numpy())


# -------------------------------------------------------------------- nothing is changed
def test_fit_and_inference_leave_X_and_sample_weight_bit_identical(backend):
    X, _ = make_blobs(120, 3, centers=3, random_state=3)
    w = np.random.default_rng(1).integers(0, 3, size=120).astype(np.float64)
    X_b, w_b = backend.asarray(X), backend.asarray(w)
    km = KMeans(3, random_state=0, n_init=2).fit(X_b, sample_weight=w_b)
    km.predict(X_b), km.transform(X_b), km.score(X_b, sample_weight=w_b)
    km.fit_predict(X_b, sample_weight=w_b)
    # compare the bytes: bit-identical, not just equal (to the float32 data JAX's 32-bit mode
    # made of them)
    dtype = backend.to_numpy(X_b).dtype
    assert backend.to_numpy(X_b).tobytes() == X.astype(dtype).tobytes()
    assert backend.to_numpy(w_b).tobytes() == w.astype(dtype).tobytes()


def test_fit_leaves_a_float32_fortran_numpy_X_bit_identical():
    X, _ = make_blobs(80, 3, centers=2, random_state=4)
    X = np.asfortranarray(X.astype(np.float32))
    before = X.copy(order="K")
    KMeans(2, random_state=0).fit(X)
    assert X.flags.f_contiguous and X.tobytes(order="A") == before.tobytes(order="A")


def test_predict_on_another_device_of_the_same_library_follows_the_data():
    xps = pytest.importorskip("array_api_strict")
    X, _ = make_blobs(90, 2, centers=3, random_state=4)
    device1 = xps.Device("device1")
    km = KMeans(3, random_state=0).fit(xps.asarray(X, device=device1))
    labels = km.predict(xps.asarray(X))
    assert labels.device == xps.asarray(X).device
    np.testing.assert_array_equal(to_numpy(labels), to_numpy(km.labels_))


# ------------------------------------------------------------------- dtypes and tensor flags
PIXELS = np.random.default_rng(0).integers(0, 256, size=(600, 3)).astype(np.float16)


def test_float32_values_whose_squares_overflow_are_refused_naming_float32(backend):
    X = (X4 * 1e20).astype(np.float32)
    with pytest.raises(ValueError, match=r"too large for k-means.*overflows float32"):
        _fit(backend, X)


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_float16_pixels_are_fitted_in_float32_as_scikit_learn_does(library):
    cluster = pytest.importorskip("sklearn.cluster")
    init = PIXELS[[0, 100, 200, 300]].astype(np.float32)
    ref = cluster.KMeans(4, init=init, n_init=1).fit(PIXELS)
    if library == "torch":
        torch = pytest.importorskip("torch")
        X = torch.asarray(PIXELS)
    else:
        X = PIXELS
    est = KMeans(4, init=init).fit(X)
    assert est.cluster_centers_.dtype == (torch.float32 if library == "torch" else np.float32)
    np.testing.assert_array_equal(to_numpy(est.labels_), ref.labels_)
    np.testing.assert_allclose(to_numpy(est.cluster_centers_), ref.cluster_centers_, rtol=1e-5)
    assert est.inertia_ == pytest.approx(ref.inertia_, rel=1e-5)


def test_torch_bfloat16_is_fitted_in_float32():
    torch = pytest.importorskip("torch")
    X = torch.asarray(PIXELS.astype(np.float32), dtype=torch.bfloat16)
    est = KMeans(4, random_state=0).fit(X)
    ref = KMeans(4, random_state=0).fit(X.float())
    assert est.cluster_centers_.dtype == torch.float32
    torch.testing.assert_close(est.cluster_centers_, ref.cluster_centers_)
    assert to_numpy(X).dtype == np.float32  # NumPy has no bfloat16: its values, exactly
    centers, _ = kmeans_plusplus(X, 4, random_state=0)
    assert centers.dtype == torch.float32


def test_torch_tensors_without_values_get_a_clear_type_error():
    torch = pytest.importorskip("torch")
    X = torch.asarray(X4)
    with pytest.raises(TypeError, match=r"sparse input of type torch\.Tensor.*SciPy sparse"):
        KMeans(2).fit(X.to_sparse())
    with warnings.catch_warnings():  # torch: "Sparse CSR tensor support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        csr = X.to_sparse_csr()
    with pytest.raises(TypeError, match=r"sparse input of type torch\.Tensor.*SciPy sparse"):
        KMeans(2).fit(csr)
    with pytest.raises(TypeError, match=r"X is a torch tensor on the 'meta' device"):
        KMeans(2).fit(torch.empty((5, 2), device="meta"))
    with pytest.raises(TypeError, match=r"sample_weight is a sparse torch tensor"):
        KMeans(2).fit(X, sample_weight=torch.ones(5, dtype=X.dtype).to_sparse())


@pytest.mark.parametrize("what", ["X", "sample_weight", "init"])
def test_fitted_attributes_never_carry_an_autograd_graph(what):
    torch = pytest.importorskip("torch")
    X = torch.asarray(X4, requires_grad=what == "X")
    w = torch.ones(5, dtype=X.dtype, requires_grad=what == "sample_weight")
    init = torch.asarray(X4[:2], requires_grad=what == "init") if what == "init" else "k-means++"
    est = KMeans(2, init=init, random_state=0).fit(X, sample_weight=w)
    for value in (est.cluster_centers_, est.labels_, est.transform(X), est.predict(X)):
        assert not value.requires_grad and value.grad_fn is None
    clone = copy.deepcopy(est)
    torch.testing.assert_close(clone.cluster_centers_, est.cluster_centers_)
