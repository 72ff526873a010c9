"""The NumPy Lloyd step: a loop over row ranges (one per worker thread) and, within a range,
over cache-sized blocks (``numpy_blocks``), as scikit-learn's ``lloyd_iter_chunked_dense``
loops over ``_update_chunk_dense``.

Each step takes one of a few paths, chosen by :func:`choose_path` from the shape and from what
the run's last step left (:class:`StepState`):

- ``BY_CLUSTER``: few clusters and features: scores laid out cluster-major (k x rows), from a
  transposed copy of X with a row of ones that adds ||c||^2 within the product, reduced by
  whole-row ufuncs; sums as one-hot products. No per-row distances: the inertia is the
  weighted sum of the best scores plus that of the row norms.
- ``BY_ROW``: otherwise: scores row-major (rows x k), argmin per row, sums as one-hot products
  (few clusters) or one bincount (many); per-row distances from the row norms.
- ``BY_CLUSTER_UPDATE`` and ``BY_ROW_UPDATE``: the same scoring, once the last step changed few
  rows: the sums are the last step's, updated by the rows that changed cluster; by row, the
  step also sets Hamerly's bounds for the next.
- ``BOUNDED``: by row after an updating step: rows its bounds prove settled are not scored
  (``numpy_bounds``); sums updated by the changes.

Every path gives ``portable``'s labels and sums (tests/test_kernels_numpy.py checks each).
Where the compiled loop of ``numpy_fused`` is built, the cluster-major paths run it on each row
range instead of the NumPy calls (``Layout.fused``), and so does their final assignment; the
row-major paths take its nearest-two pass over their scores and its sums
(``Layout.native_sums``).
"""

from __future__ import annotations

import sys
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import numpy_fused, numpy_pool, numpy_threads
from .contract import Step
from .numpy_blocks import (
    BincountSums,
    Buffers,
    Centers,
    OneHotSums,
    exact_sqdist,
    labels_by_cluster,
    labels_by_row,
    moves,
    products_by_row,
    row_sq,
    scores_by_cluster,
)
from .numpy_bounds import Bounds, bounded_range, nearest_two

# a block's scores and work arrays take about this many bytes (2-4 MiB beat the L2 of one core;
# benchmarks/README.md)
BLOCK_BYTES = 3 << 20
MIN_BLOCK_ROWS, MAX_BLOCK_ROWS = 256, 32768
# the sums are updated by the rows that changed cluster when the last step changed at most
# this fraction of the rows, and summed afresh otherwise; on fewer rows summing is as quick
UPDATE_MAX_CHANGED = 0.5
UPDATE_MIN_ROWS = 8192
# "few" clusters and features (the cluster-major layout; one-hot sums below SMALL_K)
SMALL_K, SMALL_D = 32, 32

BY_CLUSTER = "by_cluster"
BY_CLUSTER_UPDATE = "by_cluster_update"
BY_ROW = "by_row"
BY_ROW_UPDATE = "by_row_update"
BOUNDED = "bounded"


