"""Native fast paths for CuPy arrays: cuBLAS for the products, one small CUDA module for the rest.

Per chunk of rows, a Lloyd step is
1. ``G = X_chunk @ (-2 C).T`` through cuBLAS, into a buffer reused across chunks;
2. one kernel, ``assign_rows``, a warp per row: the row argmin of ``G + ||c||^2`` (ties to the
   lowest index, as ``argmin``), the explicit squared distance sum((x - c)^2) to that centre
   (as ``portable`` returns it), and then, depending on k, either the atomic scatter of
   ``w * x`` into the cluster sums (large k) or the weighted one-hot row written over the row of
   ``G`` it has just read (small k), which a second cuBLAS product ``G.T @ X_chunk`` reduces.
This replaces CuPy's distance epilogue plus ``argmin(axis=1)`` (slower than the GEMM itself on
an H200, ../shared/PERFORMANCE.md) with one pass over ``G``, and the update costs no extra pass
over X for large k. On sm_90 (H100/H200), float32 rows with d % 4 == 0 are read 16 bytes at a
time and scattered with float4 atomics (``VECTOR_ROWS``).

All kernels live in one source compiled once per process and device (one NVRTC call) for float
and double. Nothing here synchronises with the host. cupy is imported only when a function runs,
so this module imports on machines without it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from . import portable
from .portable import row_chunks

# k at or below which the update is a one-hot product (cuBLAS) rather than atomics: atomics
# contend when many rows share few clusters (5M x 128, k=8 on an H200: scatter 10 ms, one-hot
# 1.5 ms; 1M x 64, k=1024: scatter 0.4 ms, one-hot 13 ms; ../shared/anchors). The one-hot product
# (2 n k d flops over 4 n d bytes of X) stays bound by reading X while k/2 flops per byte is under
# the card's flops-to-bandwidth ratio (about 12 on an H200 in float32): k up to a few tens.
SMALL_K = 32

# float32 rows with d % 4 == 0 read 16 bytes at a time and scattered with float4 atomics (sm_90)
VECTOR_ROWS = True

_THREADS = 256  # 8 warps (rows) per block
_MAX_BLOCKS = 1 << 20  # the kernels loop over rows (grid stride) beyond this

# modes of assign_rows
_ASSIGN, _SCATTER, _ONEHOT = 0, 1, 2

SOURCE = r"""
#define FULL_MASK 0xffffffffu

// This lane's share of sum((x - c)^2) over a row of d values (lanes stride by 32) and, when
// scatter, of the atomic adds of w * x into the sums row s.
template <typename T>
__device__ __forceinline__ T lane_row(const T* __restrict__ x, const T* __restrict__ c, T* s,
                                      T wi, int d, int lane, bool scatter, bool vec4) {
    T acc = 0;
    for (int t = lane; t < d; t += 32) {
        const T xv = x[t];
        const T diff = xv - c[t];
        acc += diff * diff;
        if (scatter) atomicAdd(s + t, wi * xv);
    }
    return acc;
}

// float on sm_90 with 16-byte aligned rows (d % 4 == 0): 16-byte loads and float4 atomics, a
// quarter of the load and atomic instructions.
template <>
__device__ __forceinline__ float lane_row<float>(const float* __restrict__ x,
                                                 const float* __restrict__ c, float* s, float wi,
                                                 int d, int lane, bool scatter, bool vec4) {
#if __CUDA_ARCH__ >= 900 && !defined(KMEANS_XP_SCALAR_ROWS)
    if (vec4) {
        const float4* x4 = reinterpret_cast<const float4*>(x);
        const float4* c4 = reinterpret_cast<const float4*>(c);
        float4* s4 = reinterpret_cast<float4*>(s);
        float acc = 0.f;
        for (int t = lane; t < (d >> 2); t += 32) {
            const float4 xv = x4[t];
            const float4 cv = c4[t];
            const float a = xv.x - cv.x, b = xv.y - cv.y, e = xv.z - cv.z, f = xv.w - cv.w;
            acc += (a * a + b * b) + (e * e + f * f);
            if (scatter) {
                float4 add;
                add.x = wi * xv.x;
                add.y = wi * xv.y;
                add.z = wi * xv.z;
                add.w = wi * xv.w;
                atomicAdd(s4 + t, add);
            }
        }
        return acc;
    }
#endif
    float acc = 0.f;
    for (int t = lane; t < d; t += 32) {
        const float xv = x[t];
        const float diff = xv - c[t];
        acc += diff * diff;
        if (scatter) atomicAdd(s + t, wi * xv);
    }
    return acc;
}

