"""CuPy and torch CUDA through the engine: parity with NumPy, native kernels against portable on
the device, outputs on the input's device, the caller's stream, no synchronisation inside the
kernels and one host sync per iteration, bounded working memory. Every test needs a CUDA device
that answers (the conftest skips them otherwise); run them with ``pytest -m gpu``.

Parity allows a label to differ only where the two centres are equally near within rounding:
for a row x and centres a, b (squared distances computed in float64 from the values the device
holds), |D(x, a) - D(x, b)| <= r (||x||^2 + max(||a||^2, ||b||^2)) with r = 1e-5 in float32
(about 84 float32 epsilons: the products behind the distances, ||x||^2 - 2 x.c + ||c||^2 summed
over d in cuBLAS's or OpenBLAS's order, round to a few epsilons of those norms) and 1e-13 in
float64. Centres then agree within float32 tolerance plus the pull of the rows that differ.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest

from kmeans_xp import KMeans
from kmeans_xp._kernels import kernels_for, portable
from kmeans_xp.datasets import make_blobs
from tests.conftest import make_backend

pytestmark = pytest.mark.gpu


@pytest.fixture(
    params=[("cupy", None, True), ("torch", "cuda", True), ("torch", "cuda", False)],
    ids=["cupy", "torch-cuda", "torch-cuda-native"],
)
def gpu(request, monkeypatch):
    """A GPU backend; torch CUDA both through the CuPy kernels (the default where CuPy is
    installed) and through torch's own operations. The torch-to-CuPy route starts fresh in
    each test (nothing given up, no device checked), so one test's failure stays its own."""
    name, device, via_cupy = request.param
    backend = make_backend(name, device)
    if name != "torch":
        yield backend
        return
    from kmeans_xp._kernels import torch as torch_kernels

    monkeypatch.setattr(torch_kernels, "CUDA_VIA_CUPY", via_cupy)
    monkeypatch.setattr(torch_kernels, "CUPY_ROUTE_ERRORS", {})
    monkeypatch.setattr(torch_kernels, "_PROBED", set())
    yield backend
    # the route through CuPy must not have been given up
    assert torch_kernels.CUPY_ROUTE_ERRORS == {}, torch_kernels.CUPY_ROUTE_ERRORS


def _on_input_device(backend, a, like):
    if backend.name == "cupy":
        import cupy

        return isinstance(a, cupy.ndarray) and a.device.id == like.device.id
    return a.device == like.device


_SPIN = r"""
extern "C" __global__ void spin(long long cycles) {
    const long long start = clock64();
    while (clock64() - start < cycles) {}
}
"""


def _keep_device_busy(backend, seconds):
    """Queue about ``seconds`` of work (one thread spinning, at up to 2 GHz) on the current
    stream, then an event behind it; the event."""
    cycles = int(2e9 * seconds)
    if backend.name == "cupy":
        import cupy

        cupy.RawKernel(_SPIN, "spin")((1,), (1,), (np.int64(cycles),))
        event = cupy.cuda.Event()
        event.record()
        return event
    import torch

    torch.cuda._sleep(cycles)
    event = torch.cuda.Event()
    event.record()
    return event


@contextlib.contextmanager
def _no_host_sync(backend, seconds=1.0):
    """Fail if the block waits for the device anywhere (a stream or device synchronisation, a
    copy to the host, ``.item()``, in CuPy, torch or a library under them): the device is kept
    busy first, so any wait in the block would outlast that work, whose event must therefore
    still be pending when the block ends."""
    event = _keep_device_busy(backend, seconds)
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    pending = not (event.done if backend.name == "cupy" else event.query())
    event.synchronize()
    assert elapsed < seconds / 2, f"the block took {elapsed:.2f} s of host time: inconclusive"
    assert pending, f"the block waited for the device ({elapsed:.2f} s)"


