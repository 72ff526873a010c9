"""NumPy fast paths: cache-sized row blocks, preallocated buffers, a fused Lloyd step, both cores.

What the portable kernels do in whole-chunk passes is done here one cache-sized block of rows
at a time: the scores ``(-2 C) x + ||c||^2`` of a block are written into a reused buffer,
reduced to labels, and the block's centre sums are accumulated while its rows are still in
cache. With few clusters and features the scores are laid out cluster-major, computed from a
transposed copy of X (with a row of ones that adds ||c||^2 within the product), and the argmin
is a running minimum over whole rows (NumPy's argmin over short rows costs ~20 ns a row); the
centre sums are one-hot matrix products. Otherwise argmin per row and one bincount. Large
inputs are split into equal row ranges, one per thread (NumPy and BLAS release the GIL in the
ufuncs and in np.dot; NumPy's matmul keeps it through some product shapes), with BLAS held to
one thread meanwhile when threadpoolctl is importable, as scikit-learn does.

A step leaves a state for the next step of the fit (``_State``): the pass over X with its
buffers and the transposed copy or the row norms; the float64 sums, weights and counts, which
the next step updates by the rows that changed cluster once few do; and (many clusters or
features) Hamerly's bounds on each row's distances, with which rows proven to keep their centre
are not scored. Cluster-major steps keep no per-row distances: their inertia is the weighted
sum of the best scores plus that of the row norms. Labels and sums are those of ``portable``
(tested step by step in tests/test_kernels_numpy.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from .contract import Step

try:  # optional: only to keep BLAS single-threaded inside our own worker threads
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
    ThreadpoolController = None

# a block's scores and work arrays take about this many bytes (measured on the 2-core AMD EPYC
# CI machine: 2-4 MiB beat 1 MiB, the L2 of one core; 3-4 MiB beat 2 MiB by 1-5% at 100k x 16
# and 1M x 2 once the steps kept no per-row distances)
BLOCK_BYTES = 3 << 20
MIN_BLOCK_ROWS, MAX_BLOCK_ROWS = 256, 32768
# below this many multiply-adds per step one thread is faster than handing work to a pool
PARALLEL_MIN_WORK = 2_000_000
# the sums are updated by the rows that changed cluster when the last step changed at most
# this fraction of the rows, and summed afresh otherwise; on fewer rows summing is as quick
UPDATE_MAX_CHANGED = 0.5
UPDATE_MIN_ROWS = 8192
# the moves of many clusters' sums are bincounts over this many bytes of rows at a time (whole,
# their temporaries take several times the rows and fall out of cache: 3x slower at 20k x 64)
MOVES_CHUNK_BYTES = 1 << 20
# "few" clusters and features (see _Pass)
SMALL_K, SMALL_D = 32, 32

_pool: tuple[tuple[int, int], ThreadPoolExecutor] | None = None
_controller: Any = None
_blas_held = 0  # contexts holding BLAS to one thread (the setting is the process's)


# worker threads for large inputs; None: the cores this process may run on (at most 8)
THREADS: int | None = None


def n_threads() -> int:
    """Worker threads for large inputs."""
    if THREADS is not None:
        return max(1, int(THREADS))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _executor() -> ThreadPoolExecutor:
    """The worker pool, made anew after a fork (threads do not survive one) or a resize."""
    global _pool
    key = (os.getpid(), n_threads())
    if _pool is None or _pool[0] != key:
        _pool = (key, ThreadPoolExecutor(key[1], thread_name_prefix="kmeans_xp"))
    return _pool[1]


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """BLAS held to one thread meanwhile (already so within a fit's context: nothing to do,
    which spares each step threadpoolctl's ~15 us)."""
    global _controller, _blas_held
    if ThreadpoolController is None or _blas_held:
        yield
        return
    if _controller is None:
        _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        _blas_held += 1
        try:
            yield
        finally:
            _blas_held -= 1


def fit_context(X: Any, k: int) -> Any:
    """BLAS held to one thread for a whole fit when the kernels run their own threads: BLAS's
    threads keep spinning for a while after each call (OpenBLAS: up to ~0.1 s), and a product
    made outside the kernels (the mean of X, say) would leave them taking the cores from ours.
    Small fits run on one thread, and setting the limit would cost more than they do."""
    n, d = X.shape
    if n_threads() > 1 and _work(n, k, d) >= PARALLEL_MIN_WORK:
        return _single_threaded_blas()
    return nullcontext()


def _work(n: int, k: int, d: int) -> int:
    """Multiply-adds of a step, roughly: what decides whether it is worth several threads."""
    return n * k * (d + 4)


class _Centres:
    """What every block needs from the centres: C, -2 C (the -2 folded in) and ||c||^2, and
    for the cluster-major layout both side by side, ``[-2 C, ||c||^2]`` (k x (d + 1)), which
    times a column ``[x; 1]`` gives the scores with ||c||^2 added."""

    def __init__(self, C: np.ndarray, dtype: Any, by_cluster: bool = False):
        self.C = C
        self.minus_2_c = np.ascontiguousarray(-2.0 * C, dtype=dtype)
        self.c_sq = np.vecdot(C, C).astype(dtype, copy=False)
        if by_cluster:
            self.scoring = np.concatenate([self.minus_2_c, self.c_sq[:, None]], axis=1)


class _Pass:
    """Passes over the rows of X with k centres: the layout and block size chosen for the
    shape, the row ranges of the worker threads with their work buffers, and the row norms of
    X. A fit's steps share one (it travels in their state), so none of this is rebuilt."""

    def __init__(self, X: np.ndarray, k: int, chunk_rows: int):
        n, d = X.shape
        self.X, self.k, self.d, self.chunk_rows = X, k, d, chunk_rows
        # few clusters and features: scores laid out cluster-major (k x rows) and reduced with
        # whole-row ufuncs, since argmin over short rows costs ~20 ns a row; otherwise
        # row-major scores (rows x k) and argmin per row
        self.by_cluster = k <= SMALL_K and d <= SMALL_D
        # few clusters: centre sums as a one-hot matrix product; many: one bincount
        self.one_hot = k <= SMALL_K
        per_row = (2 * k + d) if self.one_hot else (k + 2 * d)
        fit = BLOCK_BYTES // (X.dtype.itemsize * per_row)
        self.rows = int(max(1, min(chunk_rows, max(MIN_BLOCK_ROWS, min(fit, MAX_BLOCK_ROWS)))))
        self.ranges = self._ranges(n)
        self._buffers: dict[int, _Buffers] = {}  # by the first row of a range
        self._x_sq: np.ndarray | None = None  # (by row) squared row norms, for a fit's steps
        # (cluster-major layout) [X.T; 1], (d + 1) x n, likewise: on contiguous columns the
        # scores' product is much faster, and the row of ones adds ||c||^2 within it
        self._xt: np.ndarray | None = None
        self._xt_filled = False
        self._eye = np.eye(d, dtype=X.dtype) if self.by_cluster else None

    def _ranges(self, n: int) -> list[tuple[int, int]]:
        """Contiguous row ranges of (nearly) equal length, one per worker."""
        parts = n_threads() if _work(n, self.k, self.d) >= PARALLEL_MIN_WORK else 1
        parts = max(1, min(parts, -(-n // MIN_BLOCK_ROWS)))
        per = -(-n // parts)
        return [(s, min(s + per, n)) for s in range(0, n, per)]

    def _block_rows(self, start: int, stop: int) -> int:
        """Rows per block of the range ``start:stop``: at most ``self.rows``, and blocks of
        equal length (so that no block is left with a few rows)."""
        blocks = -(-(stop - start) // self.rows)
        return -(-(stop - start) // blocks)

    def _buffers_for(self, start: int, stop: int) -> _Buffers:
        buf = self._buffers.get(start)
        if buf is None:  # each range is worked on by one thread at a time
            m = self._block_rows(start, stop)
            buf = _Buffers(m, self.k, self.d, self.X.dtype, self.by_cluster, self.one_hot)
            self._buffers[start] = buf
        return buf

    def assign(
        self, C: np.ndarray, labels: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Labels and exact squared distances of every row; given the ``labels`` that this pass
        found for ``C`` already, only the distances."""
        n = self.X.shape[0]
        known = labels is not None
        if not known:
            labels = np.empty(n, dtype=np.int64)
        sqdist = np.empty(n, dtype=self.X.dtype)
        cent = _Centres(C, self.X.dtype, self.by_cluster)
        self._parallel(self.scan, cent, labels, sqdist, None, True, known=known)
        return labels, sqdist

    def step(
        self, C: np.ndarray, w: np.ndarray, prev_labels: Any, state: _State | None
    ) -> tuple[Step, _State]:
        """One Lloyd step and what it leaves for the next. With the ``state`` of the previous
        step (on this X and w), the
        sums are updated by the rows that changed cluster, unless that step changed many;
        and once bounds are known, rows they prove to keep their centre are not scored."""
        X, k = self.X, self.k
        n = X.shape[0]
        unit, positive = (state.unit, state.positive) if state else _weight_kind(w)
        # the last step's changes predict this one's: many changes cost more to gather and
        # update than the fused sums do. A first step changed every row by definition, which
        # predicts nothing: cluster-major, the second step updates (it changes fewer than half
        # of the rows as a rule; 2-3% quicker fits at 100k x 16); by row, where an update
        # also sets bounds, it does not (5% slower at 60k x 784)
        update = (
            state is not None
            and n >= UPDATE_MIN_ROWS
            and ((state.first and self.by_cluster) or state.changed <= UPDATE_MAX_CHANGED * n)
        )
        labels = np.empty(n, dtype=np.int64)
        cent = _Centres(C, X.dtype, self.by_cluster)
        # updating steps leave distance bounds for the next, which uses them if it updates too;
        # not with few clusters and columns, where scoring every row costs less than that
        bounds = None
        if update and not self.by_cluster:
            bounds = _Bounds(n, cent, self.d, X.dtype, state)
        # per-row distances by row only, where the bounds need them (and the row norms); the
        # cluster-major steps' inertia is sum w min(||c||^2 - 2 x.c) plus sum w ||x||^2
        sqdist = None
        if not self.by_cluster and not (bounds is not None and bounds.used):
            sqdist = np.empty(n, dtype=X.dtype)
        # the first step on X fills in the row norms (their weighted total, cluster-major) and,
        # cluster-major, X transposed, block by block while the rows are in cache (a fit's
        # steps read X many times; a pass made for one assignment does neither)
        fill = state is None
        if self.by_cluster and self._xt is None:
            self._xt = np.empty((self.d + 1, n), dtype=X.dtype)
            self._xt[self.d] = 1.0
        elif not self.by_cluster and self._x_sq is None:
            self._x_sq = np.empty(n, dtype=X.dtype)
        args = (cent, labels, sqdist, w, unit, positive, prev_labels, update, fill, bounds)
        parts = self._parallel(self._range_step, *args)
        self._xt_filled = self._xt is not None
        n_changed = n if prev_labels is None else _total(parts, 2)
        sums = _total(parts, 3)
        weights = _total(parts, 4)
        if update:
            sums = state.sums + sums
            weights = state.weights + weights
            counts = state.counts + _total(parts, 5)
        else:
            if unit:  # every block's weights are whole numbers, summed exactly
                counts = np.rint(weights).astype(np.int64)
            else:
                counts = np.bincount(labels if positive else labels[w > 0], minlength=k)
        if not counts.all():  # emptied clusters: exact zeros, whatever the updates' rounding
            empty = counts == 0
            sums[empty] = 0.0
            weights[empty] = 0.0
        norms_total = None
        if self.by_cluster:
            norms_total = _total(parts, 1) if state is None else state.norms_total
            inertia = _total(parts, 0) + norms_total
        elif sqdist is not None:
            inertia = _total(parts, 0)
        else:  # sum over clusters of w ||x - c||^2 = w ||x||^2 - 2 c.(w x) + w ||c||^2
            Cd = C.astype(np.float64)
            norms = _total(parts, 1)
            inertia = (
                norms.sum() - 2.0 * np.vdot(Cd, sums) + weights @ np.einsum("ij,ij->i", Cd, Cd)
            )
        new_state = _State(
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
        step = Step(
            labels,
            sqdist,
            sums.astype(X.dtype),
            weights.astype(X.dtype),
            np.asarray(max(float(inertia), 0.0)),  # (the sum of cluster terms may round below)
            np.asarray(float(n_changed)),
        )
        return step, new_state

    def _parallel(self, func, *args, **kwargs) -> list:
        """``func(start, stop, *args, **kwargs)`` over the row ranges, on worker threads when
        there are several; the results in range order."""
        first, *rest = self.ranges
        if not rest:
            return [func(*first, *args, **kwargs)]
        with _single_threaded_blas():  # the calling thread takes the first range itself
            futures = [_executor().submit(func, s, e, *args, **kwargs) for s, e in rest]
            return [func(*first, *args, **kwargs), *(f.result() for f in futures)]

    def _range_step(
        self, start, stop, cent, labels, sqdist, w, unit, positive, prev, update, fill, bounds
    ):
        """Rows ``start:stop`` of a step: (inertia, norms, changed labels, sums, weights,
        counts), the last three being the changes' contributions when ``update``, else the
        sums and weights of the rows (and no counts). Cluster-major, ``inertia`` is the
        weighted sum of the best scores and ``norms`` (first step) that of ||x||^2. With
        bounds in use the rows' distances are not all known: ``norms`` (per cluster, the
        weighted sum of ||x||^2) stands in."""
        inertia = norms = None
        wr = w[start:stop]
        if bounds is not None and bounds.used:
            self.scan_bounded(start, stop, cent, labels, prev, bounds)
            x_sq = self._x_sq[start:stop]
            norms = np.bincount(labels[start:stop], x_sq if unit else x_sq * wr, minlength=self.k)
        else:
            *full, best, norms = self.scan(
                start, stop, cent, labels, sqdist, w, False, unit, fill, bounds, sums=not update
            )
            if sqdist is None:  # cluster-major
                inertia = best
            elif unit:
                inertia = float(sqdist[start:stop].sum(dtype=np.float64))
            else:
                inertia = float(np.dot(sqdist[start:stop].astype(np.float64), wr))
        if prev is None:
            return inertia, norms, 0, *full, None
        differs = labels[start:stop] != prev[start:stop]
        if positive and not update:  # only the count is needed
            return inertia, norms, np.count_nonzero(differs), *full, None
        changed = np.flatnonzero(differs)
        if not positive:
            changed = changed[wr.take(changed) > 0]
        if not update:
            return inertia, norms, changed.size, *full, None
        return inertia, norms, changed.size, *self._moves(changed + start, labels, prev, w, unit)

    def _moves(self, changed, labels, prev, w, unit):
        """What the rows ``changed`` add to the sums, weights and counts (float64, int64) by
        joining their new cluster and leaving their old one."""
        X, k, d = self.X, self.k, self.d
        new, old = labels.take(changed), prev.take(changed)
        values = X.take(changed, axis=0)  # take: several times quicker than X[changed]
        counts = np.bincount(new, minlength=k) - np.bincount(old, minlength=k)
        if unit:
            weights = counts.astype(np.float64)
        else:
            wc = w.take(changed)
            values *= wc[:, None]
            weights = np.bincount(new, wc, minlength=k) - np.bincount(old, wc, minlength=k)
        if self.one_hot:  # +1 for the cluster joined, -1 for the one left (never the same)
            moves = np.zeros((k, changed.size), dtype=X.dtype)
            rows = np.arange(changed.size)
            moves[new, rows] = 1.0
            moves[old, rows] = -1.0
            sums = np.dot(moves, values).astype(np.float64)  # (dot: see scan)
        else:  # bincounts over (cluster, feature) pairs, a cache-sized chunk of rows at a time
            sums = np.zeros(k * d)  # (their index and weights take 16 bytes an entry)
            features = np.arange(d)
            step = max(1, MOVES_CHUNK_BYTES // (16 * d))
            for a in range(0, changed.size, step):
                part = values[a : a + step].reshape(-1)
                joined = (new[a : a + step, None] * d + features).reshape(-1)
                left = (old[a : a + step, None] * d + features).reshape(-1)
                sums += np.bincount(joined, part, minlength=k * d)
                sums -= np.bincount(left, part, minlength=k * d)
            sums = sums.reshape(k, d)
        return sums, weights, counts

    def scan(
        self,
        start,
        stop,
        cent,
        labels,
        sqdist,
        w,
        exact,
        unit=False,
        fill=False,
        bounds=None,
        known=False,
        sums=True,
    ):
        """Assign rows ``start:stop``, writing ``labels`` (unless ``known``: they are there
        already), ``sqdist`` (when given; exact distances if ``exact``) and ``bounds`` (when
        given). Returns (their per-cluster weighted sums, weights, the weighted sum of their best
        scores, that of their squared norms), the sums and weights (float64) when ``w`` is
        given and ``sums``, the last two from a cluster-major step, the norms on its first
        (``fill``); zeros or None otherwise."""
        X, k, d = self.X, self.k, self.d
        buf = self._buffers_for(start, stop)
        m_max = self._block_rows(start, stop)
        totals = np.zeros(k * d, dtype=np.float64)
        weights = np.zeros(k, dtype=np.float64)
        best_total = norms_total = None
        if sqdist is None and not exact:
            best_total, norms_total = 0.0, 0.0 if fill else None
        x_sq = self._x_sq
        for s in range(start, stop, m_max):
            e = min(s + m_max, stop)
            m = e - s
            rows = X[s:e]
            wb = None if w is None else w[s:e]
            if not known and self.by_cluster:
                best, lab = self._assign_by_cluster(rows, s, e, buf, cent)
                labels[s:e] = lab
            elif not known:
                best, lab = self._assign_by_row(rows, m, buf, labels[s:e], cent)
            if exact:
                diff = np.take(cent.C, labels[s:e], axis=0, out=buf.rows[:m])
                np.subtract(rows, diff, out=diff)
                np.copyto(sqdist[s:e], self._row_sq(diff))
            elif sqdist is None:  # cluster-major: the inertia from the totals alone
                if unit:
                    best_total += float(np.add.reduce(best, dtype=np.float64))
                else:
                    best_total += float(np.dot(best.astype(np.float64), wb))
                if fill and unit:  # (one dot product: 4x the per-row norms' time)
                    flat = rows.reshape(-1)
                    norms_total += float(np.dot(flat, flat))
                elif fill:
                    norms_total += float(np.dot(self._row_sq(rows).astype(np.float64), wb))
            else:  # ||x||^2 + min(||c||^2 - 2 x.c), clamped: no gather of the centres
                if fill:
                    x_sq[s:e] = self._row_sq(rows)
                best += x_sq[s:e]
                np.maximum(best, 0.0, out=sqdist[s:e])
                if bounds is not None:  # (by row) the second-best score: the best one hidden
                    scores = buf.scores[: m * k].reshape(m, k)
                    np.put(scores, buf.flat_index[:m] + lab, np.inf)
                    second = np.minimum.reduce(scores, axis=1)
                    bounds.set(slice(s, e), sqdist[s:e], second, x_sq[s:e])
            if w is None or not sums:
                continue
            if self.one_hot:
                mask = np.equal(lab, buf.ids, out=buf.mask[: k * m].reshape(k, m))
                member = buf.member[: k * m].reshape(k, m)
                member[...] = mask
                if not unit:
                    member *= wb
                # np.dot, not matmul: NumPy's matmul keeps the GIL through products this
                # shape (small output, long inner dimension), so threads would take turns
                weights += np.dot(member, buf.ones[:m])
                totals += np.dot(member, rows).reshape(-1)
            else:  # one bincount over (cluster, feature) pairs
                index = np.multiply(lab, d, out=buf.index_base[:m])
                index = np.add(index[:, None], buf.features, out=buf.index[: m * d].reshape(m, d))
                values = rows if unit else np.multiply(rows, wb[:, None], out=buf.rows[:m])
                totals += np.bincount(index.reshape(-1), values.reshape(-1), minlength=k * d)
                weights += np.bincount(lab, wb, minlength=k)
        return totals.reshape(k, d), weights, best_total, norms_total

    def scan_bounded(self, start, stop, cent, labels, prev, bounds):
        """Rows ``start:stop`` of a step with distance bounds (Hamerly's): a row keeps its
        centre when the bound on its distance to it, grown by how far that centre moved, is
        below the bound on its distance to any other, shrunk by how far the others moved;
        only the other rows are scored, and their bounds made tight again."""
        X, k = self.X, self.k
        m_max = self._block_rows(start, stop)
        for s in range(start, stop, m_max):
            e = min(s + m_max, stop)
            kept = prev[s:e]
            upper = bounds.old_upper[s:e] + bounds.shift.take(kept)
            lower = bounds.old_lower[s:e] - bounds.other.take(kept)
            labels[s:e] = kept
            open_ = np.flatnonzero(upper >= lower)
            if open_.size:
                rows = open_ + s
                scores = X.take(rows, axis=0) @ cent.minus_2_c.T
                scores += cent.c_sq
                lab = np.argmin(scores, axis=1)
                flat = np.arange(open_.size) * k + lab
                best = scores.reshape(-1).take(flat)
                np.put(scores, flat, np.inf)
                second = np.minimum.reduce(scores, axis=1)
                x_sq = self._x_sq.take(rows)
                labels[rows] = lab
                bounds.tighten(upper, lower, open_, best + x_sq, second, x_sq)
            bounds.upper[s:e] = upper
            bounds.lower[s:e] = lower

    def _assign_by_cluster(self, rows, s, e, buf, cent):
        """(best score, label) of rows ``s:e``, scores computed k x m (from X transposed when
        the pass has it)."""
        k, m = self.k, e - s
        scores = buf.scores[: k * m].reshape(k, m)
        if self._xt is not None:
            if not self._xt_filled:  # the identity's product: an exact copy, 2x a strided one
                np.matmul(self._eye, rows.T, out=self._xt[: self.d, s:e])
            np.matmul(cent.scoring, self._xt[:, s:e], out=scores)
        else:
            if self.d <= 4:  # a copy of the few columns pays for itself
                np.matmul(cent.minus_2_c, np.ascontiguousarray(rows.T), out=scores)
            else:
                np.matmul(cent.minus_2_c, rows.T, out=scores)
            np.add(scores, cent.c_sq[:, None], out=scores)
        # argmin with first-index ties: a running minimum down the clusters (in place), then
        # count the clusters whose running minimum is still above the overall one
        for j in range(1, k):
            np.minimum(scores[j - 1], scores[j], out=scores[j])
        best = scores[k - 1]
        above = np.greater(scores, best, out=buf.mask[: k * m].reshape(k, m))
        lab = np.add.reduce(above.view(np.int8), axis=0, out=buf.lab[:m])
        return best, lab

    def _assign_by_row(self, rows, m, buf, out, cent):
        """(best score, label) of each row, scores computed m x k; labels written to out."""
        k = self.k
        scores = buf.scores[: m * k].reshape(m, k)
        np.matmul(rows, cent.minus_2_c.T, out=scores)
        np.add(scores, cent.c_sq, out=scores)
        lab = np.argmin(scores, axis=1, out=out)
        best = scores.reshape(-1).take(buf.flat_index[:m] + lab)
        return best, lab

    def _row_sq(self, rows):
        if self.d <= 32:  # a matrix-vector product beats the per-row loops on short rows
            return (rows * rows) @ np.ones(self.d, dtype=rows.dtype)
        return np.vecdot(rows, rows)


class _Buffers:
    """Work arrays of one worker, reused by every block."""

    def __init__(self, m, k, d, dtype, by_cluster, one_hot):
        self.scores = np.empty(m * k, dtype=dtype)
        self.rows = np.empty((m, d), dtype=dtype)
        if by_cluster:
            self.lab = np.empty(m, dtype=np.int8)
        else:
            self.flat_index = np.arange(m) * k
        if one_hot:
            self.ids = np.arange(k, dtype=np.int8 if by_cluster else np.int64)[:, None]
            self.member = np.empty(k * m, dtype=dtype)
            self.ones = np.ones(m, dtype=dtype)
        if one_hot or by_cluster:
            self.mask = np.empty(k * m, dtype=bool)
        else:
            self.features = np.arange(d)
            self.index_base = np.empty(m, dtype=np.int64)
            self.index = np.empty(m * d, dtype=np.int64)


class _Bounds:
    """Per-row bounds on the distance (not squared) to the row's centre (``upper``) and to any
    other centre (``lower``), in float64, made from the scores of a step: widened by the
    rounding of those scores (``2 (d + 4) eps (||x||^2 + max ||c||^2)``, squared-distance
    units), so that they hold for the exact distances. With the previous step's bounds
    (``state``), they are ``used``: moved by how far the centres moved since, as ``shift``
    (each centre's) and ``other`` (the largest of the other centres')."""

    def __init__(self, n: int, cent: _Centres, d: int, dtype: Any, state: Any):
        self.upper = np.empty(n)
        self.lower = np.empty(n)
        self.coef = 2.0 * (d + 4) * float(np.finfo(dtype).eps)
        self.c_max = float(cent.c_sq.max())
        self.used = state is not None and state.bounds is not None
        if self.used:
            self.old_upper, self.old_lower = state.bounds.upper, state.bounds.lower
            moved = cent.C.astype(np.float64) - state.scored.astype(np.float64)
            self.shift = np.sqrt(np.einsum("ij,ij->i", moved, moved))
            self.other = _largest_other(self.shift)

    def _margin(self, x_sq: np.ndarray) -> np.ndarray:
        return self.coef * (x_sq.astype(np.float64) + self.c_max)

    def set(self, where: slice, sqdist: np.ndarray, second: np.ndarray, x_sq: np.ndarray):
        """Bounds from a block's squared distance to its centre (``sqdist``) and its
        second-best score (``second``, without ||x||^2)."""
        margin = self._margin(x_sq)
        self.upper[where] = np.sqrt(sqdist + margin)
        self.lower[where] = np.sqrt(np.maximum(second + x_sq - margin, 0.0))

    def tighten(self, upper, lower, rows, best_sq, second, x_sq):
        """``upper`` and ``lower`` at ``rows`` from their squared distance to the nearest
        centre (``best_sq``) and second-best score (``second``)."""
        margin = self._margin(x_sq)
        upper[rows] = np.sqrt(np.maximum(best_sq + margin, 0.0))
        lower[rows] = np.sqrt(np.maximum(second + x_sq - margin, 0.0))


def _total(parts: list, i: int) -> Any:
    """The sum of item ``i`` of the ranges' results (the item itself for a single range)."""
    return parts[0][i] if len(parts) == 1 else sum(p[i] for p in parts)


def _largest_other(shift: np.ndarray) -> np.ndarray:
    """For each centre, the largest shift among the other centres (0 when there is none)."""
    if shift.size == 1:
        return np.zeros(1)
    top, second = np.argsort(shift)[-1], np.sort(shift)[-2]
    other = np.full(shift.size, shift[top])
    other[top] = second
    return other


class Workspace:
    """What one run of the loop keeps from step to step (see ``contract.make_workspace``): its
    pass over X (buffers, the transposed copy or the row norms) and the last step's state."""

    def __init__(self, X: np.ndarray, k: int, chunk_rows: int):
        self.passes = _Pass(X, k, chunk_rows)
        self.last: _State | None = None


def make_workspace(X: Any, w: Any, k: int, chunk_rows: int) -> Workspace:
    """An empty workspace for a run of steps on X with k centres."""
    return Workspace(X, k, chunk_rows)


def assign(
    X: Any, C: Any, *, chunk_rows: int, workspace: Workspace | None = None
) -> tuple[Any, Any]:
    """Nearest centre of every row and the exact squared distance to it (as ``portable``);
    with a run's ``workspace``, through its pass (X transposed, buffers)."""
    if workspace is None:
        return _Pass(X, C.shape[0], chunk_rows).assign(C)
    last = workspace.last
    # the last step scored every row against these very centres (the loop stopped because no
    # label changed): its labels are this pass's argmin, only the distances are new
    same = last is not None and last.all_scored and np.array_equal(last.scored, C)
    return workspace.passes.assign(C, last.labels if same else None)


def lloyd_step(
    X: Any,
    C: Any,
    w: Any,
    *,
    chunk_rows: int,
    prev_labels: Any = None,
    workspace: Workspace | None = None,
) -> Step:
    """Assignment and centre sums fused per block of rows (see :class:`contract.Step`).

    ``sqdist`` (by row only; None cluster-major, or once bounds spare rows) is ||x||^2 plus the
    row's minimum score ||c||^2 - 2 x.c, clamped at zero: the squared distance up to float
    rounding (``assign`` gives the exact, explicit one). With a run's ``workspace``, the row
    norms (cluster-major: their weighted total) and X transposed are made on the first step and
    reused; the sums, weights and counts the last step kept (float64) are updated by the rows
    that changed cluster only, which after the first few iterations are a few percent of X;
    counts (of rows of positive weight) make an emptied cluster's sums exactly zero."""
    if workspace is None:
        return _Pass(X, C.shape[0], chunk_rows).step(C, w, prev_labels, None)[0]
    step, workspace.last = workspace.passes.step(C, w, prev_labels, workspace.last)
    return step


def center_update(step: Step, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As ``portable``'s, in a handful of NumPy calls: on small data the loop's bookkeeping
    costs as much as a step."""
    sums, weights = step.sums, step.weights
    nonempty = weights > 0
    n_empty = weights.size - np.count_nonzero(nonempty)
    if n_empty:
        means = sums / np.where(nonempty, weights, 1)[:, None]
        new = np.where(nonempty[:, None], means, centers)
    else:
        new = sums / weights[:, None]
    diff = (new - centers).astype(np.float64).reshape(-1)
    shift = diff @ diff
    return new, np.array([float(step.n_changed), n_empty, float(step.inertia), shift])


@dataclass(eq=False, slots=True)  # (not frozen: that makes each step's __init__ slower)
class _State:
    """What a NumPy step leaves for the next step of its run: its labels, its changes and its
    float64 sums, weights and counts (of rows of positive weight); never modified."""

    labels: np.ndarray
    unit: bool
    positive: bool
    changed: int
    first: bool  # a first step (no previous labels)
    sums: np.ndarray
    weights: np.ndarray
    counts: np.ndarray
    scored: np.ndarray  # the centres the step was given
    norms_total: float | None  # (cluster-major) sum of w ||x||^2
    bounds: _Bounds | None

    @property
    def all_scored(self) -> bool:
        """Every row was scored (no bounds spared any)."""
        return self.bounds is None or not self.bounds.used



def _weight_kind(w: np.ndarray) -> tuple[bool, bool]:
    """(every weight is 1, every weight is positive)."""
    unit = bool((w == 1).all())
    return unit, unit or bool((w > 0).all())