// Row argmin of G + c_sq (a warp per row), the explicit squared distance to the chosen centre
// and, by mode, the update: 0 none, 1 atomic scatter of w*x into sums/weights, 2 the weighted
// one-hot row written over the row of G just read (G is therefore not const / restrict).
// vec4: float rows of X and C (and sums) 16-byte aligned with d % 4 == 0, see lane_row.
template <typename T>
__global__ void assign_rows(T* G, const T* __restrict__ c_sq, const T* __restrict__ X,
                            const T* __restrict__ C, const T* __restrict__ w,
                            long long* __restrict__ labels, T* __restrict__ sqdist,
                            T* sums, T* weights, long long m, int k, int d, int mode, int vec4) {
    const int lane = threadIdx.x & 31;
    const long long first = (blockIdx.x * (long long)blockDim.x + threadIdx.x) >> 5;
    const long long stride = ((long long)gridDim.x * blockDim.x) >> 5;
    for (long long i = first; i < m; i += stride) {
        T* g = G + i * k;
        // per lane: the first minimum of its columns lane, lane + 32, ... (-1: no column)
        int bj = -1;
        T best = 0;
        #pragma unroll 4
        for (int j = lane; j < k; j += 32) {
            const T v = g[j] + c_sq[j];
            if (bj < 0 || v < best) { best = v; bj = j; }
        }
        // across lanes: the smallest value, ties to the smallest column
        for (int off = 16; off > 0; off >>= 1) {
            const T ov = __shfl_xor_sync(FULL_MASK, best, off);
            const int oj = __shfl_xor_sync(FULL_MASK, bj, off);
            if (oj >= 0 && (bj < 0 || ov < best || (ov == best && oj < bj))) {
                best = ov;
                bj = oj;
            }
        }
        bj = __shfl_sync(FULL_MASK, bj, 0);  // one answer for the warp, even with NaN
        const T wi = mode != 0 ? w[i] : T(0);
        T acc = lane_row<T>(X + i * d, C + (long long)bj * d, sums + (long long)bj * d, wi, d,
                            lane, mode == 1, vec4 != 0);
        for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(FULL_MASK, acc, off);
        if (lane == 0) {
            labels[i] = bj;
            sqdist[i] = acc;
            if (mode == 1) atomicAdd(weights + bj, wi);
        }
        if (mode == 2) {
            for (int j = lane; j < k; j += 32) g[j] = j == bj ? wi : T(0);
        }
    }
}
"""

_NAMES = ("assign_rows<float>", "assign_rows<double>")


def _cupy():
    import cupy

    return cupy


# why the kernels were compiled without the float4 path, if they were (None: they were not)
SCALAR_FALLBACK: str | None = None


@functools.cache
def _module(device_id: int):
    """The kernels for one device, compiled once per process (CuPy reads modules compiled with
    name expressions back from its disk cache only in some versions). Should the float4 path
    not compile (its vector atomics need CUDA 12.1+ headers), the module is compiled once more
    without it, ``SCALAR_FALLBACK`` says why, and that module serves every kernel: the failure
    is met once per device, not once per kernel."""
    global SCALAR_FALLBACK
    cp = _cupy()
    module = cp.RawModule(code=SOURCE, options=(), name_expressions=_NAMES)
    try:
        module.compile()
    except cp.cuda.compiler.CompileException as exc:
        SCALAR_FALLBACK = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        module = cp.RawModule(
            code=SOURCE, options=("-DKMEANS_XP_SCALAR_ROWS",), name_expressions=_NAMES
        )
        module.compile()
    return module


@functools.cache
def _function(device_id: int, name: str):
    """One kernel of the module, kept: ``get_function`` builds a new RawKernel at every call."""
    return _module(device_id).get_function(name)


def _kernel(name: str, X: Any):
    ctype = "float" if X.dtype == np.float32 else "double"
    return _function(X.device.id, f"{name}<{ctype}>")


def _native(X: Any) -> bool:
    """The kernels cover float32 and float64; anything else goes the portable way."""
    return X.dtype in (np.float32, np.float64)


def _check_operands(X: Any, C: Any, w: Any = None) -> None:
    """The kernels read C and w as raw pointers to X's element type and shape: anything else
    would be read as garbage, so it is refused here with what was received."""
    n, d = X.shape
    if C is not None and (C.ndim != 2 or C.shape[1] != d or C.dtype != X.dtype):
        raise TypeError(
            f"centres must be (k, {d}) {X.dtype} like X; got {tuple(C.shape)} {C.dtype}"
        )
    if w is not None and (w.shape != (n,) or w.dtype != X.dtype):
        raise TypeError(f"weights must be ({n},) {X.dtype} like X; got {tuple(w.shape)} {w.dtype}")


def step_bytes_per_row(k: int, d: int, itemsize: int) -> int:
    """Bytes a chunk's temporaries take per row of the chunk: the m x k product buffer (which
    the small-k update reuses as its one-hot block) and, for small k, a vector of ones.
    Rows that are not contiguous are copied chunk by chunk as well: the chunks are then cut
    smaller so that the copy fits in the same budget (``_launch_rows``)."""
    return (k + (1 if k <= SMALL_K else 0)) * itemsize


def _launch_rows(X: Any, chunk_rows: int, k: int) -> int:
    """Rows per chunk: ``chunk_rows``, or fewer when X's rows are not contiguous, so that the
    chunk's copy (m x d) and its buffers together stay within what ``chunk_rows`` rows of
    ``step_bytes_per_row`` were given."""
    if X.flags.c_contiguous:
        return chunk_rows
    itemsize, d = X.dtype.itemsize, X.shape[1]
    per_row = step_bytes_per_row(k, d, itemsize)
    return max(1, chunk_rows * per_row // (per_row + d * itemsize))


def _launch(kernel, arrays: tuple, m: int, k: int, d: int, mode: int, vec4: bool) -> None:
    """One warp per row, ``m`` rows; the scalars typed as the kernels declare them."""
    blocks = max(1, min(-(-m // (_THREADS // 32)), _MAX_BLOCKS))
    scalars = (np.int64(m), np.int32(k), np.int32(d), np.int32(mode), np.int32(vec4))
    kernel((blocks,), (_THREADS,), (*arrays, *scalars))


def _vec4(*arrays: Any) -> bool:
    """16-byte rows for the kernels' float4 path: float32, d % 4 == 0, aligned base pointers
    (the kernels take that path on sm_90 only)."""
    a = arrays[0]
    return bool(
        VECTOR_ROWS
        and a.dtype == np.float32
        and a.shape[-1] % 4 == 0
        and all(b.data.ptr % 16 == 0 for b in arrays)
    )


def free_memory(X: Any) -> int:
    """Bytes a chunk could still take on X's device: the driver's free memory plus what CuPy's
    memory pool holds unused."""
    cp = _cupy()
    with X.device:
        free, _ = cp.cuda.runtime.memGetInfo()
    return int(free + pool_free_bytes(X.device.id))


def pool_free_bytes(device_id: int) -> int:
    """Bytes CuPy's memory pool holds unused on a device (its chunks can reuse them)."""
    cp = _cupy()
    with cp.cuda.Device(device_id):
        return int(cp.get_default_memory_pool().free_bytes())


