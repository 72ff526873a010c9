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
results are ordered like any torch operation. ``CUDA_VIA_CUPY = False`` turns this off. The
route is decided per call: CuPy that fails to import, or kernels that fail their first run on a
device, turn it off for good (for that device), with a warning and the reason in
``CUPY_ROUTE_ERRORS``; out of memory only sends that one call to torch's own operations.

Nothing here synchronises with the device (no ``bincount``, ``one_hot`` or ``.item()``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import warnings
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


# the route through the CuPy kernels for float CUDA tensors; False: torch's own operations
CUDA_VIA_CUPY = True
# why the route was given up, by device ("cuda:1"; "import": for every device, CuPy failed to
# import). Only a definite incapability lands here (warned about once): CuPy that cannot be
# imported, or a device where the kernels fail to run at all. A failure of a later call (out of
# memory, say) leaves the route on.
CUPY_ROUTE_ERRORS: dict[str, str] = {}
# devices where the kernels ran once (checked at the first use of a device)
_PROBED: set[str] = set()


@functools.cache
def _cupy_import() -> tuple[Any, str | None]:
    """``(the CuPy kernel module, None)``; ``(None, None)`` when CuPy is not installed;
    ``(None, why)`` when it is but fails to import (a CuPy built for another CUDA raises
    RuntimeError or OSError as well as ImportError)."""
    try:
        if importlib.util.find_spec("cupy") is None:
            return None, None
        import cupy  # noqa: F401

        from . import cupy as module
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return module, None


def _on_cuda(device: torch.device) -> bool:
    return device.type == "cuda"


def _give_up(where: str, why: str) -> None:
    """Record, and warn once, that the CuPy route is off on device ``where`` ("import": all)."""
    if where in CUPY_ROUTE_ERRORS:
        return
    CUPY_ROUTE_ERRORS[where] = why
    where = "any device" if where == "import" else where
    warnings.warn(
        f"kmeans_xp: torch CUDA tensors on {where} use torch's own operations, not the CuPy "
        f"kernels: {why}",
        RuntimeWarning,
        stacklevel=4,
    )


def _via_cupy(X: Any) -> Any:
    """The CuPy kernels to use for X, or None for torch's own."""
    if not CUDA_VIA_CUPY or not _on_cuda(X.device):
        return None
    if X.dtype not in (torch.float32, torch.float64):
        return None
    module, why = _cupy_import()
    if module is None:
        if why is not None:
            _give_up("import", why)
        return None
    where = str(X.device)
    if where in CUPY_ROUTE_ERRORS:
        return None
    if where not in _PROBED and not _probe(module, X.device, X.dtype):
        return None
    return module


def _probe(module: Any, device: torch.device, dtype: Any) -> bool:
    """Whether the CuPy kernels run on ``device``: one step on two rows, the first time a
    device is used. A failure other than out of memory gives the route up on that device."""
    X = torch.arange(8, dtype=dtype, device=device).reshape(2, 4)
    w = torch.ones(2, dtype=dtype, device=device)
    try:
        _run_in_cupy(module.fused_step, X, X[:1].clone(), w, chunk_rows=2)
    except Exception as exc:
        if not _out_of_memory(exc):
            _give_up(str(device), f"{type(exc).__name__}: {exc}")
        return False  # out of memory: no verdict, torch's own operations this time
    _PROBED.add(str(device))
    return True


def _out_of_memory(exc: BaseException) -> bool:
    """CuPy's OutOfMemoryError is a MemoryError; torch's is its own."""
    return isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError))


def _release_cached_memory(device: torch.device) -> None:
    """Hand the blocks CuPy's pool and torch's allocator hold unused back to the device."""
    from . import cupy as module

    module.release_pool(device.index)
    with torch.cuda.device(device):
        torch.cuda.empty_cache()


class _StreamHandle:
    """A raw CUDA stream, as the CUDA stream protocol hands it over (CuPy 14's from_external)."""

    def __init__(self, ptr: int):
        self.ptr = ptr

    def __cuda_stream__(self) -> tuple[int, int]:
        return (0, self.ptr)


