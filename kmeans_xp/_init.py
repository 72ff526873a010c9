"""Initial centres: greedy k-means++ and 'random', both honouring ``sample_weight``.

Random numbers are drawn on the host from a NumPy Generator and only the draws travel to the
device, so the same seed picks the same rows on every backend, with no host synchronisation per
centre. k-means++ walks the cumulative weights in a canonical row order (see ``_row_order``), so
which point a draw lands on depends neither on the order of the rows nor on whether a point
comes as one row of weight 2 or as two copies.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._xp import accumulation_dtype, array_namespace, device_of, from_numpy, to_numpy

# seed of the fixed direction that orders the rows (never the caller's generator: the draws
# the caller's seed makes stay the same)
_ORDER_SEED = 20_071_007


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
    # work on the rows in canonical order (one copy of X), so that the per-centre draws need
    # no gather; the indices are mapped back to the caller's rows at the end
    order = _row_order(X)
    X_ordered = xp.take(X, order, axis=0)
    x_sq = xp.sum(X_ordered * X_ordered, axis=1)
    w_acc = xp.take(xp.astype(sample_weight, acc), order)

    first = _weighted_draw(xp, xp.cumulative_sum(w_acc), rng.uniform(size=1))
    center = xp.take(X_ordered, first, axis=0)
    closest = _sqdist_to(X_ordered, x_sq, center)[:, 0]
    chosen = [first]
    for _ in range(1, n_clusters):
        cumulative = xp.cumulative_sum(xp.astype(closest, acc) * w_acc)
        candidates = _weighted_draw(xp, cumulative, rng.uniform(size=n_local_trials))
        dist = xp.minimum(
            closest[:, None], _sqdist_to(X_ordered, x_sq, xp.take(X_ordered, candidates, axis=0))
        )
        potential = xp.sum(xp.astype(dist, acc) * w_acc[:, None], axis=0)
        best = xp.argmin(potential, keepdims=True)
        closest = xp.take(dist, best, axis=1)[:, 0]
        chosen.append(xp.take(candidates, best))
    indices = xp.take(order, xp.concat(chosen))
    return xp.take(X, indices, axis=0), indices


def _row_order(X: Any) -> Any:
    """The rows' permutation sorted by their projection on a fixed generic direction.

    Distinct rows almost surely get distinct keys, equal rows equal keys, and the order does
    not change when rows are shuffled, translated or scaled: drawing through cumulative weights
    taken in this order makes k-means++ independent of the row order, and a row of weight 2
    covers exactly the interval that two copies of it cover.
    """
    xp = array_namespace(X)
    direction = np.random.default_rng(_ORDER_SEED).standard_normal(X.shape[1])
    key = X @ from_numpy(direction, xp, device_of(X), dtype=X.dtype)
    return xp.argsort(key, stable=True)


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
