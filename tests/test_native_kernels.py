"""The torch and CuPy fast paths, checked where the CPU allows.

torch: both update paths (one-hot product and scatter), chunk boundaries, ties, dtypes and the
fused step, on CPU tensors (the generic native-vs-portable test in test_kernels.py covers the
rest), and the CUDA route's decisions (through CuPy, out of memory, given up) on CPU tensors with
a NumPy stand-in for CuPy. CuPy: the module imports without cupy, its CUDA source compiles
(NVRTC and ptxas for sm_80 and sm_90, tests/cuda_build.py), its Python side runs on the stand-in,
and a NumPy model of the assign kernel's warp algorithm (lane-strided first minimum, butterfly
reduction, tie to the lowest column) gives NumPy's argmin; the kernels themselves run only in
tests/test_gpu.py, on a GPU.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from kmeans_xp._kernels import chunk_rows, kernels_for, portable
from tests import cuda_build

torch = pytest.importorskip("torch")

from kmeans_xp._kernels import torch as torch_kernels  # noqa: E402


def _data(seed, n, d, k, dtype="float64"):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(dtype)
    C = rng.normal(size=(k, d)).astype(dtype)
    w = rng.uniform(0.0, 3.0, size=n).astype(dtype)
    return X, C, w


def _expected_sums(X, labels, w, k):
    sums = np.stack([np.bincount(labels, X[:, j] * w, minlength=k) for j in range(X.shape[1])], 1)
    return sums, np.bincount(labels, w, minlength=k)


def test_torch_kernels_are_dispatched_for_torch_tensors():
    from kmeans_xp._xp import compat_namespace

    kernels = kernels_for(compat_namespace(torch))
    assert kernels.name == "torch"
    assert kernels.assign is torch_kernels.assign
    assert kernels.lloyd_step is torch_kernels.lloyd_step
    assert kernels.free_memory(torch.zeros(2)) is None  # CPU: the budget alone sizes chunks


@pytest.mark.parametrize("k", [1, 3, torch_kernels.SMALL_K_CPU, torch_kernels.SMALL_K_CPU + 1, 70])
@pytest.mark.parametrize("rows", [1, 13, 200, 10_000])
def test_torch_step_sums_on_both_paths(k, rows):
    # one-hot product up to SMALL_K_CPU clusters, scatter above
    X, C, w = _data(0, 211, 6, k)
    step = torch_kernels.lloyd_step(
        torch.asarray(X), torch.asarray(C), torch.asarray(w), chunk_rows=rows
    )
    sums, weights = step.sums, step.weights
    labels = ((X[:, None, :] - C[None]) ** 2).sum(-1).argmin(1)
    expected_sums, expected_weights = _expected_sums(X, labels, w, k)
    np.testing.assert_allclose(sums.numpy(), expected_sums, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(weights.numpy(), expected_weights, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [2, 40])
@pytest.mark.parametrize("rows", [1, 50, 99, 100, 101, 1000])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_step_at_chunk_boundaries(k, rows, dtype):
    X, C, w = _data(2, 100, 5, k, dtype)
    Xt, Ct, wt = torch.asarray(X), torch.asarray(C), torch.asarray(w)
    step = torch_kernels.lloyd_step(Xt, Ct, wt, chunk_rows=rows)
    labels, sqdist, sums, weights = step.labels, step.sqdist, step.sums, step.weights
    assert labels.dtype == torch.int64 and sqdist.dtype == Xt.dtype and sums.dtype == Xt.dtype
    full = ((X[:, None, :].astype(np.float64) - C[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels.numpy(), full.argmin(1))
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(sqdist.numpy(), full.min(1), rtol=tol, atol=tol)
    expected_sums, expected_weights = _expected_sums(X.astype(np.float64), full.argmin(1), w, k)
    np.testing.assert_allclose(sums.numpy(), expected_sums, rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(weights.numpy(), expected_weights, rtol=tol)
    ref = portable.lloyd_step(Xt, Ct, wt, chunk_rows=rows)
    np.testing.assert_array_equal(labels.numpy(), ref.labels.numpy())


def test_torch_ties_go_to_the_lowest_index_as_portable():
    # every row is at exactly the same distance from centres 1 and 2 (and 3, a duplicate of 1)
    X = np.array([[0.0, 0.0], [0.0, 3.0], [0.0, -2.0]] * 7)
    C = np.array([[5.0, 5.0], [1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]])
    for dtype in (torch.float32, torch.float64):
        Xt, Ct = torch.asarray(X, dtype=dtype), torch.asarray(C, dtype=dtype)
        labels, sqdist = torch_kernels.assign(Xt, Ct, chunk_rows=4)
        ref_labels, ref_sqdist = portable.assign(Xt, Ct, chunk_rows=4)
        assert labels.tolist() == [1] * X.shape[0] == ref_labels.tolist()
        np.testing.assert_allclose(sqdist.numpy(), ref_sqdist.numpy())


def test_torch_kernels_leave_inputs_alone_and_ignore_autograd():
    X, C, w = _data(4, 64, 3, 5, "float32")
    Xt = torch.asarray(X).requires_grad_()
    Ct, wt = torch.asarray(C), torch.asarray(w)
    before = Xt.detach().clone()
    step = torch_kernels.lloyd_step(Xt, Ct, wt, chunk_rows=10)
    sqdist, sums = step.sqdist, step.sums
    assert torch.equal(Xt.detach(), before)
    assert not sums.requires_grad and not sqdist.requires_grad


def test_torch_step_on_non_contiguous_rows():
    X, C, w = _data(5, 90, 4, 20)
    Xt = torch.asarray(np.asfortranarray(X))  # column-major: every chunk is a strided view
    Ct, wt = torch.asarray(C), torch.asarray(w)
    step = torch_kernels.lloyd_step(Xt, Ct, wt, chunk_rows=16)
    ref = portable.lloyd_step(Xt, Ct, wt, chunk_rows=16)
    np.testing.assert_array_equal(step.labels.numpy(), ref.labels.numpy())
    np.testing.assert_allclose(step.sums.numpy(), ref.sums.numpy(), rtol=1e-12, atol=1e-12)


def test_chunk_rows_takes_free_device_memory_into_account():
    n, k, d = 10**7, 1024, 64
    assert chunk_rows(n, k, d, 4, 2**30) == chunk_rows(n, k, d, 4, 2**30, None)
    assert chunk_rows(n, k, d, 4, 2**30, 10**12) == chunk_rows(n, k, d, 4, 2**30)
    small = chunk_rows(n, k, d, 4, 2**30, 2**24)  # 16 MiB free: half of it for a chunk
    assert small * 3 * (k + d) * 4 <= 2**23 < (small + 1) * 3 * (k + d) * 4


def test_chunk_rows_from_what_each_backend_step_allocates():
    """Chunks sized from the backend's own ``step_bytes_per_row``: at 5M x 128, k=8 in float32
    with the default 256 MiB, the CuPy step (an m x k buffer and a vector of ones) takes all
    rows in one chunk, where charging three (k + d) blocks a row makes 31 chunks."""
    from kmeans_xp._kernels import cupy as cupy_kernels
    from kmeans_xp._xp import compat_namespace

    n, k, d, budget = 5_000_000, 8, 128, 256 * 2**20
    assert -(-n // chunk_rows(n, k, d, 4, budget)) == 31
    assert chunk_rows(n, k, d, 4, budget, None, cupy_kernels.step_bytes_per_row(k, d, 4)) == n
    # large k: the m x k buffer is the whole of it
    rows = chunk_rows(n, 1024, d, 4, budget, None, cupy_kernels.step_bytes_per_row(1024, d, 4))
    assert rows == budget // (1024 * 4)
    torch_hook = kernels_for(compat_namespace(torch)).step_bytes_per_row
    assert torch_hook is torch_kernels.step_bytes_per_row
    # torch's own operations: the m x k buffer and one m x d block at a time
    assert torch_hook(k, d, 4) == (k + d) * 4 + 16
    rows = chunk_rows(n, k, d, 4, budget, 2**24, torch_hook(k, d, 4))  # 16 MiB free: half of it
    assert rows * torch_hook(k, d, 4) <= 2**23 < (rows + 1) * torch_hook(k, d, 4)


# ------------------------------------------------------------------------------------ CuPy
def test_cupy_module_imports_without_cupy(monkeypatch):
    from kmeans_xp._kernels import cupy as native

    monkeypatch.setitem(sys.modules, "cupy", None)  # any import of cupy now fails
    native = importlib.reload(native)
    assert callable(native.assign) and callable(native.lloyd_step)
    assert "assign_rows" in native.SOURCE
    with pytest.raises(ImportError):
        native.free_memory(None)  # cupy is imported only when a kernel runs


def _cuda_toolchain_or_skip():
    """NVRTC and ptxas (their wheels, or a CUDA toolkit); CI sets KMEANS_XP_REQUIRE_CUDA_COMPILE
    so that a missing toolchain fails there instead of skipping."""
    if cuda_build.find_nvrtc() and cuda_build.find_ptxas():
        return
    if os.environ.get("KMEANS_XP_REQUIRE_CUDA_COMPILE"):
        pytest.fail(
            "NVRTC or ptxas not found (pip install nvidia-cuda-nvrtc-cu12 nvidia-cuda-nvcc-cu12)"
        )
    pytest.skip("NVRTC or ptxas not found")


@pytest.mark.parametrize("arch", cuda_build.ARCHS)
@pytest.mark.parametrize("variant", list(cuda_build.VARIANTS))
def test_cupy_kernel_source_compiles(arch, variant):
    """The source as CuPy compiles it (NVRTC, the same name expressions), assembled by ptxas:
    no error, no warning, no spill, no local memory (build() raises on any)."""
    _cuda_toolchain_or_skip()
    from kmeans_xp._kernels import cupy as native

    resources = cuda_build.build(native.SOURCE, native._NAMES, arch, cuda_build.VARIANTS[variant])
    for name, r in resources.items():
        print(f"{arch} {variant} {name}: {r}")  # shown by pytest -rA: the CI report
        assert r.spill_store_bytes == r.spill_load_bytes == r.stack_bytes == 0, (name, r)
        # 256 threads a block: at most 64 registers keeps 4 blocks (32 warps) on a multiprocessor
        assert r.registers <= 64, (name, r)


def test_cuda_build_check_fails_on_warnings_and_local_memory():
    """The compile check is not vacuous: a warning from NVRTC and a local array from ptxas fail."""
    _cuda_toolchain_or_skip()
    unused = 'extern "C" __global__ void f(float* x) { int unused = 3; x[threadIdx.x] = 1.f; }'
    with pytest.raises(cuda_build.CompileError, match="never referenced"):
        cuda_build.nvrtc_ptx(unused, (), "sm_90")
    local = (
        'extern "C" __global__ void f(float* x, int i) {'
        " volatile float a[64]; for (int j = 0; j < 64; ++j) a[(j * i) & 63] = x[j];"
        " x[threadIdx.x] = a[i & 63]; }"
    )
    ptx, _ = cuda_build.nvrtc_ptx(local, (), "sm_90")
    with pytest.raises(cuda_build.CompileError, match="Local memory used"):
        cuda_build.ptxas(ptx, "sm_90")


def _warp_model_assign(G, c_sq, X, C):
    """The assign_rows kernel's algorithm for one row per warp, in NumPy (a model, not the
    kernel): per lane the first minimum over columns lane, lane+32, ...; then the butterfly
    (xor 16, 8, 4, 2, 1) keeping the smaller value, ties to the smaller column; lane 0's answer."""
    n, k = G.shape
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        best = np.zeros(32, dtype=G.dtype)
        col = np.full(32, -1)
        for lane in range(32):
            for j in range(lane, k, 32):
                v = G[i, j] + c_sq[j]
                if col[lane] < 0 or v < best[lane]:
                    best[lane], col[lane] = v, j
        off = 16
        while off:
            other_best, other_col = best[np.arange(32) ^ off], col[np.arange(32) ^ off]
            take = (other_col >= 0) & (
                (col < 0) | (other_best < best) | ((other_best == best) & (other_col < col))
            )
            best, col = np.where(take, other_best, best), np.where(take, other_col, col)
            off //= 2
        labels[i] = col[0]
    diff = X - C[labels]
    return labels, (diff * diff).sum(1)


