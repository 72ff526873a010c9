"""One answer on every backend: the same data and initial centres give the same labels and, within
the dtype's rounding, the same centres on every installed backend and kernel path.

The backends: NumPy with its native kernels and with the portable ones (the reference), array-api-
strict on both its devices, torch on the CPU, JAX (when kmeans_xp has a JAX backend; in 64-bit
mode), Dask, and CuPy and torch on CUDA when a device answers (marker ``gpu``). The cases are
the ones where paths part ways: exact ties (an integer grid), duplicate centres, duplicate rows,
float32 at large k, and a cluster that empties. Between them they take every native NumPy path
(cluster-major, row-major, and the bounded steps; checked below).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
from dataclasses import dataclass, field

import numpy as np
import pytest

from kmeans_xp import KMeans, _init, _kernels, kmeans_plusplus, make_blobs
from kmeans_xp._kernels import numpy_step, portable
from kmeans_xp._kernels.contract import DEFAULT_HOOKS, OPERATIONS, Kernels
from kmeans_xp._xp import compat_namespace, host_rng

from .conftest import Backend, make_backend


# --------------------------------------------------------------------------------- backends
@contextlib.contextmanager
def portable_numpy():
    """NumPy arrays fitted with the portable (reference) kernels instead of the native ones."""
    saved = _kernels._cache.get("numpy")
    _kernels._cache["numpy"] = Kernels(
        name="portable",
        **{op: getattr(portable, op) for op in OPERATIONS},
        **DEFAULT_HOOKS,
    )
    try:
        yield
    finally:
        if saved is None:
            _kernels._cache.pop("numpy", None)
        else:
            _kernels._cache["numpy"] = saved


BACKENDS = [
    pytest.param("numpy", id="numpy"),
    pytest.param("numpy-portable", id="numpy-portable"),
    pytest.param("strict", id="strict"),
    pytest.param("strict-device1", id="strict-device1"),
    pytest.param("torch", id="torch"),
    pytest.param("jax", id="jax"),
    pytest.param("dask", id="dask"),
    pytest.param("cupy", id="cupy", marks=pytest.mark.gpu),
    pytest.param("torch-cuda", id="torch-cuda", marks=pytest.mark.gpu),
]


@pytest.fixture(params=BACKENDS)
def backend(request) -> Backend:
    name = request.param
    if name == "numpy-portable":
        with portable_numpy():
            yield Backend("numpy-portable", compat_namespace(np))
        return
    if name == "jax":
        jax = pytest.importorskip("jax")
        if importlib.util.find_spec("kmeans_xp._kernels.jax") is None:
            pytest.skip("kmeans_xp has no JAX backend yet")
        with jax.enable_x64(True):  # float64 cases stay float64
            yield Backend("jax", compat_namespace(jax.numpy))
        return
    library, device = {
        "numpy": ("numpy", None),
        "strict": ("array_api_strict", None),
        "strict-device1": ("array_api_strict", "device1"),
        "torch": ("torch", "cpu"),
        "dask": ("dask", None),
        "cupy": ("cupy", None),
        "torch-cuda": ("torch", "cuda"),
    }[name]
    yield make_backend(library, device)


# ------------------------------------------------------------------------------------ cases
@dataclass(frozen=True)
class Case:
    """Data and the parameters of a fit, in NumPy; ``rtol`` is the centres' tolerance."""

    X: np.ndarray
    params: dict = field(default_factory=dict)
    rtol: float = 1e-10


def _grid() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 4, size=(5000, 2)).astype(np.float64)


@functools.cache
def case(name: str) -> Case:
    if name == "exact-ties":  # every distance is an integer: ties everywhere
        X = _grid()
        return Case(X, {"n_clusters": 5, "init": X[:5]})
    if name == "duplicate-centres":  # rows tie between the copies of a centre; one empties
        X, _ = make_blobs(3000, 2, centers=5, random_state=1)
        return Case(X, {"n_clusters": 6, "init": X[[0, 0, 1, 2, 2, 3]]})
    if name == "duplicate-rows":  # many columns: the row-major step
        X, _ = make_blobs(1000, 40, centers=6, random_state=2)
        X = np.repeat(X, 3, axis=0)
        return Case(X, {"n_clusters": 8, "init": "k-means++", "random_state": 0})
    if name == "float32-large-k":  # row-major, and bounded steps once few rows change
        X, _ = make_blobs(10_000, 16, centers=300, cluster_std=0.5, random_state=3)
        X = X.astype(np.float32)
        init = X[np.random.default_rng(3).choice(X.shape[0], 256, replace=False)]
        return Case(X, {"n_clusters": 256, "init": init, "max_iter": 30, "tol": 0.0}, rtol=1e-5)
    if name == "cluster-empties":  # a centre far from every row: it empties and is relocated
        X, _ = make_blobs(2000, 3, centers=4, random_state=4)
        init = np.concatenate([X[:3], np.full((1, 3), 1e3)])
        return Case(X, {"n_clusters": 4, "init": init})
    raise KeyError(name)


