"""The kernel operations written against the Array API standard alone: assignment, segment
sums, the fused Lloyd step built from them, the center update that follows a step, and
k-means++'s trials of candidate centres (the contract they implement is in ``contract.py``).

Rows are processed in chunks of ``chunk_rows`` so that no n x k array is ever built; these are
the reference versions that every native fast path is tested against.
"""

from __future__ import annotations

from typing import Any

from .._xp import accumulation_dtype, array_namespace, device_of
from .contract import Step


def finish_step(labels, sqdist, sums, weights, w, prev_labels) -> Step:
    """A :class:`Step` from a kernel's per-row results: the inertia and changed-label count
    computed with standard operations (the native kernels with no fused version use this)."""
    xp = array_namespace(labels, sqdist, w)
    acc = accumulation_dtype(xp, device_of(sqdist))
    inertia = xp.sum(sqdist * w, dtype=acc)
    if prev_labels is None:  # full: a Dask array of CuPy blocks keeps CuPy blocks
        n_changed = xp.full_like(inertia, float(labels.shape[0]))
    else:
        changed = xp.logical_and(labels != prev_labels, w > 0)
        n_changed = xp.astype(xp.count_nonzero(changed), acc)
    return Step(labels, sqdist, sums, weights, inertia, n_changed)


def cluster_means(xp: Any, sums: Any, weights: Any, fallback: Any) -> Any:
    """Per-cluster weighted means; clusters without weight keep their ``fallback`` centre."""
    nonempty = weights > 0
    return xp.where(nonempty[:, None], sums / xp.where(nonempty, weights, 1.0)[:, None], fallback)


def center_update(step: Step, centers: Any) -> tuple[Any, Any]:
    """The centres after ``step`` (the means of its clusters; an empty cluster keeps its
    centre) and the step's statistics, one 1-D array of the accumulation dtype for the loop's
    one transfer, in the order of ``contract.STATS``: (labels changed, empty clusters, inertia,
    squared shift of the centres)."""
    xp = array_namespace(centers)
    acc = accumulation_dtype(xp, device_of(centers))
    new = cluster_means(xp, step.sums, step.weights, centers)
    stats = [
        step.n_changed,
        xp.sum(xp.astype(step.weights <= 0, acc)),
        step.inertia,
        sq_shift(xp, new, centers, acc),
    ]
    return new, xp.stack(stats)


def sq_shift(xp: Any, new: Any, old: Any, acc: Any) -> Any:
    """How far the centres moved: the sum of their squared shifts, in ``acc``."""
    diff = xp.astype(new - old, acc)
    return xp.sum(diff * diff)


def row_chunks(n_rows: int, chunk_rows: int) -> list[tuple[int, int]]:
    """(start, stop) of consecutive row blocks; stops stay in bounds (the standard asks it)."""
    return [(start, min(start + chunk_rows, n_rows)) for start in range(0, n_rows, chunk_rows)]


def assign(X: Any, C: Any, *, chunk_rows: int) -> tuple[Any, Any]:
    """Nearest centre of every row of ``X`` and the squared distance to it.

    The argmin uses ||c||^2 - 2 x.c (||x||^2 does not change it), ties to the lowest index as
    ``argmin`` breaks them; the distance returned is the explicit sum of (x - c)^2 to the chosen
    centre, so it is exact and never negative.
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


def lloyd_step(X: Any, C: Any, w: Any, *, chunk_rows: int, prev_labels: Any = None) -> Step:
    """One Lloyd step: labels and squared distances for ``C``, then the per-cluster sums, the
    inertia and the labels changed since ``prev_labels``."""
    labels, sqdist = assign(X, C, chunk_rows=chunk_rows)
    sums, weights = segment_sum(X, labels, w, C.shape[0], chunk_rows=chunk_rows)
    return finish_step(labels, sqdist, sums, weights, w, prev_labels)


def seeding_trials(
    X: Any, x_sq: Any, C: Any, closest: Any, w: Any, *, chunk_rows: int, keep: bool
) -> tuple[Any, Any]:
    """k-means++'s trials of the candidates ``C`` (see ``contract.seeding_trials``): per
    candidate, the weighted sum of each row's squared distance to the nearest of it and the
    centres so far (``closest``), and those distances (in C's dtype) when ``keep``.

    Distances are ``||x||^2 - 2 x.c + ||c||^2`` in the accumulation dtype, clamped at 0. The
    products of two float32 values are exact in float64, so backends differ only by the
    rounding of float64 sums (about 1e-16 of ||x||^2): a draw or a choice between candidates
    comes out differently only when two cumulative weights or two potentials agree to that
    precision (in float32 they agree to about 1e-7, which at k=1000 flips some choice on most
    data). One row per candidate keeps the elementwise passes contiguous (column-wise passes
    over few columns took 3x longer).
    """
    xp = array_namespace(X, C)
    acc = accumulation_dtype(xp, device_of(X))
    Ca = xp.astype(C, acc)
    minus_2c = -2.0 * Ca
    c_sq = xp.vecdot(Ca, Ca)[:, None]
    potentials, kept = None, []
    for start, stop in row_chunks(X.shape[0], chunk_rows):
        block = xp.astype(X[start:stop, ...], acc, copy=False)
        sq = minus_2c @ block.T
        sq += x_sq[None, start:stop]  # in place where the library allows it
        sq += c_sq
        dist = xp.maximum(sq, 0.0)
        if closest is not None:
            dist = xp.minimum(dist, closest[None, start:stop])
        part = dist @ w[start:stop]
        potentials = part if potentials is None else potentials + part
        if keep:
            kept.append(xp.astype(dist, C.dtype))
    if not keep:
        return potentials, None
    return potentials, kept[0] if len(kept) == 1 else xp.concat(kept, axis=1)
