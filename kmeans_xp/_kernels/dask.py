"""Dask arrays: the hot operations mapped over row blocks.

Each block of rows is one task that runs the kernels of the block's own library (NumPy, CuPy,
...), so Dask arrays of CuPy chunks take the same path as NumPy ones. The centres enter every
task as one small single-block array; the per-block partial sums are reduced across blocks, so
only k x d statistics travel between workers. Every operation here is lazy.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
from dask.array.utils import meta_from_array

from .._xp import array_namespace
from .contract import Step


def _block_kernels(block: Any) -> Any:
    from . import kernels_for  # the dispatch table imports this module

    return kernels_for(array_namespace(block))


def _assign_block(X: Any, C: Any, chunk_rows: int) -> tuple[Any, Any]:
    return _block_kernels(X).assign(X, C, chunk_rows=chunk_rows)


def _lloyd_step_block(
    X: Any, C: Any, w: Any, prev_labels: Any = None, *, chunk_rows: int
) -> tuple[Any, ...]:
    step = _block_kernels(X).lloyd_step(X, C, w, chunk_rows=chunk_rows, prev_labels=prev_labels)
    return step.labels, step.sums, step.weights, step.inertia, step.n_changed


def _per_block(func: Any, X: Any, *args: Any, **kwargs: Any) -> Any:
    """One task per row block of ``X`` calling ``func(X_block, *args_blocks, **kwargs)``.

    ``args`` are (array, index) pairs: ``"i"`` for per-row arrays (aligned to X's row blocks),
    ``"kj"`` for small arrays handed whole to every task. The result is a 1-D Dask array whose
    blocks are the tuples ``func`` returns; :func:`_rows` and :func:`_reduced` take them apart.
    """
    return da.blockwise(
        func,
        "i",
        X,
        "ij",
        *args,
        concatenate=True,
        dtype=object,
        meta=np.empty((0,), dtype=object),
        **kwargs,
    )


def _item(part: tuple, i: int) -> Any:
    return part[i]


def _item_stacked(part: tuple, i: int) -> Any:
    return part[i][None, ...]


def _rows(parts: Any, i: int, like: Any, dtype: Any) -> Any:
    """Per-row output ``i`` of the block tuples, blocked like X's rows."""
    return da.map_blocks(_item, parts, i, dtype=dtype, meta=meta_from_array(like, 1, dtype))


def _reduced(parts: Any, i: int, shape: tuple[int, ...], like: Any, dtype: Any) -> Any:
    """Sum over the row blocks of the small per-block output ``i`` (of ``shape``)."""
    n_blocks = parts.numblocks[0]
    partial = da.map_blocks(
        _item_stacked,
        parts,
        i,
        new_axis=list(range(1, 1 + len(shape))),
        chunks=((1,) * n_blocks, *((s,) for s in shape)),
        dtype=dtype,
        meta=meta_from_array(like, 1 + len(shape), dtype),
    )
    return partial.sum(axis=0)


def _whole(C: Any) -> Any:
    return C.rechunk(-1)


def _row_blocks(X: Any) -> Any:
    """X with all the columns of a row in one block (a no-op for data prepared by the fit)."""
    return X.rechunk({1: -1})


def assign(X: Any, C: Any, *, chunk_rows: int) -> tuple[Any, Any]:
    """Labels and squared distances, one task per row block (see ``portable.assign``)."""
    X = _row_blocks(X)
    parts = _per_block(_assign_block, X, _whole(C), "kj", chunk_rows=chunk_rows)
    return _rows(parts, 0, X._meta, np.int64), _rows(parts, 1, X._meta, X.dtype)


def lloyd_step(X: Any, C: Any, w: Any, *, chunk_rows: int, prev_labels: Any = None) -> Step:
    """Assign and partial sums fused in one task per row block: X is read once per step; the
    inertia and the changed labels are summed over the blocks like the sums. No per-row
    distances (``sqdist`` None): a block's step may not have them, and the loop never reads
    them."""
    X = _row_blocks(X)
    k, d = C.shape
    rows = (X.chunks[0],)
    previous = () if prev_labels is None else (prev_labels.rechunk(rows), "i")
    parts = _per_block(
        _lloyd_step_block,
        X,
        _whole(C),
        "kj",
        w.rechunk(rows),
        "i",
        *previous,
        chunk_rows=chunk_rows,
    )
    acc = np.float64  # the blocks' accumulation dtype (NumPy and CuPy have float64)
    return Step(
        labels=_rows(parts, 0, X._meta, np.int64),
        sqdist=None,
        sums=_reduced(parts, 1, (k, d), X._meta, X.dtype),
        weights=_reduced(parts, 2, (k,), X._meta, X.dtype),
        inertia=_reduced(parts, 3, (), X._meta, acc),
        n_changed=_reduced(parts, 4, (), X._meta, acc),
    )