def _blobs(n=20_000, d=8, k=6, seed=0):
    X, _ = make_blobs(n, d, centers=k, cluster_std=1.5, random_state=seed)
    X = X.astype(np.float32)
    init = X[np.random.default_rng(seed).choice(n, size=k, replace=False)]
    return X, init


# relative rounding of a squared distance (see the module's docstring)
_TIE = {"float32": 1e-5, "float64": 1e-13}


def _rows_that_differ(X, C, labels, ref_labels, dtype):
    """The rows whose labels differ, after checking that each is a near-tie: both labels among
    the nearest centres of C within ``_TIE[dtype] (||x||^2 + max ||c||^2)`` (float64 distances
    from the values the device holds)."""
    X, C = (np.asarray(a, dtype=dtype).astype(np.float64) for a in (X, C))
    labels, ref_labels = np.asarray(labels), np.asarray(ref_labels)
    differ = np.flatnonzero(labels != ref_labels)
    for i in differ:
        dist = ((X[i] - C) ** 2).sum(axis=1)
        a, b = labels[i], ref_labels[i]
        bound = _TIE[dtype] * ((X[i] ** 2).sum() + max((C[a] ** 2).sum(), (C[b] ** 2).sum()))
        best = dist.min()
        assert dist[a] - best <= bound and dist[b] - best <= bound, (
            f"row {i}: label {a} at {dist[a]!r}, reference {b} at {dist[b]!r}, nearest "
            f"{best!r}: not a tie within {bound:.3g}"
        )
    return differ


def _assert_same_clustering(X, centers, labels, ref_centers, ref_labels, dtype="float32"):
    """Labels equal but at near-ties (``_rows_that_differ``, with the reference centres);
    centres within float32 tolerance of the reference, plus, for a cluster that gained or lost
    rows at ties, the pull of those rows on its mean (|x - c| / rows in the cluster)."""
    differ = _rows_that_differ(X, ref_centers, labels, ref_labels, dtype)
    X64, ref64 = np.asarray(X, np.float64), np.asarray(ref_centers, np.float64)
    counts = np.bincount(ref_labels, minlength=len(ref64))
    pull = np.zeros_like(ref64)
    for i in differ:
        for j in (labels[i], ref_labels[i]):
            pull[j] += np.abs(X64[i] - ref64[j]) / max(1, counts[j] - len(differ))
    scale = float(np.abs(ref64).max())
    excess = np.abs(np.asarray(centers, np.float64) - ref64) - (1e-5 * scale + 1e-5 * np.abs(ref64))
    assert (excess <= pull).all(), f"centres differ by {float((excess - pull).max()):.3g} more"
    return differ


def test_fit_from_the_same_init_matches_numpy(gpu):
    X, init = _blobs()
    ref = KMeans(6, init=init, n_init=1, max_iter=100).fit(X)
    Xg = gpu.asarray(X)
    got = KMeans(6, init=gpu.asarray(init), n_init=1, max_iter=100).fit(Xg)
    labels, centers = gpu.to_numpy(got.labels_), gpu.to_numpy(got.cluster_centers_)
    differ = _assert_same_clustering(X, centers, labels, ref.cluster_centers_, ref.labels_)
    np.testing.assert_allclose(got.inertia_, ref.inertia_, rtol=1e-5)
    if len(differ) == 0:  # a tie decided the other way may take an iteration more or less
        assert got.n_iter_ == ref.n_iter_ and got.stop_reason_ == ref.stop_reason_
    for out in (got.labels_, got.cluster_centers_, got.predict(Xg), got.transform(Xg)):
        assert _on_input_device(gpu, out, Xg)
    assert str(got.labels_.dtype).endswith("int64")
    assert str(got.cluster_centers_.dtype).endswith("float32")


def test_same_seed_same_clustering_as_numpy(gpu):
    X, _ = _blobs(seed=3)
    ref = KMeans(6, random_state=7).fit(X)
    got = KMeans(6, random_state=7).fit(gpu.asarray(X))
    _assert_same_clustering(
        X,
        gpu.to_numpy(got.cluster_centers_),
        gpu.to_numpy(got.labels_),
        ref.cluster_centers_,
        ref.labels_,
    )


