"""Rows of any source brought to the library and device the centres live in, a batch at a time.

A *source* is what is clustered: an array of any Array API library on any device, a NumPy array
or memory map, a Dask array, or a SciPy sparse matrix (densified one batch at a time). A
*target* is the library, device and dtype of the centres. Rows of a source that already is an
array of the target are taken where they are; any other source is read on the host and copied
to the target. :class:`BatchStream` prepares the next batch while the caller works on the
current one: the host read runs in a worker thread and, on CUDA, the copy to the device runs on
a side stream from pinned memory (torch: ``non_blocking`` copies; CuPy: ``ndarray.set`` on a
stream), so the copy overlaps the current step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from ._xp import (
    array_namespace,
    compat_namespace,
    device_of,
    float_dtype,
    from_numpy,
    namespace_name,
    to_numpy,
)

__all__ = [
    "BatchStream",
    "Target",
    "is_dask",
    "is_sparse",
    "iter_batches",
    "rows_of",
    "source_dtype",
    "target_of",
]

# what a draw names: the rows at these indices (an int64 array) or a slice (start, stop)
Rows = Any


@dataclass(frozen=True)
class Target:
    """Where the centres live: ``xp`` (an array-api-compat namespace), ``device``, ``dtype``."""

    xp: Any
    device: Any
    dtype: Any

    @property
    def numpy_dtype(self) -> np.dtype:
        """The NumPy dtype of the same name (host rows are cast before they are copied)."""
        return _numpy_dtype(self.dtype)


def is_sparse(X: Any) -> bool:
    return type(X).__module__.startswith("scipy.sparse")


def is_dask(X: Any) -> bool:
    return type(X).__module__.startswith("dask")


def _is_host(X: Any) -> bool:
    """NumPy arrays (memory maps included), sparse matrices and Dask arrays: read on the host."""
    return isinstance(X, np.ndarray) or is_sparse(X) or is_dask(X)


def target_of(X: Any) -> tuple[Any, Any]:
    """(namespace, device) that rows of ``X`` are computed in: X's own library and device for an
    array of an Array API library, else NumPy on the host (a Dask array of CuPy blocks: CuPy)."""
    if is_dask(X):
        meta = getattr(X, "_meta", None)
        if meta is not None and type(meta).__module__.startswith("cupy"):
            return array_api_compat.array_namespace(meta), device_of(meta)
        return compat_namespace(np), "cpu"
    if _is_host(X) or not array_api_compat.is_array_api_obj(X):
        return compat_namespace(np), "cpu"
    return array_namespace(X), device_of(X)


def in_target(X: Any, target: Target) -> bool:
    """True when ``X`` is an array of the target's library on the target's device (a NumPy memory
    map counts as NumPy: its rows are read where they are)."""
    if is_sparse(X) or is_dask(X) or not array_api_compat.is_array_api_obj(X):
        return False
    same = array_api_compat.array_namespace(X) is target.xp
    return same and device_of(X) == target.device


def _host_rows(X: Any, rows: Rows, dtype: np.dtype) -> np.ndarray:
    """The named rows of a source that is not in the target, as a C-ordered NumPy array."""
    if isinstance(rows, tuple):
        part = X[rows[0] : rows[1]]
    elif _is_host(X):
        part = X[rows]
    else:  # an array of another library or device: taken there, then brought to the host
        xs = array_namespace(X)
        part = xs.take(X, from_numpy(rows, xs, device_of(X)), axis=0)
    if is_sparse(part):
        part = part.toarray()
    elif is_dask(part):
        part = part.compute()
    part = np.ascontiguousarray(to_numpy(part), dtype=dtype)
    # rows of a read-only source (a memory map) are copied: libraries that share host memory
    # (torch) refuse or warn about read-only buffers
    return part if part.flags.writeable else part.copy()


def rows_of(X: Any, rows: Rows, target: Target) -> Any:
    """The named rows of ``X`` (indices, or a (start, stop) slice) as an array of ``target``."""
    if in_target(X, target):
        xp = target.xp
        if isinstance(rows, tuple):
            part = X[rows[0] : rows[1], ...]
        else:
            part = xp.take(X, from_numpy(rows, xp, target.device), axis=0)
        return xp.astype(part, target.dtype, copy=False)
    host = _host_rows(X, rows, target.numpy_dtype)
    return from_numpy(host, target.xp, target.device, dtype=target.dtype)


# ------------------------------------------------------------------ copies to the device
class _PlainCopy:
    """Host rows converted to the target when they are needed (no stream to overlap on)."""

    def __init__(self, target: Target):
        self.target = target

    def stage(self, host: np.ndarray) -> Any:
        return host

    def finish(self, staged: Any) -> Any:
        return from_numpy(staged, self.target.xp, self.target.device, dtype=self.target.dtype)


class _TorchCudaCopy:
    """torch on CUDA: the rows are put in pinned memory and copied on a side stream without
    blocking; the compute stream waits for that copy only when it uses the batch."""

    def __init__(self, target: Target):
        import torch

        self.torch = torch
        self.device = target.device
        self.stream = torch.cuda.Stream(device=self.device)

    def stage(self, host: np.ndarray) -> Any:
        torch = self.torch
        # torch's pinned allocator caches blocks and knows which copies still read them
        pinned = torch.from_numpy(host).pin_memory()
        with torch.cuda.stream(self.stream):
            rows = pinned.to(self.device, non_blocking=True)
            done = torch.cuda.Event()
            done.record(self.stream)
        return rows, done

    def finish(self, staged: Any) -> Any:
        rows, done = staged
        current = self.torch.cuda.current_stream(self.device)
        current.wait_event(done)
        rows.record_stream(current)  # the allocator must not reuse it while current reads it
        return rows


class _CupyCopy:
    """CuPy: the rows are put in pinned memory and copied with ``ndarray.set`` on a stream of
    their own; the current stream waits for that copy's event when it uses the batch."""

    def __init__(self, target: Target):
        import cupy

        self.cupy = cupy
        self.device = target.device
        with self.device:
            self.stream = cupy.cuda.Stream(non_blocking=True)
        self._in_flight: list[tuple[Any, Any]] = []

    def stage(self, host: np.ndarray) -> Any:
        import cupyx

        # CuPy's pinned pool knows nothing of streams: a buffer is kept until its copy is done
        self._in_flight = [(buf, ev) for buf, ev in self._in_flight if not ev.done]
        pinned = cupyx.empty_pinned(host.shape, host.dtype)
        pinned[...] = host
        with self.device:
            rows = self.cupy.empty(host.shape, host.dtype)
            rows.set(pinned, stream=self.stream)
            done = self.stream.record()
        self._in_flight.append((pinned, done))
        return rows, done

    def finish(self, staged: Any) -> Any:
        rows, done = staged
        with self.device:
            self.cupy.cuda.get_current_stream().wait_event(done)
        return rows