class Layout:
    """How the steps of one run pass over X with k centres: the layout and block size chosen
    for the shape, the row ranges of the worker threads with their buffers, and what the first
    step computes for the later ones (the row norms; cluster-major, X transposed)."""

    def __init__(self, X: np.ndarray, k: int, chunk_rows: int):
        n, d = X.shape
        self.X, self.k, self.d = X, k, d
        self.by_cluster = k <= SMALL_K and d <= SMALL_D
        # the compiled loop (numpy_fused), when it is built: the whole of a cluster-major step,
        # the sums of a row-major one
        self.native_sums = numpy_fused.applies(X)
        self.fused = self.by_cluster and self.native_sums
        self.one_hot = k <= SMALL_K
        per_row = (2 * k + d) if self.one_hot else (k + 2 * d)
        fit = BLOCK_BYTES // (X.dtype.itemsize * per_row)
        self.rows = int(max(1, min(chunk_rows, max(MIN_BLOCK_ROWS, min(fit, MAX_BLOCK_ROWS)))))
        self.ranges = numpy_threads.row_ranges(n, k, d)
        self._buffers: dict[int, Buffers] = {}  # by the first row of a range
        self._spare: np.ndarray | None = None  # the last step's labels, reused two steps on
        self.x_sq: np.ndarray | None = None  # (by row) squared row norms
        # (cluster-major) [X.T; 1], (d + 1) x n: on contiguous columns the scores' product is
        # much faster, and the row of ones adds ||c||^2 within it; the compiled loop, which adds
        # ||c||^2 itself, reads X.T alone (d x n)
        self.xt_rows = d if self.fused else d + 1
        self.xt: np.ndarray | None = None
        self.xt_filled = False
        self.eye = np.eye(d, dtype=X.dtype) if self.by_cluster else None
        # work arrays of the pool (numpy_pool), given back when this layout is freed
        self._taken: list[tuple[Any, Any]] = []
        weakref.finalize(self, numpy_pool.give_back, self._taken).atexit = False

    def _take(self, key: tuple, make) -> Any:
        obj = numpy_pool.take(key, make)
        self._taken.append((key, obj))
        return obj

    def work_array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised array of X's dtype that only this layout uses (from the pool)."""
        dtype = self.X.dtype
        return self._take((name, shape, dtype.str), lambda: np.empty(shape, dtype=dtype))

    def block_rows(self, start: int, stop: int) -> int:
        """Rows per block of the range ``start:stop``: at most ``self.rows``, and blocks of
        equal length (so that no block is left with a few rows)."""
        blocks = -(-(stop - start) // self.rows)
        return -(-(stop - start) // blocks)

    def labels_buffer(self, last: StepState | None) -> np.ndarray:
        """An array for a step's labels (or the final assignment's): the labels of the step
        before ``last`` when nothing outside this layout holds them any more (a callback may
        keep each step's), else a new one. A new array of many rows costs the kernel's zeroing
        of its pages, on large inputs a sizeable part of a step."""
        spare, self._spare = self._spare, (last.labels if last is not None else None)
        # references: ``spare`` and getrefcount's argument
        if spare is not None and sys.getrefcount(spare) == 2:
            return spare
        return np.empty(self.X.shape[0], dtype=np.int64)

    def buffers(self, start: int, stop: int) -> Buffers:
        buf = self._buffers.get(start)
        if buf is None:  # each range is worked on by one thread at a time
            args = (self.block_rows(start, stop), self.k, self.d, self.X.dtype)
            args += (self.by_cluster, self.one_hot)
            buf = self._take(("buffers", *args), lambda: Buffers(*args))
            self._buffers[start] = buf
        return buf

    def new_sums(self, unit: bool) -> OneHotSums | BincountSums:
        return (OneHotSums if self.one_hot else BincountSums)(self.k, self.d, unit)

    def transposed(self, s: int, e: int, rows: np.ndarray) -> np.ndarray | None:
        """Columns ``s:e`` of X transposed when the run keeps it, copied from ``rows`` on the
        first step (the identity's product: an exact copy, quicker than a strided one)."""
        if self.xt is None:
            return None
        if not self.xt_filled:
            np.matmul(self.eye, rows.T, out=self.xt[: self.d, s:e])
        return self.xt[:, s:e]


@dataclass(eq=False, slots=True)  # (not frozen: that makes each step's __init__ slower)
class StepState:
    """What a step leaves for the next step of its run: its labels, its changes, its float64
    sums, weights and counts (of rows of positive weight), the centres it scored, and its
    bounds; never modified."""

    labels: np.ndarray
    unit: bool  # every weight is 1
    positive: bool  # every weight is positive
    changed: int
    first: bool  # a first step (no previous labels)
    sums: np.ndarray
    weights: np.ndarray
    counts: np.ndarray
    scored: np.ndarray  # the centres the step was given
    norms_total: float | None  # (cluster-major) sum of w ||x||^2
    bounds: Bounds | None

    @property
    def all_scored(self) -> bool:
        """Every row was scored (no bounds spared any)."""
        return self.bounds is None or not self.bounds.used


@dataclass(slots=True)
class RangeResult:
    """What one row range contributes to a step (float64 totals)."""

    sums: np.ndarray | None = None  # (k, d): the rows' sums, or on updating paths the moves'
    weights: np.ndarray | None = None  # (k,), likewise
    counts: np.ndarray | None = None  # (updating paths, compiled sums) moves' or rows' counts
    n_changed: int = 0  # rows of positive weight whose label changed
    inertia: float | None = None  # (by row, every row scored) sum of w sqdist
    best_total: float | None = None  # (cluster-major) sum of w min(||c||^2 - 2 x.c)
    norms_total: float | None = None  # (cluster-major, first step) sum of w ||x||^2
    norms_by_cluster: np.ndarray | None = None  # (bounded) per cluster, sum of w ||x||^2


def choose_path(layout: Layout, last: StepState | None, n: int, centers: Centers) -> str:
    """The path of a step from the layout, the run's last step and the centres. The last
    step's changes predict this one's: many changes cost more to gather and update than the
    fused sums do. A first step changed every row by definition, which predicts nothing:
    cluster-major, the second step updates (it changes fewer than half the rows as a rule); by
    row, where an update also sets bounds, it does not; nor with duplicate centres (see
    ``numpy_bounds``)."""
    update = (
        last is not None
        and n >= UPDATE_MIN_ROWS
        and ((last.first and layout.by_cluster) or last.changed <= UPDATE_MAX_CHANGED * n)
    )
    if layout.by_cluster:
        return BY_CLUSTER_UPDATE if update else BY_CLUSTER
    if not update or centers.duplicates:
        return BY_ROW
    return BOUNDED if last.bounds is not None else BY_ROW_UPDATE


def step(
    layout: Layout, C: np.ndarray, w: np.ndarray, prev_labels: Any, last: StepState | None
) -> tuple[Step, StepState]:
    """One Lloyd step on ``layout.X`` and what it leaves for the next step of the run."""
    X, k = layout.X, layout.k
    n = X.shape[0]
    unit, positive = (last.unit, last.positive) if last else weight_kind(w)
    if layout.native_sums:  # the compiled loop reads weights of X's dtype and int64 labels
        w = np.ascontiguousarray(w, dtype=X.dtype)
        if prev_labels is not None:
            prev_labels = np.ascontiguousarray(prev_labels, dtype=np.int64)
    centers = Centers(C, X.dtype, layout.by_cluster)
    path = choose_path(layout, last, n, centers)
    update = path in (BY_CLUSTER_UPDATE, BY_ROW_UPDATE, BOUNDED)
    labels = layout.labels_buffer(last)
    bounds = None
    if path in (BY_ROW_UPDATE, BOUNDED):  # updating steps by row leave bounds for the next
        previous = last.bounds if path == BOUNDED else None
        bounds = Bounds(n, C, centers.c_sq, layout.d, X.dtype, previous, last.scored)
    sqdist = np.empty(n, dtype=X.dtype) if path in (BY_ROW, BY_ROW_UPDATE) else None
    # the first step fills in the row norms (cluster-major: their weighted total) and,
    # cluster-major, X transposed, block by block while the rows are in cache
    first = last is None
    if layout.by_cluster and layout.xt is None:
        layout.xt = layout.work_array("xt", (layout.xt_rows, n))
        layout.xt[layout.d :] = 1.0  # (the row of ones, where it has one)
    elif not layout.by_cluster and layout.x_sq is None:
        layout.x_sq = layout.work_array("x_sq", (n,))
    if layout.fused:  # (cluster-major: the only paths it takes)
        parts = fused_cluster_ranges(layout, centers, labels, w, unit, prev_labels, first, update)
    else:
        args = (layout, path, centers, labels, sqdist, w, unit, positive, prev_labels, first)
        parts = numpy_threads.map_ranges(layout.ranges, _range_step, *args, bounds)
    layout.xt_filled = layout.xt is not None

    n_changed = n if prev_labels is None else _total([p.n_changed for p in parts])
    sums, weights = _total([p.sums for p in parts]), _total([p.weights for p in parts])
    if update:
        sums = last.sums + sums
        weights = last.weights + weights
        counts = last.counts + _total([p.counts for p in parts])
    elif parts[0].counts is not None:  # (the fused loop counts the rows)
        counts = _total([p.counts for p in parts])
    elif unit:  # every block's weights are whole numbers, summed exactly
        counts = np.rint(weights).astype(np.int64)
    else:
        counts = np.bincount(labels if positive else labels[w > 0], minlength=k)
    if not counts.all():  # emptied clusters: exact zeros, whatever the updates' rounding
        empty = counts == 0
        sums[empty] = 0.0
        weights[empty] = 0.0

    norms_total = None
    if layout.by_cluster:
        norms_total = _total([p.norms_total for p in parts]) if first else last.norms_total
        inertia = _total([p.best_total for p in parts]) + norms_total
    elif path == BOUNDED:  # sum over clusters of w ||x - c||^2 = w ||x||^2 - 2 c.(w x) + w ||c||^2
        Cd = C.astype(np.float64)
        norms = _total([p.norms_by_cluster for p in parts])
        inertia = norms.sum() - 2.0 * np.vdot(Cd, sums) + weights @ np.einsum("ij,ij->i", Cd, Cd)
    else:
        inertia = _total([p.inertia for p in parts])
    state = StepState(
        labels,
        unit,
        positive,
        n_changed,
        prev_labels is None,
        sums,
        weights,
        counts,
        C,
        norms_total,
        bounds,
    )
    result = Step(
        labels,
        sqdist,
        sums.astype(X.dtype),
        weights.astype(X.dtype),
        np.asarray(max(float(inertia), 0.0)),  # (the sum of cluster terms may round below)
        np.asarray(float(n_changed)),
    )
    return result, state


def _total(items: list) -> Any:
    return items[0] if len(items) == 1 else sum(items)


def weight_kind(w: np.ndarray) -> tuple[bool, bool]:
    """(every weight is 1, every weight is positive)."""
    unit = bool((w == 1).all())
    return unit, unit or bool((w > 0).all())


def _range_step(
    start, stop, layout, path, centers, labels, sqdist, w, unit, positive, prev, first, bounds
) -> RangeResult:
    """Rows ``start:stop`` of a step on ``path``: scored (or kept by their bounds), summed or
    their changes gathered."""
    update = path in (BY_CLUSTER_UPDATE, BY_ROW_UPDATE, BOUNDED)
    acc = None if update or layout.native_sums else layout.new_sums(unit)
    wr = w[start:stop]
    if path in (BY_CLUSTER, BY_CLUSTER_UPDATE):
        best_total, norms_total = by_cluster_range(
            start, stop, layout, centers, labels, w, unit, first, acc
        )
        result = RangeResult(best_total=best_total, norms_total=norms_total)
    elif path == BOUNDED:
        block = layout.block_rows(start, stop)
        bounded_range(
            start, stop, layout.X, block, centers, layout.x_sq, labels, prev, bounds,
            layout.buffers(start, stop), layout.native_sums,
        )  # fmt: skip
        x_sq = layout.x_sq[start:stop]
        norms = np.bincount(labels[start:stop], x_sq if unit else x_sq * wr, minlength=layout.k)
        result = RangeResult(norms_by_cluster=norms)
    else:
        by_row_range(start, stop, layout, centers, labels, sqdist, w, first, acc, bounds)
        rows_sq = sqdist[start:stop]
        if unit:
            inertia = float(rows_sq.sum(dtype=np.float64))
        else:
            inertia = float(np.dot(rows_sq.astype(np.float64), wr))
        result = RangeResult(inertia=inertia)
    if layout.native_sums:  # the sums (or moves), counts and changes in one compiled pass
        result.sums, result.weights, result.counts, result.n_changed = numpy_fused.sums_range(
            start, stop, layout.X, labels, layout.k, None if unit else w, prev, update
        )
        return result
    if acc is not None:
        result.sums, result.weights = acc.sums, acc.weights
    if prev is None:
        return result
    differs = labels[start:stop] != prev[start:stop]
    if positive and not update:  # only the count is needed
        result.n_changed = int(np.count_nonzero(differs))
        return result
    changed = np.flatnonzero(differs)
    if not positive:
        changed = changed[wr.take(changed) > 0]
    result.n_changed = changed.size
    if update:
        result.sums, result.weights, result.counts = moves(
            layout.X, changed + start, labels, prev, w, layout.k, unit, layout.one_hot
        )
    return result


def fused_cluster_ranges(layout, centers, labels, w, unit, prev, first, update):
    """Every row range scored cluster-major by the compiled loop (``numpy_fused``), each on a
    thread: labels written, and per range its sums (on updating paths, its moves), best
    scores, changes and, on a first step, norms. It fills in X transposed on the first step."""
    parts = numpy_fused.fused_ranges(
        layout.ranges, layout.X, layout.xt, first or not layout.xt_filled, centers.minus_2_c,
        centers.c_sq, None if unit else w, prev, labels, update,
    )  # fmt: skip
    return [
        RangeResult(
            sums=sums,
            weights=weights,
            counts=counts,
            n_changed=n_changed,
            best_total=best_total,
            norms_total=norms_total if first else None,
        )
        for sums, weights, counts, best_total, norms_total, n_changed in parts
    ]


def by_cluster_range(start, stop, layout, centers, labels, w, unit, first, acc):
    """Rows ``start:stop`` scored cluster-major: labels written, rows added to ``acc`` when
    given. Returns the weighted sum of their best scores and, on a first step, that of their
    squared norms (else None)."""
    X = layout.X
    buf = layout.buffers(start, stop)
    m_max = layout.block_rows(start, stop)
    best_total, norms_total = 0.0, (0.0 if first else None)
    for s in range(start, stop, m_max):
        e = min(s + m_max, stop)
        rows, wb = X[s:e], w[s:e]
        scores = scores_by_cluster(rows, layout.transposed(s, e, rows), centers, buf)
        best, lab = labels_by_cluster(scores, buf)
        labels[s:e] = lab
        if unit:
            best_total += float(np.add.reduce(best, dtype=np.float64))
        else:
            best_total += float(np.dot(best.astype(np.float64), wb))
        if first and unit:  # (one dot product: several times quicker than per-row norms)
            flat = rows.reshape(-1)
            norms_total += float(np.dot(flat, flat))
        elif first:
            norms_total += float(np.dot(row_sq(rows).astype(np.float64), wb))
        if acc is not None:
            acc.add(rows, lab, wb, buf)
    return best_total, norms_total


def by_row_range(start, stop, layout, centers, labels, sqdist, w, first, acc, bounds):
    """Rows ``start:stop`` scored row-major: labels and squared distances (||x||^2 plus the
    best score, clamped at 0) written, rows added to ``acc`` when given, bounds set when
    given. The first step fills in the row norms."""
    X, x_sq = layout.X, layout.x_sq
    buf = layout.buffers(start, stop)
    m_max = layout.block_rows(start, stop)
    for s in range(start, stop, m_max):
        e = min(s + m_max, stop)
        rows = X[s:e]
        products = products_by_row(rows, centers, buf)
        if bounds is not None:  # the second-best score too, for the bounds
            best, second = nearest_two(products, centers.c_sq, labels[s:e], layout.native_sums)
        else:
            best, _ = labels_by_row(products, centers.c_sq, buf, labels[s:e], layout.native_sums)
        if first:
            x_sq[s:e] = row_sq(rows)
        best += x_sq[s:e]
        np.maximum(best, 0.0, out=sqdist[s:e])
        if bounds is not None:
            bounds.set(slice(s, e), sqdist[s:e], second, x_sq[s:e])
        if acc is not None:
            acc.add(rows, labels[s:e], w[s:e], buf)


def assign_range(start, stop, layout, centers, labels, sqdist, known, prev, bounds):
    """Rows ``start:stop``: labels (unless ``known``: they are in ``labels`` already; with
    ``bounds``, the labels ``prev`` where they prove them nearest) and the exact squared
    distances to their centres."""
    X = layout.X
    if bounds is not None:  # (row-major layouts only)
        block = layout.block_rows(start, stop)
        bounded_range(
            start, stop, X, block, centers, layout.x_sq, labels, prev, bounds,
            layout.buffers(start, stop), layout.native_sums,
        )  # fmt: skip
        known = True
    buf = layout.buffers(start, stop)
    m_max = layout.block_rows(start, stop)
    for s in range(start, stop, m_max):
        e = min(s + m_max, stop)
        rows = X[s:e]
        if not known and layout.by_cluster:
            scores = scores_by_cluster(rows, layout.transposed(s, e, rows), centers, buf)
            labels[s:e] = labels_by_cluster(scores, buf)[1]
        elif not known:
            products = products_by_row(rows, centers, buf)
            labels_by_row(products, centers.c_sq, buf, labels[s:e], layout.native_sums)
        np.copyto(sqdist[s:e], exact_sqdist(rows, centers.C, labels[s:e], buf))


def assign(
    layout: Layout, C: np.ndarray, last: StepState | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and exact squared distances of every row. With the run's ``last`` step: when it
    scored every row against these very centres (the loop stopped because no label changed),
    its labels are the argmin and only the distances are new; when it left bounds (by row),
    rows they prove to keep their label are not scored (as in a bounded step)."""
    X = layout.X
    centers = Centers(C, X.dtype, layout.by_cluster)
    known, prev, bounds = assignment_plan(layout, centers, last)
    # (after a run's steps, the labels of the step before the last when nothing holds them)
    labels = last.labels if known else layout.labels_buffer(last)
    sqdist = np.empty(X.shape[0], dtype=X.dtype)
    if layout.fused:
        xt = layout.xt if layout.xt_filled else None
        numpy_fused.assign_ranges(
            layout.ranges, X, xt, np.ascontiguousarray(C, dtype=X.dtype), centers.minus_2_c,
            centers.c_sq, labels, sqdist, known,
        )  # fmt: skip
    else:
        args = (layout, centers, labels, sqdist, known, prev, bounds)
        numpy_threads.map_ranges(layout.ranges, assign_range, *args)
    return labels, sqdist


def assignment_plan(
    layout: Layout, centers: Centers, last: StepState | None
) -> tuple[bool, np.ndarray | None, Bounds | None]:
    """How the assignment to ``centers`` after the run's ``last`` step finds its labels:
    (``known``: they are the last step's; else the last step's labels and the bounds that keep
    some of them, or None and None: every row scored)."""
    C = centers.C
    if last is not None and last.all_scored and np.array_equal(last.scored, C):
        return True, None, None
    if last is None or last.bounds is None or centers.duplicates:
        return False, None, None
    n, dtype = layout.X.shape[0], layout.X.dtype
    return False, last.labels, Bounds(n, C, centers.c_sq, layout.d, dtype, last.bounds, last.scored)