def test_cupy_and_torch_cuda_agree():
    cp, tc = make_backend("cupy", None), make_backend("torch", "cuda")
    X, init = _blobs(n=50_000, d=16, k=40, seed=1)
    fits = [
        KMeans(40, init=b.asarray(init), n_init=1, max_iter=20, tol=0).fit(b.asarray(X))
        for b in (cp, tc)
    ]
    _assert_same_clustering(
        X,
        tc.to_numpy(fits[1].cluster_centers_),
        tc.to_numpy(fits[1].labels_),
        cp.to_numpy(fits[0].cluster_centers_),
        cp.to_numpy(fits[0].labels_),
    )


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
    _rows_that_differ(X, C, gpu.to_numpy(labels), gpu.to_numpy(ref_labels), dtype)
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
    _rows_that_differ(X[::2], C, gpu.to_numpy(step.labels), gpu.to_numpy(ref.labels), "float32")
    ref_sums, _ = portable.segment_sum(Xg, step.labels, wg, 50, chunk_rows=333)
    np.testing.assert_allclose(
        gpu.to_numpy(step.sums), gpu.to_numpy(ref_sums), rtol=1e-4, atol=1e-3
    )


@pytest.mark.parametrize("k", [8, 100])
def test_kernels_never_synchronise(gpu, k):
    rng = np.random.default_rng(0)
    X = gpu.asarray(rng.normal(size=(20_000, 16)), "float32")
    C = gpu.asarray(rng.normal(size=(k, 16)), "float32")
    w = gpu.asarray(np.ones(20_000), "float32")
    native = kernels_for(gpu.xp)
    native.lloyd_step(X, C, w, chunk_rows=3000)  # compile outside the check
    with _no_host_sync(gpu):
        native.lloyd_step(X, C, w, chunk_rows=3000)
        native.assign(X, C, chunk_rows=3000)


def test_kernels_run_on_the_callers_stream(gpu):
    """On a stream of the caller's (not the default one, and not synchronising with it), the
    kernels are ordered after the work queued there before them: here the rows are written on
    that stream behind a busy wait, over NaN, so kernels on any other stream would read NaN.
    CuPy's deprecated ExternalStream would warn here too (an error under pytest)."""
    X, C = _blobs(n=20_000, d=16, k=8, seed=4)
    Xg, Cg = gpu.asarray(X), gpu.asarray(C)
    w = gpu.asarray(np.ones(len(X)), "float32")
    native = kernels_for(gpu.xp)
    ref = native.lloyd_step(Xg, Cg, w, chunk_rows=3000)
    poisoned = gpu.asarray(np.full_like(X, np.nan))
    if gpu.name == "cupy":
        import cupy

        cupy.cuda.Device().synchronize()
        stream = cupy.cuda.Stream(non_blocking=True)
        with stream:
            _keep_device_busy(gpu, 0.2)
            poisoned[...] = Xg
            step = native.lloyd_step(poisoned, Cg, w, chunk_rows=3000)
    else:
        import torch

        torch.cuda.synchronize()
        stream = torch.cuda.Stream()  # torch's streams do not synchronise with the default one
        with torch.cuda.stream(stream):
            _keep_device_busy(gpu, 0.2)
            poisoned.copy_(Xg)
            step = native.lloyd_step(poisoned, Cg, w, chunk_rows=3000)
    stream.synchronize()
    np.testing.assert_array_equal(gpu.to_numpy(step.labels), gpu.to_numpy(ref.labels))
    np.testing.assert_allclose(gpu.to_numpy(step.sums), gpu.to_numpy(ref.sums), rtol=1e-6)


# one host sync per iteration: tests/test_engine.py::test_one_host_sync_per_iteration runs on
# the GPU backends too (the backend fixture)


