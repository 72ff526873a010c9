"""Native fast paths for torch tensors, on the CPU and on CUDA.

Same results as ``portable`` (labels int64, the explicit squared distance to the chosen centre,
per-cluster sums and weights), with fewer passes over memory:

- ``assign``: one ``addmm`` per chunk with the centre norms as the bias and -2 folded into the
  centres, written into a buffer reused across chunks, then ``argmin`` written straight into the
  labels; the distance is recomputed explicitly, (x - c)^2 summed, as ``portable`` does.
- the per-cluster sums: ``index_add_`` (scatter) for large k; for small k a weighted one-hot
  block and one ``addmm_`` into the sums, which beats scatter when many rows land on few clusters.
- ``lloyd_step``: both per chunk, so that a chunk of rows is reused while it is still in cache,
  and the distance buffer becomes the one-hot buffer once the argmin has read it.

On CUDA, when CuPy is importable, float32/float64 tensors go through the CuPy kernels instead
(``_kernels/cupy.py``: one fused kernel per chunk for the argmin, the explicit distance and the
update, where torch needs separate passes over the distance block and the rows). The tensors are
shared through DLPack without a copy, and the kernels run on torch's current stream, so the
results are ordered like any torch operation. ``CUDA_VIA_CUPY = False`` turns this off; if CuPy
fails at run time, torch's own operations take over and ``CUPY_ROUTE_ERROR`` says why.

Nothing here synchronises with the device (no ``bincount``, ``one_hot`` or ``.item()``).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import torch

from .portable import Step, finish_step, row_chunks

# k at or below which the segment sum is a one-hot product rather than a scatter. CPU: on the
# 2-core CI machine (benchmarks/torch_kernels.py --crossover) index_add_ pays a per-row cost and
# lost to the one-hot product up to k of about 16-64 for d >= 16 (d=2: from k=16); noisy, so a
# middle value. CUDA: scatter pays atomic contention when many rows hit one cluster (5M x 128,
# k=8: 10 ms scatter vs 1.5 ms one-hot on an H200, ../shared/anchors), while the one-hot product
# (2 n k d flops over 4 n d bytes of X) stays bound by reading X while k/2 flops per byte is under
# the card's flops-to-bandwidth ratio (about 12 on an H200 in float32): k up to a few tens.
SMALL_K_CPU = 16
SMALL_K_CUDA = 32


CUDA_VIA_CUPY = True
# why the CuPy route was given up, if it was (it then stays off for the process)
CUPY_ROUTE_ERROR: str | None = None


@functools.cache
def _cupy_kernels() -> Any:
    """The CuPy kernel module when CuPy is importable, else None."""
    try:
        import cupy  # noqa: F401

        from . import cupy as module
    except ImportError:
        return None
    return module


def _via_cupy(X: Any) -> Any:
    """The CuPy kernels to use for X, or None for torch's own."""
    if not CUDA_VIA_CUPY or X.device.type != "cuda":
        return None
    if X.dtype not in (torch.float32, torch.float64):
        return None
    return _cupy_kernels()


@contextlib.contextmanager
def _torch_stream_for_cupy(device: torch.device):
    """CuPy's current device and stream set to X's device and torch's current stream there
    (torch's default stream is the legacy default stream, which is CuPy's null stream)."""
    import cupy

    ptr = torch.cuda.current_stream(device).cuda_stream
    stream = cupy.cuda.Stream.null if ptr == 0 else cupy.cuda.ExternalStream(ptr, device.index)
    with cupy.cuda.Device(device.index), stream:
        yield cupy


def _through_cupy(function, *args, **kwargs) -> tuple | None:
    """``function`` (a CuPy kernel) on the tensors among ``args``, shared without copies; None
    if CuPy fails (a CuPy built for another CUDA, say): the CuPy route is then turned off, with
    the reason in ``CUPY_ROUTE_ERROR``, and torch's own operations take over."""
    global CUDA_VIA_CUPY, CUPY_ROUTE_ERROR
    device = args[0].device
    try:
        with _torch_stream_for_cupy(device) as cp:
            shared = [
                cp.from_dlpack(a.detach()) if isinstance(a, torch.Tensor) else a for a in args
            ]
            return tuple(torch.from_dlpack(out) for out in function(*shared, **kwargs))
    except Exception as exc:  # the inputs are untouched: torch's own path can start over
        CUDA_VIA_CUPY, CUPY_ROUTE_ERROR = False, f"{type(exc).__name__}: {exc}"
        return None


