"""CuPy and torch CUDA through the engine: parity with NumPy, native kernels against portable on
the device, outputs on the input's device, no synchronisation inside the kernels and one host
sync per iteration, bounded working memory. Every test needs a CUDA device that answers (the
conftest skips them otherwise); run them with ``pytest -m gpu``."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from kmeans_xp import KMeans
from kmeans_xp._kernels import chunk_rows, kernels_for, portable
from kmeans_xp.datasets import make_blobs
from tests.conftest import make_backend

pytestmark = pytest.mark.gpu


@pytest.fixture(
    params=[("cupy", None, True), ("torch", "cuda", True), ("torch", "cuda", False)],
    ids=["cupy", "torch-cuda", "torch-cuda-native"],
)
def gpu(request, monkeypatch):
    """A GPU backend; torch CUDA both through the CuPy kernels (the default where CuPy is
    installed) and through torch's own operations."""
    name, device, via_cupy = request.param
    backend = make_backend(name, device)
    if name != "torch":
        yield backend
        return
    from kmeans_xp._kernels import torch as torch_kernels

    monkeypatch.setattr(torch_kernels, "CUDA_VIA_CUPY", via_cupy)
    yield backend
    # the route through CuPy must not have failed over to torch's own operations
    assert torch_kernels.CUPY_ROUTE_ERROR is None, torch_kernels.CUPY_ROUTE_ERROR


def _on_input_device(backend, a, like):
    if backend.name == "cupy":
        import cupy

        return isinstance(a, cupy.ndarray) and a.device.id == like.device.id
    return a.device == like.device


@contextlib.contextmanager
def _no_device_sync(backend):
    """Fail on any host synchronisation inside the block (CuPy: allow_synchronize(False);
    torch: sync debug mode 'error')."""
    if backend.name == "cupy":
        import cupyx

        with cupyx.allow_synchronize(False):
            yield
    else:
        import torch

        torch.cuda.set_sync_debug_mode("error")
        try:
            yield
        finally:
            torch.cuda.set_sync_debug_mode("default")


def _blobs(n=20_000, d=8, k=6, seed=0):
    X, _ = make_blobs(n, d, centers=k, cluster_std=1.5, random_state=seed)
    X = X.astype(np.float32)
    init = X[np.random.default_rng(seed).choice(n, size=k, replace=False)]
    return X, init


def test_fit_from_the_same_init_matches_numpy(gpu):
    X, init = _blobs()
    ref = KMeans(6, init=init, n_init=1, max_iter=100).fit(X)
    Xg = gpu.asarray(X)
    got = KMeans(6, init=gpu.asarray(init), n_init=1, max_iter=100).fit(Xg)
    np.testing.assert_array_equal(gpu.to_numpy(got.labels_), ref.labels_)
    scale = float(np.abs(ref.cluster_centers_).max())
    np.testing.assert_allclose(
        gpu.to_numpy(got.cluster_centers_), ref.cluster_centers_, rtol=1e-5, atol=1e-5 * scale
    )
    np.testing.assert_allclose(got.inertia_, ref.inertia_, rtol=1e-5)
    assert got.n_iter_ == ref.n_iter_ and got.stop_reason_ == ref.stop_reason_
    for out in (got.labels_, got.cluster_centers_, got.predict(Xg), got.transform(Xg)):
        assert _on_input_device(gpu, out, Xg)
    assert str(got.labels_.dtype).endswith("int64")
    assert str(got.cluster_centers_.dtype).endswith("float32")


def test_same_seed_same_clustering_as_numpy(gpu):
    X, _ = _blobs(seed=3)
    ref = KMeans(6, random_state=7).fit(X)
    got = KMeans(6, random_state=7).fit(gpu.asarray(X))
    np.testing.assert_array_equal(gpu.to_numpy(got.labels_), ref.labels_)
    np.testing.assert_allclose(
        gpu.to_numpy(got.cluster_centers_), ref.cluster_centers_, rtol=1e-4, atol=1e-4
    )