def copier_for(target: Target) -> Any:
    """How host rows reach the target: asynchronously where its library and device allow it."""
    name = namespace_name(target.xp)
    if name == "torch" and getattr(target.device, "type", None) == "cuda":
        return _TorchCudaCopy(target)
    if name == "cupy":
        return _CupyCopy(target)
    return _PlainCopy(target)


# ------------------------------------------------------------------------ the stream
class BatchStream:
    """Batches of rows of ``X`` in the target, the rows of each named by ``draw()`` (an index
    array or a (start, stop) slice), each batch prepared while the previous one is used.

    ``draw`` is always called on the caller's thread and in order, so the batches are the same
    with and without the overlap. Rows of a source that is in the target are taken directly
    (nothing to overlap); other sources are read and copied one batch ahead in a worker thread.
    ``copier`` (default: :func:`copier_for` the target) stages host rows and finishes their
    copy. Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        X: Any,
        target: Target,
        draw: Callable[[], Rows],
        *,
        ahead: bool = True,
        copier: Any = None,
    ):
        self.X = X
        self.target = target
        self.draw = draw
        self.direct = in_target(X, target)
        if not self.direct:
            self.copier = copier_for(target) if copier is None else copier
        self._pool = ThreadPoolExecutor(1) if ahead and not self.direct else None
        self._next: Future | None = self._submit() if self._pool is not None else None

    def _prepare(self, rows: Rows) -> Any:
        return self.copier.stage(_host_rows(self.X, rows, self.target.numpy_dtype))

    def _submit(self) -> Future:
        return self._pool.submit(self._prepare, self.draw())

    def next(self) -> Any:
        """The next batch, an array of the target."""
        if self.direct:
            return rows_of(self.X, self.draw(), self.target)
        if self._pool is None:
            return self.copier.finish(self._prepare(self.draw()))
        pending = self._next
        self._next = self._submit()  # the following batch is read and copied meanwhile
        return self.copier.finish(pending.result())

    def close(self) -> None:
        if self._pool is not None:
            if self._next is not None:
                self._next.cancel()
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> BatchStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def iter_batches(X: Any, batch_size: int, *, like: Any = None, ahead: bool = True) -> Iterator[Any]:
    """Consecutive batches of ``batch_size`` rows of ``X``, in the library and on the device of
    ``like`` (an array; default: X's own), each batch read and copied while the previous one is
    used.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        NumPy array or memory map (``np.load(path, mmap_mode="r")``), Dask array, SciPy sparse
        matrix (each batch densified) or an array of any Array API library.
    batch_size : int
        Rows per batch (the last batch may be shorter).
    like : array, optional
        An array of the library and device the batches should be in, e.g.
        ``torch.empty(0, device="cuda")``; its dtype is not used: batches keep X's float dtype
        (integers become float64 where the device has it).
    ahead : bool, default True
        Read and copy the next batch while the current one is used (False: one at a time,
        when asked for; the same batches).

    Returns
    -------
    iterator of arrays of shape (batch_size, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from kmeans_xp import iter_batches
    >>> [b.shape for b in iter_batches(np.zeros((5, 2)), 2)]
    [(2, 2), (2, 2), (1, 2)]
    """
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}")
    xp, device = target_of(X if like is None else like)
    n = int(X.shape[0])
    target = Target(xp, device, source_dtype(X, xp, device))
    starts = iter(range(0, n, int(batch_size)))

    def draw() -> tuple[int, int]:
        start = next(starts, n)
        return start, min(start + int(batch_size), n)

    with BatchStream(X, target, draw, ahead=ahead) as stream:
        for _ in range(0, n, int(batch_size)):
            yield stream.next()


def source_dtype(X: Any, xp: Any, device: Any) -> Any:
    """The dtype of ``xp`` that rows of ``X`` are computed in: X's floating type of the same
    name; integers and booleans as ``float_dtype`` decides (float64 where the device has it)."""
    if _numpy_dtype(X.dtype).name == "float32":
        return xp.float32
    # float64 where the device has it (JAX's 32-bit mode has not: its default float)
    return float_dtype(xp, xp.int64, device)


def _numpy_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype named like ``dtype`` (NumPy's own, or torch.float32, or another
    library's, whose str() ends in the name)."""
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype).rsplit(".", 1)[-1])
