"""The hot operations: portable versions against brute force, native fast paths against the
portable versions on the same input."""

from __future__ import annotations

import contextlib
import importlib
import inspect

import array_api_compat
import numpy as np
import pytest

from kmeans_xp import _kernels
from kmeans_xp._kernels import chunk_rows, contract, kernels_for, portable
from tests.conftest import make_backend


def _data(seed=0, n=257, d=5, k=7):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    C = rng.normal(size=(k, d))
    w = rng.uniform(0.0, 3.0, size=n)
    return X, C, w


@pytest.mark.parametrize("rows", [1, 7, 64, 10_000])
def test_portable_assign_is_the_brute_force_argmin(backend, rows):
    X, C, _ = _data()
    labels, sqdist = portable.assign(backend.asarray(X), backend.asarray(C), chunk_rows=rows)
    full = ((X[:, None, :] - C[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(backend.to_numpy(labels), full.argmin(1))
    np.testing.assert_allclose(backend.to_numpy(sqdist), full.min(1), rtol=backend.tol(1e-12))


@pytest.mark.parametrize("rows", [1, 7, 64, 10_000])
def test_portable_segment_sum_is_a_weighted_bincount(backend, rows):
    X, C, w = _data(1)
    labels = np.random.default_rng(2).integers(0, C.shape[0] - 1, size=X.shape[0])  # last empty
    sums, weights = portable.segment_sum(
        backend.asarray(X),
        backend.asarray(labels),
        backend.asarray(w),
        C.shape[0],
        chunk_rows=rows,
    )
    k = C.shape[0]
    expected = np.stack(
        [np.bincount(labels, X[:, j] * w, minlength=k) for j in range(X.shape[1])], axis=1
    )
    tol = backend.tol(1e-12)
    np.testing.assert_allclose(backend.to_numpy(sums), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(
        backend.to_numpy(weights), np.bincount(labels, w, minlength=k), rtol=backend.tol(1e-7)
    )


# backends on which each native kernel module runs: (library, device)
_NATIVE_CASES = {
    "numpy": [("numpy", None)],
    "torch": [("torch", "cpu"), ("torch", "cuda")],
    "cupy": [("cupy", None)],
    "jax": [("jax", None), ("jax-x64", None)],
}


def _native_backends():
    params = []
    for library in sorted(_kernels._NATIVE):
        for name, device in _NATIVE_CASES.get(library, [(library, None)]):
            gpu = name == "cupy" or device == "cuda"
            params.append(
                pytest.param(
                    (name, device), id=f"{name}-{device}", marks=[pytest.mark.gpu] if gpu else []
                )
            )
    return params or [pytest.param(None, marks=pytest.mark.skip(reason="no native fast path"))]


@pytest.mark.parametrize("case", _native_backends())
@pytest.mark.parametrize(("n", "d", "k"), [(1, 1, 1), (300, 2, 3), (5000, 16, 40), (2000, 33, 300)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_native_fast_paths_match_portable(case, n, d, k, dtype, request):
    backend = make_backend(*case)
    if dtype == "float64" and not backend.has_float64:
        pytest.skip("float64 data become float32 on this backend (its float32 case runs)")
    mode = contextlib.ExitStack()  # JAX's 64-bit mode for this test only
    mode.enter_context(backend.mode())
    request.addfinalizer(mode.close)
    native = kernels_for(backend.xp)
    X, C, w = _data(3, n, d, k)
    Xb, Cb, wb = (backend.asarray(a, dtype) for a in (X, C, w))
    # the reference runs on the same backend, except Dask: sliced into 97-row chunks, a lazy
    # array makes the portable kernels build graphs that take seconds; NumPy copies stand in
    ref = make_backend("numpy", None) if backend.name == "dask" else backend
    Xr, Cr, wr = (ref.asarray(a, dtype) for a in (X, C, w))
    rows = 97
    tol = 1e-5 if dtype == "float32" else 1e-12

    labels, sqdist = native.assign(Xb, Cb, chunk_rows=rows)
    ref_labels, ref_sqdist = portable.assign(Xr, Cr, chunk_rows=rows)
    np.testing.assert_array_equal(backend.to_numpy(labels), backend.to_numpy(ref_labels))
    np.testing.assert_allclose(
        backend.to_numpy(sqdist), backend.to_numpy(ref_sqdist), rtol=tol, atol=tol
    )

    ref_sums, ref_weights = portable.segment_sum(Xr, ref_labels, wr, k, chunk_rows=rows)
    scale = max(1.0, float(np.abs(backend.to_numpy(ref_sums)).max()))
    step = native.lloyd_step(Xb, Cb, wb, chunk_rows=rows)
    np.testing.assert_array_equal(backend.to_numpy(step.labels), backend.to_numpy(ref_labels))
    np.testing.assert_allclose(
        backend.to_numpy(step.sums),
        backend.to_numpy(ref_sums),
        rtol=tol * 10,
        atol=tol * 10 * scale,
    )
    np.testing.assert_allclose(
        backend.to_numpy(step.weights), backend.to_numpy(ref_weights), rtol=tol * 10
    )


def test_chunk_rows_respects_the_budget():
    assert chunk_rows(10, 3, 2, 8, 2**30) == 10
    assert chunk_rows(10**7, 1024, 4, 4, 256 * 2**20) * 3 * (1024 + 4) * 4 <= 256 * 2**20
    assert chunk_rows(10**7, 10**6, 4, 8, 1) == 1
    assert chunk_rows(10**7, 8, 4, 4, 2**20, bytes_per_row=2**10) == 2**10


def test_chunk_rows_of_a_backend_follow_its_bytes_per_row(monkeypatch):
    kernels = kernels_for(np)
    X = np.zeros((10**6, 8), dtype=np.float32)
    budget = 2**24
    assert kernels.chunk_rows(X, 16, budget) == chunk_rows(10**6, 16, 8, 4, budget)
    monkeypatch.setattr(kernels, "step_bytes_per_row", lambda k, d, itemsize: 1000 * itemsize)
    assert kernels.chunk_rows(X, 16, budget) == budget // 4000


def test_unknown_namespaces_get_the_portable_kernels(xp):
    kernels = kernels_for(xp)
    for op in contract.OPERATIONS:
        assert callable(getattr(kernels, op))
    if kernels.name == "portable":
        assert kernels.make_workspace is None
        assert kernels.workspace_for(None, None, 3, 10) == {}


def _parameters(function):
    return {name: (p.kind, p.default) for name, p in inspect.signature(function).parameters.items()}


@pytest.mark.parametrize("library", sorted(_kernels._NATIVE))
def test_backend_modules_keep_to_the_contract(library):
    """Every name a backend module defines from the contract has the contract's parameters;
    ``workspace=`` exactly where the module makes workspaces; nothing else under an operation's
    name (a backend's extra public functions would be unreachable)."""
    if library in ("torch", "jax", "dask"):  # these modules import their library
        pytest.importorskip(library)
    module = importlib.import_module(_kernels._NATIVE[library], _kernels.__name__)
    required = inspect.Parameter.empty
    arg = (inspect.Parameter.POSITIONAL_OR_KEYWORD, required)
    keyword = inspect.Parameter.KEYWORD_ONLY
    with_workspace = hasattr(module, "make_workspace")
    workspace = {"workspace": (keyword, None)} if with_workspace else {}
    expected = {
        "assign": {"X": arg, "C": arg, "chunk_rows": (keyword, required), **workspace},
        "lloyd_step": {
            "X": arg,
            "C": arg,
            "w": arg,
            "chunk_rows": (keyword, required),
            "prev_labels": (keyword, None),
            **workspace,
        },
    }
    for name, parameters in expected.items():
        if hasattr(module, name):
            assert _parameters(getattr(module, name)) == parameters, (library, name)
    for hook in contract.HOOKS:
        if hasattr(module, hook):
            assert callable(getattr(module, hook))
    assert not hasattr(module, "segment_sum")  # the loop never calls a native one
    namespace = pytest.importorskip({"dask": "dask.array"}.get(library, library))
    assert kernels_for(namespace).name == library


def test_libraries_are_recognised_by_exact_name():
    from kmeans_xp._xp import namespace_name

    jnp = pytest.importorskip("jax.numpy")
    assert namespace_name(jnp) == "jax" and kernels_for(jnp).name == "jax"
    assert namespace_name(np) == "numpy"
    assert namespace_name(array_api_compat.numpy) == "numpy"


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_the_loop_hands_its_workspace_to_every_step_of_a_run(library, monkeypatch):
    """One workspace per run, made by the loop, given to each step and to the last assignment;
    a backend without workspaces gets no ``workspace=`` at all."""
    from kmeans_xp._lloyd import lloyd

    backend = make_backend(library, "cpu" if library == "torch" else None)
    kernels = kernels_for(backend.xp)
    made, seen = [], []
    real_step, real_assign, real_make = kernels.lloyd_step, kernels.assign, kernels.make_workspace
    if real_make is not None:
        monkeypatch.setattr(
            kernels, "make_workspace", lambda *a: made.append(real_make(*a)) or made[-1]
        )
    monkeypatch.setattr(
        kernels,
        "lloyd_step",
        lambda *a, **kw: seen.append(kw.get("workspace", "none")) or real_step(*a, **kw),
    )
    monkeypatch.setattr(
        kernels,
        "assign",
        lambda *a, **kw: seen.append(kw.get("workspace", "none")) or real_assign(*a, **kw),
    )
    X, C, w = _data(4, 500, 3, 4)
    for _ in range(2):
        lloyd(
            backend.asarray(X),
            backend.asarray(C),
            backend.asarray(w),
            max_iter=4,
            tol=-1.0,
            kernels=kernels,
            chunk_rows=100,
        )
    if real_make is None:
        assert seen == ["none"] * 10
    else:
        assert len(made) == 2 and made[0] is not made[1]
        assert seen == [made[0]] * 5 + [made[1]] * 5