def _cupy_stream(cupy: Any, ptr: int, index: int) -> Any:
    """CuPy's view of the CUDA stream ``ptr`` (0: the legacy default stream, CuPy's null one):
    ``Stream.from_external`` where CuPy has it (14+; ExternalStream is deprecated there), else
    ``ExternalStream``."""
    if ptr == 0:
        return cupy.cuda.Stream.null
    from_external = getattr(cupy.cuda.Stream, "from_external", None)
    if from_external is not None:
        return from_external(_StreamHandle(ptr))
    return cupy.cuda.ExternalStream(ptr, index)


@contextlib.contextmanager
def _torch_stream_for_cupy(device: torch.device):
    """CuPy's current device and stream set to X's device and torch's current stream there;
    the stream is made inside the device, as a stream belongs to one."""
    import cupy

    with cupy.cuda.Device(device.index):
        ptr = torch.cuda.current_stream(device).cuda_stream
        with _cupy_stream(cupy, ptr, device.index):
            yield cupy


def _run_in_cupy(function, *args, **kwargs) -> tuple:
    """``function`` (a CuPy kernel) on the tensors among ``args``, shared without copies, on
    torch's current stream; its results as tensors."""
    with _torch_stream_for_cupy(args[0].device) as cp:
        shared = [cp.from_dlpack(a.detach()) if isinstance(a, torch.Tensor) else a for a in args]
        return tuple(torch.from_dlpack(out) for out in function(*shared, **kwargs))


def _through_cupy(function, *args, **kwargs) -> tuple | None:
    """``function`` (a CuPy kernel) through :func:`_run_in_cupy`. Out of memory: the memory
    both allocators cache is released and the call tried once more; out of memory again:
    None, and torch's own operations do this call (the route stays on for the next). Any
    other error is raised: the route worked on this device before (``_probe``)."""
    for attempt in range(2):
        try:
            return _run_in_cupy(function, *args, **kwargs)
        except Exception as exc:  # the inputs are untouched: either path can start over
            if not _out_of_memory(exc):
                raise
            if attempt == 0:
                _release_cached_memory(args[0].device)
    return None


def _route_rows(route: Any, chunk_rows: int, X: Any, k: int) -> int:
    """Rows per chunk on the CuPy route: the bytes ``chunk_rows`` rows were given (sized with
    this module's ``step_bytes_per_row``, torch's own operations) spent on the CuPy step's
    smaller rows (its ``step_bytes_per_row``): fewer chunks, fewer launches, same budget."""
    d, itemsize = X.shape[1], X.element_size()
    budget = chunk_rows * step_bytes_per_row(k, d, itemsize)
    return max(1, budget // route.step_bytes_per_row(k, d, itemsize))


def _small_k(k: int, device: torch.device) -> bool:
    return k <= (SMALL_K_CUDA if device.type == "cuda" else SMALL_K_CPU)


def free_memory(X: Any) -> int | None:
    """Bytes a chunk could still take on X's CUDA device: the driver's free memory plus what
    the allocator the chunks will come from holds unused (CuPy's pool on the CuPy route, whose
    buffers cannot come from what torch caches; else torch's caching allocator); ``None`` on
    the CPU, where only the budget applies."""
    if not _on_cuda(X.device):
        return None
    free, _ = torch.cuda.mem_get_info(X.device)
    if (route := _via_cupy(X)) is not None:
        return int(free + route.pool_free_bytes(X.device.index))
    cached = torch.cuda.memory_reserved(X.device) - torch.cuda.memory_allocated(X.device)
    return int(free + max(cached, 0))


def step_bytes_per_row(k: int, d: int, itemsize: int) -> int:
    """Bytes a chunk's temporaries take per row of the chunk with torch's own operations: the
    m x k distance buffer (the small-k one-hot block reuses it), one m x d block at a time
    (the explicit distance, then the weighted rows of the scatter) and two m-long vectors at
    most. The CuPy route spends the same bytes on more, smaller rows (``_route_rows``)."""
    return (k + d) * itemsize + 16


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
    # (c - x)^2 has the bits of (x - c)^2; one m x d temporary, worked in place
    diff = cent.C.index_select(0, labels_out).sub_(rows)
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
        out := _through_cupy(
            route.assign, X, C, chunk_rows=_route_rows(route, chunk_rows, X, C.shape[0])
        )
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
        out := _through_cupy(
            route.fused_step, X, C, w, chunk_rows=_route_rows(route, chunk_rows, X, C.shape[0])
        )
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