def test_cupy_and_torch_cuda_agree():
    cp, tc = make_backend("cupy", None), make_backend("torch", "cuda")
    X, init = _blobs(n=50_000, d=16, k=40, seed=1)
    fits = [
        KMeans(40, init=b.asarray(init), n_init=1, max_iter=20, tol=0).fit(b.asarray(X))
        for b in (cp, tc)
    ]
    np.testing.assert_array_equal(cp.to_numpy(fits[0].labels_), tc.to_numpy(fits[1].labels_))
    np.testing.assert_allclose(
        cp.to_numpy(fits[0].cluster_centers_),
        tc.to_numpy(fits[1].cluster_centers_),
        rtol=1e-5,
        atol=1e-4,
    )


def _assert_same_labels_up_to_ties(X, C, labels, ref_labels, tol):
    """Equal labels, except where the two centres are equally near (the GEMM behind ``addmm``
    may round differently from the one behind ``@`` followed by ``+``)."""
    differ = np.flatnonzero(labels != ref_labels)
    assert len(differ) <= max(1, len(labels) // 10_000), f"{len(differ)} labels differ"
    for i in differ:
        a, b = ((X[i] - C[labels[i]]) ** 2).sum(), ((X[i] - C[ref_labels[i]]) ** 2).sum()
        assert abs(a - b) <= 100 * tol * max(a, b, 1.0), (i, a, b)


@pytest.mark.parametrize("k", [1, 8, 33, 1024])
@pytest.mark.parametrize("rows", [1000, 30_000])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("d", [24, 13])  # float32 with d % 4 == 0: the float4 path on sm_90
def test_native_kernels_match_portable_on_the_device(gpu, k, rows, dtype, d):
    rng = np.random.default_rng(k + rows + d)
    n = 30_000
    X = rng.normal(size=(n, d))
    C = X[rng.choice(n, size=k, replace=False)] + 0.01 * rng.normal(size=(k, d))
    w = rng.uniform(0.5, 2.0, size=n)
    Xg, Cg, wg = (gpu.asarray(a, dtype) for a in (X, C, w))
    native = kernels_for(gpu.xp)
    assert native.name == gpu.name.split(":")[0]
    tol = 1e-5 if dtype == "float32" else 1e-12

    step = native.lloyd_step(Xg, Cg, wg, chunk_rows=rows)
    labels, sqdist, sums, weights = step.labels, step.sqdist, step.sums, step.weights
    ref_labels, ref_sqdist = portable.assign(Xg, Cg, chunk_rows=rows)
    ref_sums, ref_weights = portable.segment_sum(Xg, labels, wg, k, chunk_rows=rows)
    _assert_same_labels_up_to_ties(X, C, gpu.to_numpy(labels), gpu.to_numpy(ref_labels), tol)
    np.testing.assert_allclose(
        gpu.to_numpy(sqdist), gpu.to_numpy(ref_sqdist), rtol=tol * 10, atol=tol * 10
    )
    scale = max(1.0, float(np.abs(gpu.to_numpy(ref_sums)).max()))
    np.testing.assert_allclose(
        gpu.to_numpy(sums), gpu.to_numpy(ref_sums), rtol=tol * 100, atol=tol * 100 * scale
    )
    np.testing.assert_allclose(gpu.to_numpy(weights), gpu.to_numpy(ref_weights), rtol=tol * 100)
    for out in (labels, sqdist, sums, weights):
        assert _on_input_device(gpu, out, Xg)

    labels2, sqdist2 = native.assign(Xg, Cg, chunk_rows=rows)
    np.testing.assert_array_equal(gpu.to_numpy(labels2), gpu.to_numpy(labels))
    np.testing.assert_array_equal(gpu.to_numpy(sqdist2), gpu.to_numpy(sqdist))


@pytest.mark.parametrize("d", [2, 4])  # float32, d=4: the float4 rows on sm_90
def test_ties_go_to_the_lowest_index(gpu, d):
    X = np.array([[0.0, 0.0], [0.0, 3.0], [0.0, -2.0]] * 100)
    C = np.array([[5.0, 5.0], [1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]])
    X, C = np.pad(X, ((0, 0), (0, d - 2))), np.pad(C, ((0, 0), (0, d - 2)))
    native = kernels_for(gpu.xp)
    for dtype in ("float32", "float64"):
        labels, sqdist = native.assign(gpu.asarray(X, dtype), gpu.asarray(C, dtype), chunk_rows=7)
        np.testing.assert_array_equal(gpu.to_numpy(labels), np.ones(len(X), dtype=np.int64))
        np.testing.assert_allclose(gpu.to_numpy(sqdist), 1.0 + X[:, 1] ** 2)


def test_non_contiguous_input(gpu):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(5000, 12)).astype(np.float32)
    C = X[:50].copy()
    Xg = gpu.asarray(X)[::2]  # strided rows
    Cg, wg = gpu.asarray(C), gpu.asarray(np.ones(2500, dtype=np.float32))
    native = kernels_for(gpu.xp)
    step = native.lloyd_step(Xg, Cg, wg, chunk_rows=333)
    ref = portable.lloyd_step(Xg, Cg, wg, chunk_rows=333)
    np.testing.assert_array_equal(gpu.to_numpy(step.labels), gpu.to_numpy(ref.labels))
    np.testing.assert_allclose(
        gpu.to_numpy(step.sums), gpu.to_numpy(ref.sums), rtol=1e-4, atol=1e-3
    )


