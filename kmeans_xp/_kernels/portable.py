"""The two hot operations written against the Array API standard alone.

Rows are processed in chunks of ``chunk_rows`` so that no n x k array is ever built; these are
the reference versions that every native fast path is tested against.
"""

from __future__ import annotations

from typing import Any

from .._xp import array_namespace, device_of


def row_chunks(n_rows: int, chunk_rows: int) -> list[tuple[int, int]]:
    """(start, stop) of consecutive row blocks; stops stay in bounds (the standard asks it)."""
    return [(start, min(start + chunk_rows, n_rows)) for start in range(0, n_rows, chunk_rows)]


def assign(X: Any, C: Any, *, chunk_rows: int) -> tuple[Any, Any]:
    """Nearest centre of every row of ``X`` and the squared distance to it.

    The argmin uses ||c||^2 - 2 x.c (||x||^2 does not change it); the distance returned is the
    explicit sum of (x - c)^2 to the chosen centre, so it is exact and never negative.
    """
    xp = array_namespace(X, C)
    c_sq = xp.sum(C * C, axis=1)
    minus_2_ct = -2.0 * C.T
    labels, sqdist = [], []
    for start, stop in row_chunks(X.shape[0], chunk_rows):
        rows = X[start:stop, ...]
        chunk_labels = xp.argmin(rows @ minus_2_ct + c_sq, axis=1)
        diff = rows - xp.take(C, chunk_labels, axis=0)
        labels.append(chunk_labels)
        sqdist.append(xp.sum(diff * diff, axis=1))
    if len(labels) == 1:
        return labels[0], sqdist[0]
    return xp.concat(labels), xp.concat(sqdist)


def segment_sum(X: Any, labels: Any, w: Any, k: int, *, chunk_rows: int) -> tuple[Any, Any]:
    """Per cluster: the weighted sum of its rows (k x d) and its total weight (k,).

    The standard has no scatter-add, so each chunk is reduced with a one-hot matrix product.
    """
    xp = array_namespace(X, labels, w)
    dev = device_of(X)
    cluster_ids = xp.arange(k, dtype=labels.dtype, device=dev)
    sums = xp.zeros((k, X.shape[1]), dtype=X.dtype, device=dev)
    weights = xp.zeros((k,), dtype=X.dtype, device=dev)
    for start, stop in row_chunks(X.shape[0], chunk_rows):
        member = labels[start:stop, None] == cluster_ids
        weighted = xp.astype(member, X.dtype) * w[start:stop, None]
        sums = sums + weighted.T @ X[start:stop, ...]
        weights = weights + xp.sum(weighted, axis=0)
    return sums, weights


def lloyd_step(
    X: Any, C: Any, w: Any, *, chunk_rows: int, kernels: Any
) -> tuple[Any, Any, Any, Any]:
    """One Lloyd step: labels and squared distances for ``C``, then the per-cluster sums."""
    labels, sqdist = kernels.assign(X, C, chunk_rows=chunk_rows)
    sums, weights = kernels.segment_sum(X, labels, w, C.shape[0], chunk_rows=chunk_rows)
    return labels, sqdist, sums, weights
