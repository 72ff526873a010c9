"""Dispatch of the hot operations: a backend's own version where it has one, else the portable
one. The contract a backend implements (names, signatures, results) is in ``contract.py``."""

from __future__ import annotations

import importlib
from typing import Any

from .._xp import namespace_name
from . import portable
from .contract import DEFAULT_HOOKS, HOOKS, OPERATIONS, Kernels, chunk_rows

__all__ = ["Kernels", "chunk_rows", "kernels_for"]

# library (as ``namespace_name`` names it) -> module holding its backend
_NATIVE = {
    "numpy": ".numpy",
    "torch": ".torch",
    "cupy": ".cupy",
    "dask": ".dask",
    "jax": ".jax",
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
