"""Clustering quality on any Array API library: the silhouette score, computed in row chunks.

Only a chunk of the distance matrix (``chunk x n``) exists at any time, never ``n x n``.
"""

from __future__ import annotations

import numbers
from typing import Any

import array_api_compat
import numpy as np

from ._xp import (
    accumulation_dtype,
    array_namespace,
    device_of,
    from_numpy,
    index_dtype,
    to_host,
    to_numpy,
)

__all__ = ["silhouette_score"]

DEFAULT_WORKING_MEMORY_MIB = 64


def silhouette_score(
    X: Any,
    labels: Any,
    /,
    *,
    sample_size: int | None = None,
    random_state: Any = None,
    working_memory: float | None = None,
) -> float:
    """Mean silhouette coefficient of all rows (Euclidean distance), as a Python float.

    For a row, ``a`` is its mean distance to the other members of its cluster and ``b`` its
    smallest mean distance to another cluster; its coefficient is ``(b - a) / max(a, b)``, and 0
    for a row alone in its cluster. Matches ``sklearn.metrics.silhouette_score``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        An array of any Array API library (NumPy, torch, CuPy, array-api-strict, ...),
        computed on X's device in float64 where the device has it; or anything NumPy reads as
        a 2-D array of numbers (nested lists, ...), computed with NumPy. Every value must be
        finite.
    labels : array-like of shape (n_samples,)
        Cluster of every row (any integer values); the number of distinct labels must be
        between 2 and n_samples - 1.
    sample_size : int, optional
        Score a random subset of this many rows instead of all of them (the cost is
        O(sample_size**2 * n_features)). The subset is drawn as scikit-learn draws it, so an
        integer ``random_state`` picks the same rows.
    random_state : None, int, numpy RandomState or Generator
        Seeds the subset drawn for ``sample_size``.
    working_memory : float, optional
        MiB a chunk of the distance matrix may take (default 64).

    Returns
    -------
    float
        The mean silhouette coefficient, in [-1, 1].

    Raises
    ------
    ValueError
        X is not 2-D or holds NaN or infinity; labels are not one per row; fewer than 2 or
        more than n_samples - 1 distinct labels.

    Examples
    --------
    >>> from kmeans_xp import silhouette_score
    >>> X = [[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]]
    >>> round(silhouette_score(X, [0, 0, 1, 1]), 4)
    0.9002
    """
    if not array_api_compat.is_array_api_obj(X):
        X = _host_matrix(X)
    xp = array_namespace(X)
    dev = device_of(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {tuple(X.shape)}")
    (finite,) = to_host(xp.all(xp.isfinite(X)))
    if not bool(finite):
        raise ValueError("X contains NaN or infinity; the silhouette needs finite values")
    host_labels = np.asarray(to_numpy(labels)).reshape(-1)
    n = X.shape[0]
    if host_labels.shape[0] != n:
        raise ValueError(
            f"labels must have one entry per row of X ({n}); got {host_labels.shape[0]}"
        )
    if sample_size is not None:
        if not isinstance(sample_size, numbers.Integral) or not 1 <= sample_size <= n:
            raise ValueError(f"sample_size must be an integer in [1, {n}]; got {sample_size!r}")
        rows = _sample_rows(n, int(sample_size), random_state)
        X = xp.take(X, from_numpy(rows, xp, dev), axis=0)
        host_labels = host_labels[rows]
        n = int(sample_size)

    _, inverse = np.unique(host_labels, return_inverse=True)
    k = int(inverse.max()) + 1
    if not 2 <= k <= n - 1:
        raise ValueError(
            f"the silhouette needs 2 <= number of labels <= n_samples - 1; got {k} labels "
            f"for {n} samples"
        )

    acc = accumulation_dtype(xp, dev)
    idx = index_dtype(xp, dev)
    X = xp.astype(X, acc)
    members = xp.astype(
        from_numpy(inverse, xp, dev, dtype=idx)[:, None] == xp.arange(k, dtype=idx, device=dev),
        acc,
    )  # (n, k) one-hot
    counts = xp.sum(members, axis=0)
    sq_norms = xp.sum(X * X, axis=1)
    cols = xp.arange(n, dtype=idx, device=dev)
    mib = DEFAULT_WORKING_MEMORY_MIB if working_memory is None else working_memory
    # a few (chunk x n) float64 temporaries live at once
    chunk = int(max(1, min(n, mib * 2**20 // (4 * 8 * n))))

    total = xp.zeros((), dtype=acc, device=dev)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        rows_x = X[start:stop, ...]
        sq = sq_norms[start:stop, None] - 2.0 * (rows_x @ X.T) + sq_norms[None, :]
        dist = xp.sqrt(xp.maximum(sq, 0.0))
        # a row's distance to itself is exactly 0 (the expansion above leaves rounding noise)
        is_self = xp.arange(start, stop, dtype=idx, device=dev)[:, None] == cols[None, :]
        dist = xp.where(is_self, xp.zeros((), dtype=acc, device=dev), dist)
        sums = dist @ members  # (chunk, k): summed distance to every cluster
        own = members[start:stop, ...]
        own_count = xp.sum(own * counts, axis=1)
        a = xp.sum(sums * own, axis=1) / xp.maximum(own_count - 1.0, 1.0)
        means = sums / counts
        b = xp.min(xp.where(own > 0, xp.asarray(xp.inf, dtype=acc, device=dev), means), axis=1)
        denom = xp.maximum(a, b)
        s = xp.where(denom > 0, (b - a) / xp.where(denom > 0, denom, 1.0), 0.0)
        s = xp.where(own_count > 1.0, s, 0.0)
        total = total + xp.sum(s)
    (value,) = to_host(total)
    return float(value) / n


def _host_matrix(X: Any) -> np.ndarray:
    """A non-array ``X`` (nested lists, ...) as NumPy float64, as scikit-learn reads it."""
    try:
        return np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"X must be an array or a nested sequence of numbers; got {type(X).__name__} ({exc})"
        ) from None


def _sample_rows(n: int, size: int, random_state: Any) -> np.ndarray:
    """Row indices as scikit-learn's ``check_random_state(rs).permutation(n)[:size]``."""
    if isinstance(random_state, np.random.Generator):
        rng = random_state
    elif isinstance(random_state, np.random.RandomState):
        rng = random_state
    elif random_state is None:
        rng = np.random.mtrand._rand
    elif isinstance(random_state, (numbers.Integral, np.integer)):
        rng = np.random.RandomState(int(random_state))
    else:
        raise ValueError(
            "random_state must be None, an int, a numpy RandomState or Generator; "
            f"got {random_state!r}"
        )
    return rng.permutation(n)[:size].astype(np.int64)