def release_pool(device_id: int) -> None:
    """Hand the blocks CuPy's memory pool holds unused on a device back to the driver."""
    cp = _cupy()
    with cp.cuda.Device(device_id):
        cp.get_default_memory_pool().free_all_blocks()


class _Centres:
    """What every chunk needs from the centres, built as ``portable`` builds it (same bits, so
    the same labels): ||c||^2 and -2 C^T, plus C in row-major order for the kernels."""

    def __init__(self, C: Any):
        cp = _cupy()
        self.k = C.shape[0]
        self.C = cp.ascontiguousarray(C)
        self.c_sq = cp.ascontiguousarray(cp.sum(C * C, axis=1))
        self.minus_2_ct = -2.0 * C.T


def _rows(X: Any, start: int, stop: int) -> Any:
    return _cupy().ascontiguousarray(X[start:stop])


def _assign_chunk(rows, cent, buf, labels, sqdist, w, sums, weights, mode) -> None:
    """Labels and distances of ``rows`` into the given views; by ``mode``, the update too
    (for ``_ONEHOT``, ``buf`` then holds the weighted one-hot rows of the chunk)."""
    _cupy().dot(rows, cent.minus_2_ct, out=buf)  # cuBLAS straight into buf (C-contiguous)
    arrays = (buf, cent.c_sq, rows, cent.C, w, labels, sqdist, sums, weights)
    m, d = rows.shape
    vec4 = _vec4(rows, cent.C, sums) if mode == _SCATTER else _vec4(rows, cent.C)
    _launch(_kernel("assign_rows", rows), arrays, m, cent.k, d, mode, vec4)