@pytest.mark.parametrize("k", [1, 5, 31, 32, 33, 100])
def test_cupy_assign_algorithm_model_is_numpys_argmin(k):
    X, C, _ = _data(6, 40, 3, k, "float32")
    # ties: duplicated centres, and integer data where distances tie exactly
    C[k // 2] = C[0]
    Xi = np.round(X * 2).astype(np.float32)
    Ci = np.round(C * 2).astype(np.float32)
    for A, B in ((X, C), (Xi, Ci)):
        G = A @ (-2.0 * B.T)
        c_sq = (B * B).sum(1)
        labels, sqdist = _warp_model_assign(G, c_sq, A, B)
        np.testing.assert_array_equal(labels, (G + c_sq).argmin(1))
        full = ((A[:, None, :] - B[None]) ** 2).sum(-1)
        np.testing.assert_allclose(sqdist, full[np.arange(len(A)), labels], rtol=1e-6)


# A stand-in for cupy, on NumPy, to run the CuPy module's Python side (chunking, views, argument
# order and types, modes) on the CPU. Its "kernels" check every argument against the CUDA
# signatures and do what the kernels do, with NumPy; the CUDA code itself is checked above
# (compiles) and in tests/test_gpu.py (runs).
class _FakeDevice:
    id = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _FakePointer:
    def __init__(self, a):
        self.ptr = a.__array_interface__["data"][0]


class _FakeArray(np.ndarray):
    @property
    def device(self):
        return _FakeDevice()

    @property
    def data(self):  # what the module reads of a CuPy array's memory: its address
        return _FakePointer(self)


def _fake(a):
    return np.asarray(a).view(_FakeArray)


class _FakeKernel:
    def __init__(self, name, calls, launched_rows):
        self.name, self.calls, self.launched_rows = name, calls, launched_rows

    def __call__(self, grid, block, args):
        assert len(grid) == 1 and block == (256,) and grid[0] * 8 >= args[-5] >= 1
        m, k, d, mode, vec4 = args[-5:]
        types = [type(v) for v in (m, k, d, mode, vec4)]
        assert types == [np.int64, np.int32, np.int32, np.int32, np.int32]
        m, k, d, mode, vec4 = int(m), int(k), int(d), int(mode), int(vec4)
        T = np.dtype(np.float32 if self.name.endswith("<float>") else np.float64)
        arrays = args[:-5]
        for a in arrays:
            assert isinstance(a, np.ndarray) and a.flags.c_contiguous
        # the float4 path: float rows of 16 bytes' multiples, never for double
        assert vec4 == (T == np.float32 and d % 4 == 0), (self.name, mode, vec4, T, d)
        self.calls.append((self.name, mode))
        self.launched_rows.append(m)
        if self.name.startswith("assign_rows"):
            G, c_sq, X, C, w, labels, sqdist, sums, weights = arrays
            assert G.shape == (m, k) and X.shape == (m, d) and C.shape == (k, d)
            assert c_sq.shape == (k,) and labels.shape == sqdist.shape == (m,)
            assert labels.dtype == np.int64 and {G.dtype, X.dtype, C.dtype, sqdist.dtype} == {T}
            best = (G + c_sq).argmin(1)
            labels[:] = best
            sqdist[:] = ((X - C[best]) ** 2).sum(1)
            if mode == 1:
                self._scatter(X, best, w, sums, weights, m, k, d, T)
            elif mode == 2:
                assert w.shape == (m,)
                G[:] = 0
                G[np.arange(m), best] = w
            else:
                assert mode == 0
        else:
            assert mode == 0

    @staticmethod
    def _scatter(X, labels, w, sums, weights, m, k, d, T):
        assert w.shape == (m,) and sums.shape == (k, d) and weights.shape == (k,)
        assert {w.dtype, sums.dtype, weights.dtype} == {T}
        np.add.at(sums, labels, w[:, None] * X)
        np.add.at(weights, labels, w)


class _FakeCompileError(Exception):
    pass


class _FakeModule:
    def __init__(self, fake, fails):
        self.fake, self.fails, self.compiled = fake, fails, False

    def compile(self):
        self.fake.compiles += 1
        if self.fails:
            raise _FakeCompileError("error: no instance of overloaded function atomicAdd")
        self.compiled = True

    def get_function(self, name):
        assert self.compiled, "get_function on a module that did not compile"
        return _FakeKernel(name, self.fake.calls, self.fake.launched_rows)


class _FakeCupy:
    int64, float32, float64 = np.int64, np.float32, np.float64

    def __init__(self):
        self.calls = []
        self.launched_rows = []
        self.modules = 0
        self.compiles = 0
        self.vector_atomics_compile = True
        self.cuda = SimpleNamespace(compiler=SimpleNamespace(CompileException=_FakeCompileError))

    def RawModule(self, code, options, name_expressions):
        self.modules += 1
        assert "assign_rows" in code and len(name_expressions) == 2
        assert options in ((), ("-DKMEANS_XP_SCALAR_ROWS",))
        fails = not self.vector_atomics_compile and options == ()
        return _FakeModule(self, fails)

    def ascontiguousarray(self, a):
        return _fake(np.ascontiguousarray(a))

    def sum(self, a, axis=None):
        return _fake(np.sum(a, axis=axis))

    def empty(self, shape, dtype):
        return _fake(np.full(shape, -7, dtype=dtype))  # poisoned: every element must be written

    def zeros(self, shape, dtype):
        return _fake(np.zeros(shape, dtype=dtype))

    def ones(self, shape, dtype):
        return _fake(np.ones(shape, dtype=dtype))

    def dot(self, a, b, out=None):
        if out is None:
            return _fake(np.dot(a, b))
        assert out.flags.c_contiguous and out.dtype == np.result_type(a, b)
        out[...] = np.dot(a, b)
        return out


@pytest.fixture
def fake_cupy(monkeypatch):
    from kmeans_xp._kernels import cupy as native

    fake = _FakeCupy()
    monkeypatch.setattr(native, "_cupy", lambda: fake)
    native._module.cache_clear()
    native._function.cache_clear()
    yield native, fake
    native._module.cache_clear()
    native._function.cache_clear()


@pytest.mark.parametrize("k", [1, 5, 32, 33, 200])
@pytest.mark.parametrize("rows", [1, 17, 100, 999])
@pytest.mark.parametrize(("dtype", "d"), [("float32", 6), ("float32", 8), ("float64", 8)])
def test_cupy_module_glue_on_a_numpy_stand_in(fake_cupy, k, rows, dtype, d):
    native, fake = fake_cupy
    X, C, w = _data(7, 250, d, k, dtype)
    C = X[:k].copy()
    Xf, Cf, wf = _fake(X), _fake(C), _fake(w)
    step = native.lloyd_step(Xf, Cf, wf, chunk_rows=rows)
    labels, sqdist, sums, weights = step.labels, step.sqdist, step.sums, step.weights
    ref = portable.lloyd_step(X, C, w, chunk_rows=rows)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_array_equal(labels, ref.labels)
    np.testing.assert_allclose(sqdist, ref.sqdist, rtol=tol, atol=tol)
    np.testing.assert_allclose(sums, ref.sums, rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(weights, ref.weights, rtol=tol * 10)
    assert labels.dtype == np.int64 and sqdist.dtype == sums.dtype == weights.dtype == X.dtype
    mode = 2 if k <= native.SMALL_K else 1
    assert {c for c in fake.calls} == {
        (f"assign_rows<{'float' if dtype == 'float32' else 'double'}>", mode)
    }
    assert len(fake.calls) == -(-X.shape[0] // rows) and fake.modules == 1

    fake.calls.clear()
    labels2, sqdist2 = native.assign(Xf, Cf, chunk_rows=rows)
    np.testing.assert_array_equal(labels2, ref.labels)
    np.testing.assert_array_equal(sqdist2, sqdist)
    assert {mode for _, mode in fake.calls} == {0}
    assert fake.modules == 1  # one compiled module serves every kernel and dtype


def test_cupy_module_glue_with_strided_rows(fake_cupy):
    native, _ = fake_cupy
    X, C, w = _data(8, 300, 4, 40)
    Xs = _fake(X)[::3]  # not contiguous: chunks are copied row-block by row-block
    step = native.lloyd_step(Xs, _fake(C), _fake(w[::3]), chunk_rows=16)
    labels, sums = step.labels, step.sums
    ref = portable.lloyd_step(X[::3], C, w[::3], chunk_rows=16)
    np.testing.assert_array_equal(labels, ref.labels)
    np.testing.assert_allclose(sums, ref.sums, rtol=1e-12, atol=1e-12)


class _FakePool:
    def __init__(self):
        self.released = 0

    def free_bytes(self):
        return 7

    def free_all_blocks(self):
        self.released += 1


@pytest.fixture
def torch_route(fake_cupy, monkeypatch):
    """The torch side of the CUDA route on CPU tensors: the CuPy kernel module running on the
    NumPy stand-in, tensors shared through DLPack, the route's state fresh."""
    native, fake = fake_cupy
    fake.from_dlpack = lambda t: _fake(np.from_dlpack(t))
    fake.pool = _FakePool()
    fake.get_default_memory_pool = lambda: fake.pool
    fake.cuda.Device = lambda index: _FakeDevice()

    @contextlib.contextmanager
    def same_stream(device):
        yield fake

    monkeypatch.setattr(torch_kernels, "_on_cuda", lambda device: True)
    monkeypatch.setattr(torch_kernels, "_cupy_import", lambda: (native, None))
    monkeypatch.setattr(torch_kernels, "_torch_stream_for_cupy", same_stream)
    monkeypatch.setattr(torch_kernels, "CUDA_VIA_CUPY", True)
    monkeypatch.setattr(torch_kernels, "CUPY_ROUTE_ERRORS", {})
    monkeypatch.setattr(torch_kernels, "_PROBED", set())
    return native, fake


def test_torch_cuda_route_through_the_cupy_kernels(torch_route):
    """Tensors shared through DLPack, results back as tensors; the kernels checked once, with
    a two-row step, at the first use of the device."""
    native, fake = torch_route
    X, C, w = _data(9, 120, 5, 40, "float32")
    Xt, Ct, wt = torch.asarray(X).requires_grad_(), torch.asarray(C), torch.asarray(w)
    step = torch_kernels.lloyd_step(Xt, Ct, wt, chunk_rows=50)
    assert fake.launched_rows[0] == 2 and torch_kernels._PROBED == {"cpu"}
    labels, sqdist = torch_kernels.assign(Xt, Ct, chunk_rows=50)
    ref = portable.lloyd_step(X, C, w, chunk_rows=50)
    for got in (step.labels, step.sqdist, step.sums, step.weights, labels, sqdist):
        assert isinstance(got, torch.Tensor) and got.device == Xt.device
    np.testing.assert_array_equal(step.labels.numpy(), ref.labels)
    np.testing.assert_array_equal(labels.numpy(), ref.labels)
    np.testing.assert_allclose(step.sums.numpy(), ref.sums, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(step.weights.numpy(), ref.weights, rtol=1e-5)
    assert {name for name, _ in fake.calls} == {"assign_rows<float>"}
    assert fake.launched_rows.count(2) == 1  # one check only
    # the bytes of 50 rows of torch's own step, spent on the CuPy step's smaller rows
    rows = 50 * torch_kernels.step_bytes_per_row(40, 5, 4) // native.step_bytes_per_row(40, 5, 4)
    assert rows > 50 and max(fake.launched_rows) == rows
    assert torch_kernels.CUPY_ROUTE_ERRORS == {}


class _FakeOutOfMemory(MemoryError):  # CuPy's OutOfMemoryError is a MemoryError
    pass


@pytest.mark.parametrize("failures", [1, 2])
def test_torch_cuda_route_survives_out_of_memory(torch_route, monkeypatch, failures):
    """Out of memory is not an incapability: the cached memory is released and the call tried
    again; failing again, that call alone runs on torch's own operations, and the next call
    goes through CuPy again, without a warning."""
    native, fake = torch_route
    released = []
    monkeypatch.setattr(torch_kernels, "_release_cached_memory", released.append)
    X, C, w = (torch.asarray(a) for a in _data(14, 90, 6, 5, "float32"))
    torch_kernels.assign(X, C, chunk_rows=30)  # the device's check, passed
    real, left = native.fused_step, [failures]

    def short_of_memory(*args, **kwargs):
        if left[0]:
            left[0] -= 1
            raise _FakeOutOfMemory("out of memory to allocate 4096 bytes")
        return real(*args, **kwargs)

    monkeypatch.setattr(native, "fused_step", short_of_memory)
    fake.calls.clear()
    step = torch_kernels.lloyd_step(X, C, w, chunk_rows=30)
    ref = portable.lloyd_step(X, C, w, chunk_rows=30)
    np.testing.assert_array_equal(step.labels.numpy(), ref.labels.numpy())
    np.testing.assert_allclose(step.sums.numpy(), ref.sums.numpy(), rtol=1e-5, atol=1e-5)
    assert released == [X.device]  # released once, tried once more
    chunks = -(-90 // torch_kernels._route_rows(native, 30, X, 5))
    assert len(fake.calls) == (chunks if failures == 1 else 0)  # CuPy, or torch
    fake.calls.clear()
    torch_kernels.lloyd_step(X, C, w, chunk_rows=30)
    assert len(fake.calls) == chunks  # the route is still on
    assert torch_kernels.CUPY_ROUTE_ERRORS == {}


def test_torch_cuda_route_raises_other_errors_after_the_check(torch_route, monkeypatch):
    """A failure that is neither an incapability (the device passed its check) nor out of
    memory is a fault to see, not to hide behind the slower path."""
    native, _ = torch_route
    X, C, w = (torch.asarray(a) for a in _data(15, 40, 3, 4, "float32"))
    torch_kernels.assign(X, C, chunk_rows=30)

    def broken(*args, **kwargs):
        raise ValueError("bad launch")

    monkeypatch.setattr(native, "fused_step", broken)
    with pytest.raises(ValueError, match="bad launch"):
        torch_kernels.lloyd_step(X, C, w, chunk_rows=30)
    assert torch_kernels.CUPY_ROUTE_ERRORS == {}


def test_torch_cuda_route_given_up_on_a_device_where_the_kernels_fail(torch_route, monkeypatch):
    """Kernels that fail their first run on a device (no kernel image for it, say) turn the
    route off there for good: warned once, the reason kept, torch's own operations."""
    native, fake = torch_route

    def no_image(*args, **kwargs):
        raise RuntimeError("no kernel image is available for execution on the device")

    monkeypatch.setattr(native, "fused_step", no_image)
    X, C, w = _data(11, 50, 3, 4)
    Xt, Ct, wt = torch.asarray(X), torch.asarray(C), torch.asarray(w)
    with pytest.warns(RuntimeWarning, match="own operations.*no kernel image"):
        step = torch_kernels.lloyd_step(Xt, Ct, wt, chunk_rows=20)
    ref = portable.lloyd_step(Xt, Ct, wt, chunk_rows=20)
    np.testing.assert_array_equal(step.labels.numpy(), ref.labels.numpy())
    assert torch_kernels.CUPY_ROUTE_ERRORS == {
        "cpu": "RuntimeError: no kernel image is available for execution on the device"
    }
    torch_kernels.lloyd_step(Xt, Ct, wt, chunk_rows=20)  # no second warning, no second check
    torch_kernels.assign(Xt, Ct, chunk_rows=20)
    assert fake.calls == [] and torch_kernels._PROBED == set()


def test_torch_cuda_route_given_up_when_cupy_fails_to_import(monkeypatch, tmp_path):
    """A CuPy that is installed but fails to import with any error (a CuPy for another CUDA
    raises RuntimeError, not ImportError) is given up once, with a warning."""
    package = tmp_path / "cupy"
    package.mkdir()
    (package / "__init__.py").write_text(
        'raise RuntimeError("CUDA driver version is insufficient for CUDA runtime version")\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(torch_kernels, "_on_cuda", lambda device: True)
    monkeypatch.setattr(torch_kernels, "CUDA_VIA_CUPY", True)
    monkeypatch.setattr(torch_kernels, "CUPY_ROUTE_ERRORS", {})
    torch_kernels._cupy_import.cache_clear()
    try:
        X = torch.ones((3, 2))
        with pytest.warns(RuntimeWarning, match="any device.*driver version is insufficient"):
            assert torch_kernels._via_cupy(X) is None
        assert torch_kernels._via_cupy(X) is None  # no second warning (an error under pytest)
        assert torch_kernels.CUPY_ROUTE_ERRORS["import"].startswith("RuntimeError: CUDA driver")
    finally:
        torch_kernels._cupy_import.cache_clear()


def test_torch_cuda_free_memory_counts_the_pool_the_chunks_come_from(torch_route, monkeypatch):
    """On the CuPy route the chunks' buffers come from CuPy's pool, which cannot use what
    torch's allocator caches; on torch's own operations that cache is usable."""
    _, fake = torch_route
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (1000, 10**6))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: 500)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: 100)
    X = torch.ones((4, 3))
    assert torch_kernels.free_memory(X) == 1000 + fake.pool.free_bytes()
    # float16 is not on the CuPy route
    assert torch_kernels.free_memory(torch.ones((4, 3), dtype=torch.float16)) == 1000 + 400
    monkeypatch.setattr(torch_kernels, "CUDA_VIA_CUPY", False)
    assert torch_kernels.free_memory(X) == 1000 + 400


def test_cupy_kernels_compile_without_the_float4_path_when_it_fails(fake_cupy, monkeypatch):
    native, fake = fake_cupy
    fake.vector_atomics_compile = False
    monkeypatch.setattr(native, "SCALAR_FALLBACK", None)
    X, C, _ = _data(10, 64, 8, 40, "float32")
    labels, _ = native.assign(_fake(X), _fake(C), chunk_rows=20)
    np.testing.assert_array_equal(labels, portable.assign(X, C, chunk_rows=20)[0])
    assert "atomicAdd" in native.SCALAR_FALLBACK and fake.modules == 2
    # the other kernels come from the module that compiled: the failure is not met again
    native.lloyd_step(_fake(X), _fake(C), _fake(np.ones(64, np.float32)), chunk_rows=20)
    native.assign(_fake(X.astype(np.float64)), _fake(C.astype(np.float64)), chunk_rows=20)
    assert fake.modules == 2 and fake.compiles == 2
    assert {name for name, _ in fake.calls} == {"assign_rows<float>", "assign_rows<double>"}


def test_cupy_kernels_refuse_operands_of_another_dtype_or_shape(fake_cupy):
    native, fake = fake_cupy
    X, C, w = (_fake(a) for a in _data(12, 30, 4, 3, "float32"))
    with pytest.raises(TypeError, match=r"centres must be \(k, 4\) float32.*float64"):
        native.lloyd_step(X, _fake(np.asarray(C, np.float64)), w, chunk_rows=10)
    with pytest.raises(TypeError, match=r"centres must be \(k, 4\).*\(3, 3\)"):
        native.assign(X, _fake(np.asarray(C)[:, :3]), chunk_rows=10)
    with pytest.raises(TypeError, match=r"weights must be \(30,\) float32.*float64"):
        native.lloyd_step(X, C, _fake(np.asarray(w, np.float64)), chunk_rows=10)
    with pytest.raises(TypeError, match=r"weights must be \(30,\).*\(29,\)"):
        native.lloyd_step(X, C, w[:29], chunk_rows=10)
    assert fake.calls == []  # nothing was launched


@pytest.mark.parametrize("k", [4, 40])
def test_cupy_chunks_of_strided_rows_keep_their_copy_within_the_budget(fake_cupy, k):
    """A chunk of rows that are not contiguous is copied: the chunks are then cut so that the
    copy and the buffers take no more than ``step_bytes_per_row`` bytes a row of chunk_rows."""
    native, fake = fake_cupy
    X, _, w = _data(13, 600, 16, k, "float32")
    Xs, ws = _fake(X)[::2], _fake(w[::2])  # 300 strided rows
    step = native.lloyd_step(Xs, _fake(X[:k].copy()), ws, chunk_rows=120)
    ref = portable.lloyd_step(X[::2], X[:k].copy(), w[::2], chunk_rows=120)
    np.testing.assert_array_equal(step.labels, ref.labels)
    per_row = native.step_bytes_per_row(k, 16, 4)
    assert fake.launched_rows and all(
        m * (per_row + 16 * 4) <= 120 * per_row for m in fake.launched_rows
    )
    fake.launched_rows.clear()
    native.lloyd_step(_fake(X), _fake(X[:k].copy()), _fake(w), chunk_rows=120)
    assert max(fake.launched_rows) == 120  # contiguous rows: the chunks as given


def test_torch_stream_handed_to_cupy_inside_the_tensors_device(monkeypatch):
    """torch's current stream reaches CuPy through the CUDA stream protocol where CuPy has
    ``Stream.from_external`` (14+, which deprecates ExternalStream), through ExternalStream
    before that, as CuPy's null stream when it is the legacy default stream; and the stream is
    made and used inside the tensor's device (device 1 here), not the current one."""
    events = []

    class Device:
        def __init__(self, index):
            self.index = index

        def __enter__(self):
            events.append(("enter device", self.index))

        def __exit__(self, *exc):
            events.append(("leave device", self.index))

    class Stream:
        null = "null stream"

        def __init__(self, ptr):
            self.ptr = ptr

        @classmethod
        def from_external(cls, obj):
            version, ptr = obj.__cuda_stream__()
            assert version == 0
            events.append(("from_external", ptr))
            return cls(ptr)

        def __enter__(self):
            events.append(("use stream", self.ptr))

        def __exit__(self, *exc):
            events.append(("leave stream", self.ptr))

    fake = SimpleNamespace(cuda=SimpleNamespace(Device=Device, Stream=Stream))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    current = {"ptr": 0xBEEF}
    monkeypatch.setattr(
        torch.cuda,
        "current_stream",
        lambda device: (
            events.append(("current stream of", device.index))
            or SimpleNamespace(cuda_stream=current["ptr"])
        ),
    )
    device = SimpleNamespace(index=1, type="cuda")
    with torch_kernels._torch_stream_for_cupy(device) as cp:
        assert cp is fake
    assert events == [
        ("enter device", 1),
        ("current stream of", 1),
        ("from_external", 0xBEEF),
        ("use stream", 0xBEEF),
        ("leave stream", 0xBEEF),
        ("leave device", 1),
    ]
    assert torch_kernels._cupy_stream(fake, 0, 1) == "null stream"
    del Stream.from_external  # an older CuPy
    fake.cuda.ExternalStream = lambda ptr, index: ("ExternalStream", ptr, index)
    assert torch_kernels._cupy_stream(fake, 0xBEEF, 1) == ("ExternalStream", 0xBEEF, 1)