@pytest.mark.parametrize("k", [8, 100])
def test_kernels_never_synchronise(gpu, k):
    rng = np.random.default_rng(0)
    X = gpu.asarray(rng.normal(size=(20_000, 16)), "float32")
    C = gpu.asarray(rng.normal(size=(k, 16)), "float32")
    w = gpu.asarray(np.ones(20_000), "float32")
    native = kernels_for(gpu.xp)
    native.lloyd_step(X, C, w, chunk_rows=3000)  # compile outside the check
    with _no_device_sync(gpu):
        native.lloyd_step(X, C, w, chunk_rows=3000)
        native.assign(X, C, chunk_rows=3000)


# one host sync per iteration: tests/test_engine.py::test_one_host_sync_per_iteration runs on
# the GPU backends too (the backend fixture)


def test_working_memory_stays_within_the_budget():
    make_backend("cupy", None)
    import cupy

    n, d, k = 1_000_000, 32, 1024
    budget = 64 * 2**20
    X = cupy.random.standard_normal((n, d), dtype=cupy.float32)
    C = X[:k].copy()
    w = cupy.ones((n,), dtype=cupy.float32)
    kernels = kernels_for(make_backend("cupy", None).xp)
    rows = chunk_rows(n, k, d, 4, budget, kernels.free_memory(X))
    kernels.lloyd_step(X, C, w, chunk_rows=rows)  # compile, warm the pool
    cupy.cuda.Device().synchronize()
    pool = cupy.get_default_memory_pool()
    base, peak = pool.used_bytes(), [0]

    def tracking(size):
        memory = pool.malloc(size)
        peak[0] = max(peak[0], pool.used_bytes())
        return memory

    cupy.cuda.set_allocator(tracking)
    try:
        out = kernels.lloyd_step(X, C, w, chunk_rows=rows)
    finally:
        cupy.cuda.set_allocator(pool.malloc)
    # labels, sqdist, sums, weights, and the weighted distances summed into the inertia
    outputs = n * (8 + 4 + 4) + k * (d + 1) * 4
    assert peak[0] - base <= budget + outputs, (peak[0] - base) / 2**20
    assert out.labels.shape == (n,)


def test_free_memory_hook_reports_the_device(gpu):
    X = gpu.asarray(np.ones((10, 3)), "float32")
    free = kernels_for(gpu.xp).free_memory(X)
    assert isinstance(free, int) and free > 0
