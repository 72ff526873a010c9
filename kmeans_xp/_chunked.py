"""Passes over every row of a source, chunk by chunk on the centres' device: labels and
inertia, distances, and the columns' variance. The source may live anywhere (see
``_streaming``); each chunk is moved to the target, and the results come back in the source's
library.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._kernels import kernels_for
from ._streaming import Target, in_target, is_dask, is_sparse, rows_of
from ._xp import accumulation_dtype, array_namespace, device_of, from_numpy, to_host, to_numpy


def _chunks(n: int, rows: int) -> list[tuple[int, int]]:
    return [(start, min(start + rows, n)) for start in range(0, n, rows)]


def labels_and_inertia(
    X: Any, centers: Any, w_host: np.ndarray | None, target: Target, rows: int
) -> tuple[Any, float]:
    """Nearest centre of every row of X (in X's library) and the weighted inertia (a float),
    ``rows`` rows at a time through the target's ``assign`` kernel."""
    xp = target.xp
    kernels = kernels_for(xp)
    acc = accumulation_dtype(xp, target.device)
    parts, total = [], None
    for start, stop in _chunks(int(X.shape[0]), rows):
        chunk = rows_of(X, (start, stop), target)
        labels, sqdist = kernels.assign(chunk, centers, chunk_rows=rows)
        w = weights_in(w_host, (start, stop), target)
        part = xp.sum(xp.astype(sqdist, acc) * xp.astype(w, acc))
        total = part if total is None else total + part
        parts.append(labels)
    labels = parts[0] if len(parts) == 1 else xp.concat(parts)
    (inertia,) = to_host(total)
    return to_library_of(X, labels, target), float(inertia)


def distances(X: Any, centers: Any, target: Target, rows: int) -> Any:
    """Euclidean distances of every row of X to every centre (rows x k, in X's library)."""
    xp = target.xp
    parts = [
        _chunk_distances(rows_of(X, (start, stop), target), centers)
        for start, stop in _chunks(int(X.shape[0]), rows)
    ]
    return to_library_of(X, parts[0] if len(parts) == 1 else xp.concat(parts), target)


def _chunk_distances(chunk: Any, centers: Any) -> Any:
    """Distances of the rows of ``chunk`` to ``centers``, computed in the accumulation dtype,
    the nearest from explicit differences (exactly 0 on a centre); in the chunk's dtype."""
    xp = array_namespace(chunk, centers)
    dev = device_of(chunk)
    acc = accumulation_dtype(xp, dev)
    rows, cent = xp.astype(chunk, acc), xp.astype(centers, acc)
    c_sq = xp.sum(cent * cent, axis=1)
    sq = xp.sum(rows * rows, axis=1)[:, None] - 2.0 * (rows @ cent.T) + c_sq
    nearest = xp.argmin(sq, axis=1)
    diff = rows - xp.take(cent, nearest, axis=0)
    exact = xp.sum(diff * diff, axis=1)
    ids = xp.arange(cent.shape[0], device=dev)
    sq = xp.where(ids == nearest[:, None], exact[:, None], sq)
    return xp.astype(xp.sqrt(xp.maximum(sq, 0.0)), chunk.dtype)


def mean_column_variance(X: Any, target: Target, rows: int) -> float:
    """The mean over the columns of their (unweighted) variance, from one pass: per-chunk means
    and sums of squared deviations, merged on the host in float64 (Chan et al.)."""
    xp = target.xp
    acc = accumulation_dtype(xp, target.device)
    count, mean, m2 = 0, None, None
    for start, stop in _chunks(int(X.shape[0]), rows):
        chunk = xp.astype(rows_of(X, (start, stop), target), acc)
        c_mean = xp.mean(chunk, axis=0)
        c_m2 = xp.sum((chunk - c_mean) ** 2, axis=0)
        c_mean, c_m2 = (np.asarray(a, dtype=np.float64) for a in to_host(c_mean, c_m2))
        c_n = stop - start
        if mean is None:
            count, mean, m2 = c_n, c_mean, c_m2
            continue
        delta = c_mean - mean
        total = count + c_n
        mean = mean + delta * c_n / total
        m2 = m2 + c_m2 + delta**2 * count * c_n / total
        count = total
    return float(np.mean(m2 / count))


def weights_in(w_host: np.ndarray | None, rows: Any, target: Target) -> Any:
    """The weights of the named rows (indices or a (start, stop) slice) in the target; None
    stands for weights of 1."""
    n = rows[1] - rows[0] if isinstance(rows, tuple) else rows.shape[0]
    if w_host is None:
        return target.xp.ones((n,), dtype=target.dtype, device=target.device)
    part = w_host[rows[0] : rows[1]] if isinstance(rows, tuple) else w_host[rows]
    return from_numpy(part, target.xp, target.device, dtype=target.dtype)


def to_library_of(X: Any, out: Any, target: Target) -> Any:
    """Results computed in the target, returned in X's library: as they are when X is in the
    target, NumPy for host sources (memory maps, sparse matrices, Dask arrays), else converted
    to X's library and device."""
    if in_target(X, target):
        return out
    if isinstance(X, np.ndarray) or is_sparse(X) or is_dask(X):
        return to_numpy(out)
    return from_numpy(to_numpy(out), array_namespace(X), device_of(X))
