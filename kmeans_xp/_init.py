"""Initial centres: greedy k-means++, k-means|| and 'random', all honouring ``sample_weight``.

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

from ._kernels import kernels_for
from ._lloyd import lloyd
from ._xp import (
    accumulation_dtype,
    array_namespace,
    device_of,
    from_numpy,
    small_from_local,
    small_to_local,
    to_numpy,
)

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
    w_ordered = xp.take(sample_weight, order)
    x_sq = xp.sum(X_ordered * X_ordered, axis=1)

    def sqdist_from(rows: Any) -> Any:
        # (m, n): one contiguous row of distances per candidate, the -2 folded into the
        # candidates, clamped at zero
        c_sq = xp.sum(rows * rows, axis=1)
        return xp.clip((-2.0 * rows) @ X_ordered.T + x_sq + c_sq[:, None], min=0.0)

    # products in X's dtype, sums in float64 where the device has it: no n-long float64 copies
    first = _weighted_draw(xp, xp.cumulative_sum(w_ordered, dtype=acc), rng.uniform(size=1))
    closest = sqdist_from(xp.take(X_ordered, first, axis=0))[0, :]
    chosen = [first]
    for _ in range(1, n_clusters):
        cumulative = xp.cumulative_sum(closest * w_ordered, dtype=acc)
        candidates = _weighted_draw(xp, cumulative, rng.uniform(size=n_local_trials))
        dist = xp.minimum(sqdist_from(xp.take(X_ordered, candidates, axis=0)), closest)
        potential = xp.sum(dist * w_ordered, axis=1, dtype=acc)
        best = xp.argmin(potential, keepdims=True)
        closest = xp.take(dist, best, axis=0)[0, :]
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


def random_rows(
    X: Any, n_clusters: int, sample_weight: Any, rng: np.random.Generator, *, unit_weight: bool
) -> tuple[Any, Any]:
    """``n_clusters`` distinct rows drawn without replacement (weighted by ``sample_weight``);
    rows of weight zero are drawn only when fewer than ``n_clusters`` rows have weight."""
    xp = array_namespace(X)
    n = X.shape[0]
    w = None if unit_weight else to_numpy(sample_weight).astype(np.float64)
    if w is None or np.all(w == w[0]):
        # equal weights draw exactly what no weights draw (same seed, same rows)
        chosen = rng.permutation(n)[:n_clusters]
    else:
        weighted = min(n_clusters, int(np.count_nonzero(w > 0)))
        chosen = rng.choice(n, size=weighted, replace=False, p=w / w.sum())
        if weighted < n_clusters:  # fewer rows with weight than clusters: add weightless rows
            weightless = rng.permutation(np.flatnonzero(w <= 0))[: n_clusters - weighted]
            chosen = np.concatenate([chosen, weightless])
    indices = from_numpy(chosen.astype(np.int64), xp, device_of(X))
    return xp.take(X, indices, axis=0), indices


def kmeans_parallel(
    X: Any,
    n_clusters: int,
    sample_weight: Any,
    rng: np.random.Generator,
    *,
    oversampling_factor: float = 2.0,
    n_rounds: int = 5,
    n_local_trials: int | None = None,
    working_memory: int = 256 * 2**20,
    n_refine_iter: int = 30,
) -> tuple[Any, Any]:
    """k-means|| (Bahmani et al. 2012): a few oversampling rounds, then the candidates they
    found reclustered into k: greedy k-means++ on them, refined by Lloyd.

    The first candidate is a row drawn with probability proportional to its weight. Each of the
    ``n_rounds`` rounds then draws ``ceil(oversampling_factor * k)`` rows, with replacement,
    with probability proportional to weight times squared distance to the candidates so far:
    every row is expected to be drawn as often as in the paper's independent draws, and the
    fixed count keeps shapes static (no boolean mask; the draws come from the host ``rng``, so
    one seed gives the same candidates on every backend). Every candidate is then weighted by
    the total weight of the rows closest to it, and greedy k-means++ (see
    :func:`kmeans_plusplus`) reduces the candidates to ``n_clusters`` centres, which at most
    ``n_refine_iter`` Lloyd iterations on the weighted candidates then refine (the paper's
    "recluster the weighted points", done as Spark MLlib and dask-ml do; 0 keeps the k-means++
    rows as they are).

    X is read ``n_rounds + 1`` times in all, against ``n_clusters`` times for k-means++; the
    candidates (a few times k x d) are reduced where they are cheapest: in place for eager
    libraries, in one process for Dask. Returns the centres (k x d, in X's namespace) and the
    indices of the rows k-means++ picked among the candidates (the centres themselves when
    ``n_refine_iter`` is 0).
    """
    xp = array_namespace(X)
    dev = device_of(X)
    acc = accumulation_dtype(xp, dev)
    kernels = kernels_for(xp)
    per_round = max(1, math.ceil(oversampling_factor * n_clusters))

    def rows_for(n_centres: int) -> int:
        return kernels.chunk_rows(X, n_centres, working_memory)

    w_acc = xp.astype(sample_weight, acc)
    drawn = _weighted_draw(xp, xp.cumulative_sum(w_acc), rng.uniform(size=1))
    chosen = [drawn]
    _, closest = kernels.assign(X, xp.take(X, drawn, axis=0), chunk_rows=rows_for(1))
    for round_ in range(n_rounds):
        cumulative = xp.cumulative_sum(xp.astype(closest, acc) * w_acc)
        drawn = _weighted_draw(xp, cumulative, rng.uniform(size=per_round))
        chosen.append(drawn)
        if round_ + 1 < n_rounds:  # the last round's distances would not be used
            _, sqdist = kernels.assign(X, xp.take(X, drawn, axis=0), chunk_rows=rows_for(per_round))
            closest = xp.minimum(closest, sqdist)

    indices = xp.concat(chosen)
    candidates = xp.take(X, indices, axis=0)
    # one fused pass: the weight each candidate attracts (repeated draws of a row attract
    # nothing, as ties go to the first candidate, so k-means++ never picks them)
    attracted = kernels.lloyd_step(
        X, candidates, sample_weight, chunk_rows=rows_for(indices.shape[0])
    ).weights
    candidates, attracted, indices = small_to_local(candidates, attracted, indices)
    centers, picked = kmeans_plusplus(
        candidates, n_clusters, attracted, rng, n_local_trials=n_local_trials
    )
    indices = array_namespace(indices).take(indices, picked)
    if n_refine_iter:
        local = kernels_for(array_namespace(candidates))
        centers = lloyd(
            candidates,
            centers,
            attracted,
            max_iter=n_refine_iter,
            tol=0.0,
            kernels=local,
            chunk_rows=local.chunk_rows(candidates, n_clusters, working_memory),
        ).centers
    return small_from_local(centers, X), small_from_local(indices, X)
