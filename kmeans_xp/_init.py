"""Initial centres: greedy k-means++ and 'random', both honouring ``sample_weight``.

Random numbers are drawn on the host from a NumPy Generator and only the draws travel to the
device, so the same seed picks the same rows on every backend, with no host synchronisation per
centre.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._xp import accumulation_dtype, array_namespace, device_of, from_numpy, to_numpy


def _weighted_draw(xp: Any, cumulative: Any, fractions: np.ndarray) -> Any:
    """Indices drawn with probability proportional to the increments of ``cumulative``.

    ``fractions`` are uniform numbers in [0, 1) drawn on the host. Drawing through cumulative
    weights makes a row of weight 2 exactly as likely as two copies of it.
    """
    targets = from_numpy(fractions, xp, device_of(cumulative), dtype=cumulative.dtype)
    targets = targets * cumulative[-1]
    idx = xp.searchsorted(cumulative, targets, side="right")
    return xp.clip(idx, max=cumulative.shape[0] - 1)


def kmeans_plusplus(
    X: Any,
    n_clusters: int,
    sample_weight: Any,
    rng: np.random.Generator,
    *,
    n_local_trials: int | None = None,
) -> tuple[Any, Any]:
    """Greedy k-means++ (Arthur & Vassilvitskii 2007, with local trials as in scikit-learn).

    Each new centre is the best of ``n_local_trials`` candidates (default 2 + int(ln k)) drawn
    with probability proportional to weight times squared distance to the chosen centres.
    Returns the centres (k x d, in X's namespace) and the indices of the rows chosen.
    """
    xp = array_namespace(X)
    dev = device_of(X)
    acc = accumulation_dtype(xp, dev)
    if n_local_trials is None:
        n_local_trials = 2 + int(math.log(n_clusters))
    x_sq = xp.sum(X * X, axis=1)

    def sqdist_from(rows: Any) -> Any:
        # (m, n): one contiguous row of distances per candidate, the -2 folded into the
        # candidates, clamped at zero
        c_sq = xp.sum(rows * rows, axis=1)
        return xp.clip((-2.0 * rows) @ X.T + x_sq + c_sq[:, None], min=0.0)

    # products in X's dtype, sums in float64 where the device has it: no n-long float64 copies
    first = _weighted_draw(xp, xp.cumulative_sum(sample_weight, dtype=acc), rng.uniform(size=1))
    closest = sqdist_from(xp.take(X, first, axis=0))[0, :]
    chosen = [first]
    for _ in range(1, n_clusters):
        cumulative = xp.cumulative_sum(closest * sample_weight, dtype=acc)
        candidates = _weighted_draw(xp, cumulative, rng.uniform(size=n_local_trials))
        dist = xp.minimum(sqdist_from(xp.take(X, candidates, axis=0)), closest)
        potential = xp.sum(dist * sample_weight, axis=1, dtype=acc)
        best = xp.argmin(potential, keepdims=True)
        closest = xp.take(dist, best, axis=0)[0, :]
        chosen.append(xp.take(candidates, best))
    indices = xp.concat(chosen)
    return xp.take(X, indices, axis=0), indices


def _sqdist_to(X: Any, x_sq: Any, centers: Any) -> Any:
    """Squared distances (n x m) from every row to each of a few centres, clamped at zero."""
    xp = array_namespace(X)
    c_sq = xp.sum(centers * centers, axis=1)
    return xp.clip(x_sq[:, None] - 2.0 * (X @ centers.T) + c_sq, min=0.0)


def random_rows(
    X: Any, n_clusters: int, sample_weight: Any, rng: np.random.Generator, *, unit_weight: bool
) -> tuple[Any, Any]:
    """``n_clusters`` distinct rows drawn without replacement (weighted by ``sample_weight``)."""
    xp = array_namespace(X)
    n = X.shape[0]
    if unit_weight:
        chosen = rng.permutation(n)[:n_clusters]
    else:
        w = to_numpy(sample_weight).astype(np.float64)
        chosen = rng.choice(n, size=n_clusters, replace=False, p=w / w.sum())
    indices = from_numpy(chosen.astype(np.int64), xp, device_of(X))
    return xp.take(X, indices, axis=0), indices