class _DevicePeak:
    """Bytes allocated over a block beyond what was allocated at its start, at the highest:
    CuPy's pool (CuPy arrays, and the CuPy route's buffers for torch tensors) plus torch's
    caching allocator."""

    def __init__(self, backend):
        self.torch = backend.name.startswith("torch")

    def __enter__(self):
        import cupy

        cupy.cuda.Device().synchronize()
        self.pool = cupy.get_default_memory_pool()
        self.base = self.peak = self.pool.used_bytes()

        def tracking(size):
            memory = self.pool.malloc(size)
            self.peak = max(self.peak, self.pool.used_bytes())
            return memory

        cupy.cuda.set_allocator(tracking)
        if self.torch:
            import torch

            torch.cuda.synchronize()
            self.torch_base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc):
        import cupy

        cupy.cuda.Device().synchronize()
        cupy.cuda.set_allocator(self.pool.malloc)
        self.extra = self.peak - self.base
        if self.torch:
            import torch

            torch.cuda.synchronize()
            self.extra += torch.cuda.max_memory_allocated() - self.torch_base
        return False


@pytest.mark.parametrize("k", [8, 1024])  # the one-hot update and the atomic scatter
def test_working_memory_stays_within_the_budget(gpu, k):
    make_backend("cupy", None)  # the pool's peak is read through CuPy
    n, d = 1_000_000, 32
    budget = 64 * 2**20
    X = gpu.asarray(np.random.default_rng(0).standard_normal((n, d), dtype=np.float32))
    C = gpu.asarray(gpu.to_numpy(X[:k]))
    w = gpu.asarray(np.ones(n, dtype=np.float32))
    kernels = kernels_for(gpu.xp)
    rows = kernels.chunk_rows(X, k, budget)
    kernels.lloyd_step(X, C, w, chunk_rows=rows)  # compile, warm the pools
    with _DevicePeak(gpu) as peak:
        out = kernels.lloyd_step(X, C, w, chunk_rows=rows)
    # labels, sqdist, sums, weights, and the weighted distances summed into the inertia; the
    # centres as the kernels take them (C row-major, -2 C^T, ||c||^2)
    outputs = n * (8 + 4 + 4) + k * (d + 1) * 4 + k * (2 * d + 1) * 4
    assert peak.extra <= budget + outputs, peak.extra / 2**20
    assert out.labels.shape == (n,)


def test_free_memory_hook_reports_the_device(gpu):
    X = gpu.asarray(np.ones((10, 3)), "float32")
    free = kernels_for(gpu.xp).free_memory(X)
    assert isinstance(free, int) and free > 0


def test_torch_free_memory_counts_only_what_the_chunks_can_use(gpu):
    """torch's allocator caches freed blocks: torch's own operations can reuse them, CuPy's
    pool (the CuPy route's buffers) cannot, so only the former counts them as free."""
    if not gpu.name.startswith("torch"):
        pytest.skip("torch's caching allocator")
    import torch

    from kmeans_xp._kernels import torch as torch_kernels

    X = gpu.asarray(np.ones((10, 3)), "float32")
    kernels = kernels_for(gpu.xp)
    kernels.free_memory(X)  # the route's check, if it is on, outside the measurement
    block = torch.empty(2**30, dtype=torch.uint8, device=X.device)
    del block  # 1 GiB now cached by torch, unused
    torch.cuda.synchronize()
    try:
        free, _ = torch.cuda.mem_get_info(X.device)
        counted = kernels.free_memory(X) - free
        if torch_kernels.CUDA_VIA_CUPY:
            from kmeans_xp._kernels import cupy as cupy_kernels

            counted -= cupy_kernels.pool_free_bytes(X.device.index)  # what CuPy's pool holds
            assert counted < 2**29, counted / 2**20
        else:
            assert counted >= 2**30 - 2**20, counted / 2**20
    finally:
        torch.cuda.empty_cache()
