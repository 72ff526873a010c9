"""Dispatch of the hot operations: a native fast path where one exists, else the portable one.

A backend module (``numpy.py``, ``torch.py``, ...) defines only the functions that are measurably
faster for its library; whatever it leaves out comes from ``portable``.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any

from .._xp import namespace_name
from . import portable

OPERATIONS = ("assign", "segment_sum", "lloyd_step")

# namespace name -> module holding its native fast paths
_NATIVE = {"numpy": ".numpy"}

_cache: dict[str, SimpleNamespace] = {}


def kernels_for(xp: Any) -> SimpleNamespace:
    """The hot operations to use for arrays of ``xp``."""
    name = namespace_name(xp)
    if name not in _cache:
        native = importlib.import_module(_NATIVE[name], __name__) if name in _NATIVE else None
        _cache[name] = SimpleNamespace(
            name=name if native else "portable",
            **{op: getattr(native, op, getattr(portable, op)) for op in OPERATIONS},
        )
    return _cache[name]


def chunk_rows(
    n_samples: int, n_clusters: int, n_features: int, itemsize: int, working_memory: int
) -> int:
    """Rows per chunk so that a chunk's temporaries (about three rows-by-(k + d) blocks) fit in
    ``working_memory`` bytes; never fewer than one row or more than ``n_samples``."""
    per_row = 3 * (n_clusters + n_features) * itemsize
    return int(max(1, min(n_samples, working_memory // per_row)))