def _small_k(k: int, device: torch.device) -> bool:
    return k <= (SMALL_K_CUDA if device.type == "cuda" else SMALL_K_CPU)


def free_memory(X: Any) -> int | None:
    """Bytes a chunk could still take on X's CUDA device (driver's free memory plus what torch's
    caching allocator holds unused); ``None`` on the CPU, where only the budget applies."""
    if X.device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(X.device)
    cached = torch.cuda.memory_reserved(X.device) - torch.cuda.memory_allocated(X.device)
    return int(free + max(cached, 0))


class _Centres:
    """What every chunk needs from the centres: ||c||^2 (the bias) and -2 C^T."""

    def __init__(self, C: Any):
        self.C = C
        self.c_sq = torch.sum(C * C, dim=1)
        self.minus_2_ct = (C * -2.0).T


def _assign_chunk(rows, cent, buf, labels_out, sqdist_out):
    """Labels and explicit squared distances of ``rows``, written into the given views.
    ``buf`` (rows x k) receives ||c||^2 - 2 x.c and may be reused by the caller afterwards."""
    torch.addmm(cent.c_sq, rows, cent.minus_2_ct, out=buf)
    torch.argmin(buf, dim=1, out=labels_out)
    diff = rows - cent.C.index_select(0, labels_out)
    torch.sum(diff.mul_(diff), dim=1, out=sqdist_out)


def _accumulate(rows, labels, w, sums, weights, onehot):
    """Add the chunk's weighted rows to ``sums`` / ``weights`` in place. ``onehot`` (rows x k)
    is scratch for the small-k product, ``None`` for the scatter."""
    if onehot is not None:
        onehot.zero_()
        onehot.scatter_(1, labels[:, None], w[:, None])
        sums.addmm_(onehot.T, rows)
        weights.add_(torch.sum(onehot, dim=0))
    else:
        sums.index_add_(0, labels, rows * w[:, None])
        weights.index_add_(0, labels, w)


@torch.no_grad()
def assign(X: Any, C: Any, *, chunk_rows: int) -> tuple[Any, Any]:
    """Nearest centre of every row of ``X`` (int64) and the squared distance to it."""
    if (route := _via_cupy(X)) is not None and (
        out := _through_cupy(route.assign, X, C, chunk_rows=chunk_rows)
    ) is not None:
        return out
    n, k = X.shape[0], C.shape[0]
    cent = _Centres(C)
    labels = torch.empty((n,), dtype=torch.int64, device=X.device)
    sqdist = torch.empty((n,), dtype=X.dtype, device=X.device)
    buf = torch.empty((min(chunk_rows, n), k), dtype=X.dtype, device=X.device)
    for start, stop in row_chunks(n, chunk_rows):
        m = stop - start
        _assign_chunk(X[start:stop], cent, buf[:m], labels[start:stop], sqdist[start:stop])
    return labels, sqdist


@torch.no_grad()
def lloyd_step(X: Any, C: Any, w: Any, *, chunk_rows: int, prev_labels: Any = None) -> Step:
    """Assign and segment sum fused per chunk (see :class:`portable.Step`)."""
    if (route := _via_cupy(X)) is None or (
        out := _through_cupy(route.fused_step, X, C, w, chunk_rows=chunk_rows)
    ) is None:
        out = _fused_step(X, C, w, chunk_rows)
    return finish_step(*out, w, prev_labels)


def _fused_step(X: Any, C: Any, w: Any, chunk_rows: int) -> tuple[Any, Any, Any, Any]:
    """``(labels, sqdist, sums, weights)`` with torch's own operations."""
    n, d = X.shape
    k = C.shape[0]
    cent = _Centres(C)
    labels = torch.empty((n,), dtype=torch.int64, device=X.device)
    sqdist = torch.empty((n,), dtype=X.dtype, device=X.device)
    sums = torch.zeros((k, d), dtype=X.dtype, device=X.device)
    weights = torch.zeros((k,), dtype=X.dtype, device=X.device)
    buf = torch.empty((min(chunk_rows, n), k), dtype=X.dtype, device=X.device)
    small_k = _small_k(k, X.device)
    for start, stop in row_chunks(n, chunk_rows):
        rows, chunk_labels = X[start:stop], labels[start:stop]
        scratch = buf[: stop - start]
        _assign_chunk(rows, cent, scratch, chunk_labels, sqdist[start:stop])
        onehot = scratch if small_k else None
        _accumulate(rows, chunk_labels, w[start:stop], sums, weights, onehot)
    return labels, sqdist, sums, weights
