"""Initial centres: greedy k-means++, k-means|| and 'random', all honouring ``sample_weight``.

Random numbers are drawn on the host from a NumPy Generator and only the draws travel to the
device, so the same seed picks the same rows on every backend, with no host synchronisation per
centre. k-means++ walks the cumulative weights in a canonical row order (see ``_row_order``), so
which point a draw lands on depends neither on the order of the rows nor on whether a point
comes as one row of weight 2 or as two copies.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numpy as np

from ._kernels import kernels_for
from ._kernels.portable import row_chunks
from ._lloyd import lloyd
from ._xp import (
    accumulation_dtype,
    array_namespace,
    device_of,
    from_numpy,
    is_lazy,
    small_from_local,
    small_to_local,
    to_numpy,
)

# seed of the fixed direction that orders the rows (never the caller's generator: the draws
# the caller's seed makes stay the same)
_ORDER_SEED = 20_071_007
# the working-memory budget of KMeans's default (bytes)
DEFAULT_WORKING_MEMORY = 256 * 2**20
# a chunk never has fewer rows, however many rows the n-long vectors take of the budget (below
# a few thousand rows, a chunk's fixed costs outweigh its work)
MIN_CHUNK_ROWS = 4096
# larger chunks of the sampling passes fall out of the caches, and NumPy gets their temporaries
# from the system (page faults) on every pass
CHUNK_BYTES = 16 * 2**20


def _weighted_draw(xp: Any, cumulative: Any, fractions: np.ndarray) -> Any:
    """Indices drawn with probability proportional to the increments of ``cumulative``.

    ``fractions`` are uniform numbers in [0, 1) drawn on the host. Drawing through cumulative
    weights makes a row of weight 2 exactly as likely as two copies of it.
    """
    targets = from_numpy(fractions, xp, device_of(cumulative), dtype=cumulative.dtype)
    targets = targets * cumulative[-1]
    idx = xp.searchsorted(cumulative, targets, side="right")
    return xp.minimum(idx, cumulative.shape[0] - 1)


def kmeans_plusplus(
    X: Any,
    n_clusters: int,
    sample_weight: Any,
    rng: np.random.Generator,
    *,
    n_local_trials: int | None = None,
    working_memory: int = DEFAULT_WORKING_MEMORY,
) -> tuple[Any, Any]:
    """Greedy k-means++ (Arthur & Vassilvitskii 2007, with local trials as in scikit-learn).

    Each new centre is the best of ``n_local_trials`` candidates (default 2 + int(ln k)) drawn
    with probability proportional to weight times squared distance to the chosen centres.
    Returns the centres (k x d, in X's namespace) and the indices of the rows chosen.

    X is read in chunks of rows (and copied once, widened to float64, where that fits in
    ``working_memory`` and the kernels ask for it); what the sampling holds besides X is
    bounded by ``working_memory`` (see :func:`_sampling_plan`) as long as 56 bytes a row fit
    in it.
    Everything that decides a draw (the row order, the distances, the potentials) is computed
    in the accumulation dtype (float64 where the device has it) from X's values, so backends
    that round X's own dtype differently still draw the same rows (see the kernels'
    ``seeding_trials``, which try the candidates).
    """
    xp = array_namespace(X)
    acc = accumulation_dtype(xp, device_of(X))
    kernels = kernels_for(xp)
    if n_local_trials is None:
        n_local_trials = 2 + int(math.log(n_clusters))
    rows, keep, widen = _sampling_plan(X, n_local_trials, working_memory, kernels.seeding_widens(X))
    # what decides the draws reads Xa, X's values in the accumulation dtype; centres are X's rows
    Xa = xp.astype(X, acc) if widen else X
    order = _row_order(Xa, rows)
    x_sq = _row_sq_norms(Xa, rows)
    w = xp.astype(sample_weight, acc, copy=False)

    def draw(weights: Any, size: int) -> Any:
        # positions in the canonical order, mapped back to rows of X
        cumulative = xp.cumulative_sum(xp.take(weights, order))
        return xp.take(order, _weighted_draw(xp, cumulative, rng.uniform(size=size)))

    def trials(candidates: Any, closest: Any, keep: bool) -> tuple[Any, Any]:
        # distances are kept in X's dtype (half the memory in float32): rounding values that
        # agree to float64 precision gives the same value on every backend
        C = xp.take(X, candidates, axis=0)
        return kernels.seeding_trials(Xa, x_sq, C, closest, w, chunk_rows=rows, keep=keep)

    first = draw(w, 1)
    closest = trials(first, None, True)[1][0, :]
    chosen = [first]
    for _ in range(1, n_clusters):
        candidates = draw(closest * w, n_local_trials)
        potentials, dist = trials(candidates, closest, keep)
        pick = xp.argmin(potentials, keepdims=True)
        best = xp.take(candidates, pick)
        if keep:
            closest = xp.take(dist, pick, axis=0)[0, :]
        else:  # one more pass, over the chosen candidate alone
            closest = trials(best, closest, True)[1][0, :]
        chosen.append(best)
    indices = xp.concat(chosen)
    return xp.take(X, indices, axis=0), indices


class SamplingPlan(NamedTuple):
    """How k-means++ reads X within its working memory (see :func:`_sampling_plan`)."""

    rows: int  # rows per chunk of a sampling pass
    keep: bool  # the candidates' distances are kept for the choice (else one more pass)
    widen: bool  # X is copied once into the accumulation dtype (else each pass widens chunks)


def _sampling_plan(X: Any, columns: int, working_memory: int, widen: bool = True) -> SamplingPlan:
    """How to read X for the sampling passes of k-means++ with ``columns`` candidates per
    centre (``widen``: whether the kernels want X widened, where it fits).

    Of ``working_memory``, the n-long vectors k-means++ holds (the order, the row norms, the
    weights in float64, the closest distances and the cumulative weights' temporaries: 56 bytes
    a row at most) come first; the candidates' distances (n x ``columns`` in X's dtype) are
    kept for the choice when they fit in half of what is left (otherwise a second pass computes
    the chosen one's); then X is widened once to float64 when that copy fits in half of what is
    left (otherwise every pass widens each chunk anew: at 200k x 64, k=256, 1.6x the time).
    A chunk's temporaries (its rows in float64 and a few rows-by-``columns`` blocks) take at
    most the rest and at most ``CHUNK_BYTES``. Lazy arrays (Dask) are one chunk, never copied:
    the library splits them into blocks itself.
    """
    n, d = X.shape
    acc = accumulation_dtype(array_namespace(X), device_of(X))
    left = working_memory - 56 * n
    keep = n * columns * _itemsize(X) <= left // 2
    if keep:
        left -= n * columns * _itemsize(X)
    if is_lazy(X):
        return SamplingPlan(n, keep, False)
    widen = widen and X.dtype != acc and n * d * 8 <= left // 2
    if widen:
        left -= n * d * 8
    per_row = 8 * (d + 4 * columns)
    rows = int(max(MIN_CHUNK_ROWS, min(n, min(left, CHUNK_BYTES) // per_row)))
    return SamplingPlan(rows, keep, widen)


def _itemsize(X: Any) -> int:
    return array_namespace(X).finfo(X.dtype).bits // 8


def _row_sq_norms(X: Any, rows: int) -> Any:
    """The squared norm of every row in the accumulation dtype, a chunk at a time."""
    xp = array_namespace(X)
    acc = accumulation_dtype(xp, device_of(X))
    parts = []
    for start, stop in row_chunks(X.shape[0], rows):
        block = xp.astype(X[start:stop, ...], acc, copy=False)
        parts.append(xp.vecdot(block, block))
    return _concat(xp, parts)


def _concat(xp: Any, parts: list, axis: int = 0) -> Any:
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=axis)


def _row_order(X: Any, rows: int) -> Any:
    """The rows' permutation sorted by their projection on a fixed generic direction.

    Distinct rows almost surely get distinct keys, equal rows equal keys, and the order does
    not change when rows are shuffled, translated or scaled: drawing through cumulative weights
    taken in this order makes k-means++ independent of the row order, and a row of weight 2
    covers exactly the interval that two copies of it cover. The keys are computed in the
    accumulation dtype, a chunk of ``rows`` at a time, as one dot product per row (the same
    operation on every row: equal rows get equal keys wherever they are), so that backends
    agree on the order.
    """
    xp = array_namespace(X)
    acc = accumulation_dtype(xp, device_of(X))
    direction = from_numpy(_direction(X.shape[1]), xp, device_of(X), dtype=acc)
    keys = []
    for start, stop in row_chunks(X.shape[0], rows):
        keys.append(xp.vecdot(xp.astype(X[start:stop, ...], acc, copy=False), direction))
    return xp.argsort(_concat(xp, keys), stable=True)


@functools.cache
def _direction(n_features: int) -> np.ndarray:
    """The fixed direction of ``_row_order`` in ``n_features`` dimensions (made once: a new
    generator costs more than the order of a small X; never written to)."""
    return np.random.default_rng(_ORDER_SEED).standard_normal(n_features)


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
    working_memory: int = DEFAULT_WORKING_MEMORY,
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
        candidates,
        n_clusters,
        attracted,
        rng,
        n_local_trials=n_local_trials,
        working_memory=working_memory,
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