def _add_onehot_product(onehot, rows, ones, sums, weights) -> None:
    """sums += onehot.T @ rows and weights += ones @ onehot (cuBLAS both)."""
    cp = _cupy()
    sums += cp.dot(onehot.T, rows)
    weights += cp.dot(ones[: onehot.shape[0]], onehot)


def assign(X: Any, C: Any, *, chunk_rows: int) -> tuple[Any, Any]:
    """Nearest centre of every row of ``X`` (int64) and the squared distance to it."""
    if not _native(X):
        return portable.assign(X, C, chunk_rows=chunk_rows)
    _check_operands(X, C)
    cp = _cupy()
    n, k = X.shape[0], C.shape[0]
    rows_per_chunk = _launch_rows(X, chunk_rows, k)
    with X.device:
        cent = _Centres(C)
        labels = cp.empty((n,), dtype=cp.int64)
        sqdist = cp.empty((n,), dtype=X.dtype)
        buf = cp.empty((min(rows_per_chunk, n), k), dtype=X.dtype)
        for start, stop in row_chunks(n, rows_per_chunk):
            views = (buf[: stop - start], labels[start:stop], sqdist[start:stop])
            # w, sums and weights are not read in this mode: any valid pointer will do
            _assign_chunk(_rows(X, start, stop), cent, *views, sqdist, sqdist, sqdist, _ASSIGN)
    return labels, sqdist


def lloyd_step(
    X: Any, C: Any, w: Any, *, chunk_rows: int, prev_labels: Any = None
) -> portable.Step:
    """Assign and update fused per chunk (see :class:`contract.Step`)."""
    if not _native(X):
        return portable.lloyd_step(X, C, w, chunk_rows=chunk_rows, prev_labels=prev_labels)
    return portable.finish_step(*fused_step(X, C, w, chunk_rows=chunk_rows), w, prev_labels)


def fused_step(X: Any, C: Any, w: Any, *, chunk_rows: int) -> tuple[Any, Any, Any, Any]:
    """``(labels, sqdist, sums, weights)`` of one step on native input, one fused kernel per
    chunk (torch CUDA tensors come here too, through DLPack)."""
    _check_operands(X, C, w)
    cp = _cupy()
    n, d = X.shape
    k = C.shape[0]
    rows_per_chunk = _launch_rows(X, chunk_rows, k)
    with X.device:
        cent = _Centres(C)
        w = cp.ascontiguousarray(w)
        labels = cp.empty((n,), dtype=cp.int64)
        sqdist = cp.empty((n,), dtype=X.dtype)
        sums = cp.zeros((k, d), dtype=X.dtype)
        weights = cp.zeros((k,), dtype=X.dtype)
        buf = cp.empty((min(rows_per_chunk, n), k), dtype=X.dtype)
        small_k = k <= SMALL_K
        ones = cp.ones((buf.shape[0],), dtype=X.dtype) if small_k else None
        for start, stop in row_chunks(n, rows_per_chunk):
            rows, scratch = _rows(X, start, stop), buf[: stop - start]
            views = (labels[start:stop], sqdist[start:stop], w[start:stop])
            _assign_chunk(
                rows, cent, scratch, *views, sums, weights, _ONEHOT if small_k else _SCATTER
            )
            if small_k:
                _add_onehot_product(scratch, rows, ones, sums, weights)
    return labels, sqdist, sums, weights
