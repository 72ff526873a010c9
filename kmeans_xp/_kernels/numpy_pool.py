"""Work arrays the NumPy kernels keep from one run of the loop to the next.

A run's layout (``numpy_step.Layout``) takes its blocks' work arrays, X transposed and the row
norms from here, and gives them back when it is freed, so that the next run of the same shape
writes into pages it has already touched. A fresh large array costs the faults of its pages:
on a virtual machine 0.3-0.4 ms a MiB, which at 1M x 2 made up a third of a warm fit
(``benchmarks/README.md``). The pool holds at most ``MAX_BYTES``, and what it holds never
leaves the kernels.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

#: the most bytes of work arrays kept between runs
MAX_BYTES = 64 << 20

_lock = threading.Lock()
_free: dict[Hashable, list[tuple[Any, int]]] = {}
_held = 0  # bytes in _free


def _reset() -> None:
    # a forked child starts with a lock no thread of its own can hold
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset)


def nbytes(obj: Any) -> int:
    """Bytes of an array, or of the arrays among an object's attributes."""
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    return sum(a.nbytes for a in vars(obj).values() if isinstance(a, np.ndarray))


def take(key: Hashable, make: Callable[[], Any]) -> Any:
    """An object given back under ``key`` by an earlier run, else ``make()``."""
    global _held
    with _lock:
        kept = _free.get(key)
        if kept:
            obj, size = kept.pop()
            _held -= size
            return obj
    return make()


def give_back(taken: list[tuple[Hashable, Any]]) -> None:
    """Keep the ``(key, object)`` pairs for later runs; when they would take the pool past
    ``MAX_BYTES``, what it held before is dropped first (the latest shape is the likeliest
    to come again)."""
    global _held
    sizes = [nbytes(obj) for _, obj in taken]
    if sum(sizes) > MAX_BYTES:
        return
    with _lock:
        if _held + sum(sizes) > MAX_BYTES:
            _free.clear()
            _held = 0
        for (key, obj), size in zip(taken, sizes, strict=True):
            _free.setdefault(key, []).append((obj, size))
            _held += size
