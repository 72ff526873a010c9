"""Worker threads for the NumPy kernels, and BLAS held to one thread while they run.

Large inputs are split into equal row ranges, one per thread: NumPy and BLAS release the GIL in
the ufuncs and in np.dot. BLAS is held to one thread meanwhile when threadpoolctl is importable,
as scikit-learn does, so that its own threads do not take the cores from ours.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from typing import Any

try:  # optional: only to keep BLAS single-threaded inside our own worker threads
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
    ThreadpoolController = None

# below this many multiply-adds per step one thread is faster than handing work to a pool
PARALLEL_MIN_WORK = 2_000_000
# a range is never shorter than this many rows
MIN_RANGE_ROWS = 256

# worker threads for large inputs; None: the cores this process may run on (at most 8)
THREADS: int | None = None

_pool: tuple[tuple[int, int], ThreadPoolExecutor] | None = None
_controller: Any = None
_blas_held = 0  # contexts holding BLAS to one thread (the setting is the process's)


def n_threads() -> int:
    """Worker threads for large inputs."""
    if THREADS is not None:
        return max(1, int(THREADS))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def work(n: int, k: int, d: int) -> int:
    """Multiply-adds of a step, roughly: what decides whether it is worth several threads."""
    return n * k * (d + 4)


def row_ranges(n: int, k: int, d: int) -> list[tuple[int, int]]:
    """Contiguous row ranges of (nearly) equal length, one per worker thread."""
    parts = n_threads() if work(n, k, d) >= PARALLEL_MIN_WORK else 1
    parts = max(1, min(parts, -(-n // MIN_RANGE_ROWS)))
    per = -(-n // parts)
    return [(s, min(s + per, n)) for s in range(0, n, per)]


def _executor() -> ThreadPoolExecutor:
    """The worker pool, made anew after a fork (threads do not survive one) or a resize."""
    global _pool
    key = (os.getpid(), n_threads())
    if _pool is None or _pool[0] != key:
        _pool = (key, ThreadPoolExecutor(key[1], thread_name_prefix="kmeans_xp"))
    return _pool[1]


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS held to one thread meanwhile (already so within a fit's context: nothing to do,
    which spares each step threadpoolctl's overhead)."""
    global _controller, _blas_held
    if ThreadpoolController is None or _blas_held:
        yield
        return
    if _controller is None:
        _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        _blas_held += 1
        try:
            yield
        finally:
            _blas_held -= 1


def fit_context(X: Any, k: int) -> Any:
    """BLAS held to one thread for a whole fit when the kernels run their own threads: BLAS's
    threads keep spinning for a while after each call, and a product made outside the kernels
    (the mean of X, say) would leave them taking the cores from ours. Small fits run on one
    thread, and setting the limit would cost more than they do."""
    n, d = X.shape
    if n_threads() > 1 and work(n, k, d) >= PARALLEL_MIN_WORK:
        return single_threaded_blas()
    return nullcontext()


def map_ranges(ranges: list[tuple[int, int]], func: Callable[..., Any], *args: Any) -> list[Any]:
    """``func(start, stop, *args)`` over the row ranges, on worker threads when there are
    several; the results in range order."""
    first, *rest = ranges
    if not rest:
        return [func(*first, *args)]
    with single_threaded_blas():  # the calling thread takes the first range itself
        futures = [_executor().submit(func, s, e, *args) for s, e in rest]
        return [func(*first, *args), *(f.result() for f in futures)]