CASES = ["exact-ties", "duplicate-centres", "duplicate-rows", "float32-large-k", "cluster-empties"]


def _fit(backend: Backend, c: Case) -> KMeans:
    params = dict(c.params)
    if not isinstance(params.get("init", "k-means++"), str):
        params["init"] = backend.asarray(params["init"])
    return KMeans(**params).fit(backend.asarray(c.X))


@functools.cache
def reference(name: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(labels, centres, inertia) of the portable kernels on NumPy."""
    with portable_numpy():
        est = _fit(Backend("numpy-portable", compat_namespace(np)), case(name))
    return est.labels_, est.cluster_centers_, est.inertia_


@pytest.mark.parametrize("name", CASES)
def test_every_backend_gives_the_reference_labels_and_centres(backend, name):
    c = case(name)
    est = _fit(backend, c)
    labels, centers, inertia = reference(name)
    np.testing.assert_array_equal(backend.to_numpy(est.labels_), labels)
    scale = float(np.abs(c.X).max())
    np.testing.assert_allclose(
        backend.to_numpy(est.cluster_centers_), centers, rtol=c.rtol, atol=c.rtol * scale
    )
    assert est.inertia_ == pytest.approx(inertia, rel=c.rtol)


def test_the_integer_grid_gives_scikit_learns_answer():
    # in exact arithmetic every distance here is an integer: scikit-learn's labels are those of
    # argmin taking the lowest index among equal distances
    cluster = pytest.importorskip("sklearn.cluster")
    X = _grid()
    ref = cluster.KMeans(5, init=X[:5], n_init=1).fit(X)
    labels, _, inertia = reference("exact-ties")
    assert inertia == pytest.approx(2198.01, abs=0.005)
    assert ref.inertia_ == pytest.approx(inertia, rel=1e-12)
    np.testing.assert_array_equal(labels, ref.labels_)


def test_the_cases_take_every_native_numpy_path(monkeypatch):
    """Cluster-major scores, row-major scores and bounded steps: each is taken by some case (so
    a change of the thresholds that choose them cannot leave one untested here)."""
    seen = set()
    paths = {
        numpy_step.BY_CLUSTER: "cluster-major",
        numpy_step.BY_CLUSTER_UPDATE: "cluster-major",
        numpy_step.BY_ROW: "row-major",
        numpy_step.BY_ROW_UPDATE: "row-major",
        numpy_step.BOUNDED: "bounded",
    }
    original = numpy_step.choose_path

    def spy(*args, **kwargs):
        path = original(*args, **kwargs)
        seen.add(paths[path])
        return path

    monkeypatch.setattr(numpy_step, "choose_path", spy)
    for name in CASES:
        _fit(Backend("numpy", compat_namespace(np)), case(name))
    assert seen == set(paths.values())


# ------------------------------------------------------------------------- float32 seeding
@functools.cache
def _seeding_data() -> np.ndarray:
    # float32 blobs on which NumPy's and torch's float32 rounding once parted ways at draw 74
    X, _ = make_blobs(10_000, 16, centers=50, random_state=0)
    return X.astype(np.float32)


@functools.cache
def _reference_draws(kind: str) -> np.ndarray:
    X = _seeding_data()
    if kind == "k-means++":
        return kmeans_plusplus(X, 1000, random_state=0)[1]
    with portable_numpy():
        w = np.ones(X.shape[0], dtype=np.float32)
        return _init.kmeans_parallel(X, 1000, w, host_rng(0), n_refine_iter=0)[1]


@pytest.mark.parametrize("kind", ["k-means++", "k-means||"])
def test_float32_seeding_draws_the_same_rows_on_every_backend(backend, kind):
    if backend.name == "dask" and kind == "k-means++":
        pytest.skip("k-means++ reads X once per centre: 1,000 graph passes on Dask")
    X = backend.asarray(_seeding_data())
    if kind == "k-means++":
        _, idx = kmeans_plusplus(X, 1000, random_state=0)
    else:
        w = backend.asarray(np.ones(X.shape[0], dtype=np.float32))
        _, idx = _init.kmeans_parallel(X, 1000, w, host_rng(0), n_refine_iter=0)
    np.testing.assert_array_equal(backend.to_numpy(idx), _reference_draws(kind))
