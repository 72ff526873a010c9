"""Dispatch of the hot operations: a native fast path where one exists, else the portable one.

A backend module (``numpy.py``, ``torch.py``, ...) defines only the functions that are measurably
faster for its library; whatever it leaves out comes from ``portable``. Two optional hooks:
``free_memory(X)`` (bytes still free on X's device, to size chunks) and ``fit_context(X, k)`` (a
context manager a whole fit of X with k clusters runs in).
"""

from __future__ import annotations

import contextlib
import importlib
from types import SimpleNamespace
from typing import Any

from .._xp import namespace_name
from . import portable

OPERATIONS = ("assign", "segment_sum", "lloyd_step", "centre_update")

# namespace name -> module holding its native fast paths
_NATIVE = {
    "numpy": ".numpy",
    "torch": ".torch",
    "cupy": ".cupy",
    "dask": ".dask",
    "jax": ".jax",
}

_cache: dict[str, SimpleNamespace] = {}


def kernels_for(xp: Any) -> SimpleNamespace:
    """The hot operations to use for arrays of ``xp``."""
    name = namespace_name(xp)
    if name not in _cache:
        native = importlib.import_module(_NATIVE[name], __name__) if name in _NATIVE else None
        _cache[name] = SimpleNamespace(
            name=name if native else "portable",
            free_memory=getattr(native, "free_memory", _no_free_memory_limit),
            fit_context=getattr(native, "fit_context", _no_fit_context),
            **{op: getattr(native, op, getattr(portable, op)) for op in OPERATIONS},
        )
    return _cache[name]


def _no_fit_context(X: Any, k: int) -> contextlib.nullcontext:
    """Nothing to set up around a fit."""
    return contextlib.nullcontext()


def _no_free_memory_limit(X: Any) -> None:
    """Host memory: only the working-memory budget sizes the chunks."""
    return None


def chunk_rows(
    n_samples: int,
    n_clusters: int,
    n_features: int,
    itemsize: int,
    working_memory: int,
    free_memory: int | None = None,
) -> int:
    """Rows per chunk so that a chunk's temporaries (about three rows-by-(k + d) blocks) fit in
    ``working_memory`` bytes, and in half of ``free_memory`` (bytes still free on an accelerator,
    from a native module's ``free_memory(X)`` hook) when given; never fewer than one row or more
    than ``n_samples``."""
    if free_memory is not None:
        working_memory = min(working_memory, free_memory // 2)
    per_row = 3 * (n_clusters + n_features) * itemsize
    return int(max(1, min(n_samples, working_memory // per_row)))
