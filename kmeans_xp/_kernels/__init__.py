"""Dispatch of the hot operations: a backend's own version where it has one, else the portable
one. The contract a backend implements (names, signatures, results) is in ``contract.py``."""

from __future__ import annotations

import importlib
from typing import Any

from .._xp import namespace_name
from . import portable
from .contract import DEFAULT_HOOKS, HOOKS, OPERATIONS, Kernels

# library (as ``namespace_name`` names it) -> module holding its backend
_NATIVE = {
    "numpy": ".numpy",
    "torch": ".torch",
    "cupy": ".cupy",
    "dask": ".dask",
}

_cache: dict[str, Kernels] = {}


def kernels_for(xp: Any) -> Kernels:
    """The operations and hooks to use for arrays of the namespace ``xp``."""
    name = namespace_name(xp)
    if name not in _cache:
        native = importlib.import_module(_NATIVE[name], __name__) if name in _NATIVE else None
        _cache[name] = Kernels(
            name=name if native else "portable",
            **{op: getattr(native, op, getattr(portable, op)) for op in OPERATIONS},
            **{hook: getattr(native, hook, DEFAULT_HOOKS[hook]) for hook in HOOKS},
        )
    return _cache[name]


def chunk_rows(
    n_samples: int,
    n_clusters: int,
    n_features: int,
    itemsize: int,
    working_memory: int,
    free_memory: int | None = None,
    bytes_per_row: int | None = None,
) -> int:
    """Rows per chunk so that a chunk's temporaries (``bytes_per_row`` a row; by default the
    portable step's, see ``contract.portable_step_bytes_per_row``) fit in ``working_memory``
    bytes, and in half of ``free_memory`` (bytes still free on an accelerator) when given;
    never fewer than one row or more than ``n_samples``."""
    if free_memory is not None:
        working_memory = min(working_memory, free_memory // 2)
    if bytes_per_row is None:
        bytes_per_row = DEFAULT_HOOKS["step_bytes_per_row"](n_clusters, n_features, itemsize)
    return int(max(1, min(n_samples, working_memory // max(1, bytes_per_row))))
