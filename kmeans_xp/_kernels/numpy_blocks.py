"""What the NumPy step does to one cache-sized block of rows: score it against the centres,
reduce the scores to labels, and add its rows to the cluster sums while they are in cache.

Scores are ``||c||^2 - 2 x.c`` computed as ``portable`` computes them (the same ``||c||^2``,
the product then the sum), so that equal scores stay equal and ties go to the lowest index as
``argmin`` breaks them. A centre that duplicates an earlier one scores the largest float for
every row (zeros for -2 c, the largest float for ||c||^2): it is never nearest, whatever
rounding the matrix product would give its copy in another column.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import numpy_fused


class Centers:
    """What every block needs from the centres: C, -2 C and ||c||^2 (for a duplicate of an
    earlier centre: 0 and the largest float, see above; ``duplicates`` says whether there are
    any), and, for the cluster-major layout, ``[-2 C, ||c||^2]`` (k x (d + 1)), which times a
    column ``[x; 1]`` gives the scores with ||c||^2 added."""

    def __init__(self, C: np.ndarray, dtype: Any, by_cluster: bool = False):
        self.C = C
        self.k = C.shape[0]
        self.minus_2_c = np.ascontiguousarray(-2.0 * C, dtype=dtype)
        # as portable computes it (np.sum is this reduction), not vecdot, which rounds otherwise
        self.c_sq = np.add.reduce(C * C, axis=1).astype(dtype, copy=False)
        later = _later_duplicates(C, self.c_sq)
        self.duplicates = later is not None
        if self.duplicates:
            self.minus_2_c[later] = 0.0
            self.c_sq[later] = np.finfo(dtype).max
        if by_cluster:
            self.scoring = np.concatenate([self.minus_2_c, self.c_sq[:, None]], axis=1)


def _later_duplicates(C: np.ndarray, c_sq: np.ndarray) -> np.ndarray | None:
    """Mask of the rows of C equal to an earlier row, or None when there is none."""
    norms = c_sq.copy()
    norms.sort()
    if not (norms[1:] == norms[:-1]).any():  # equal rows have equal norms: a quick no
        return None
    order = np.lexsort(C.T)  # stable: equal rows stay in index order, the first copy first
    ordered = C[order]
    same = np.all(ordered[1:] == ordered[:-1], axis=1)
    if not same.any():
        return None
    later = np.zeros(C.shape[0], dtype=bool)
    later[order[1:][same]] = True
    return later


class Buffers:
    """Work arrays of one worker thread, reused by every block of its row range."""

    def __init__(self, m: int, k: int, d: int, dtype: Any, by_cluster: bool, one_hot: bool):
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


def labels_by_cluster(scores: np.ndarray, buf: Buffers) -> tuple[np.ndarray, np.ndarray]:
    """(best score, label) of each column of ``scores`` (k x m, overwritten): a running
    minimum down the clusters, then the count of clusters whose running minimum is still above
    the overall one, which is the first index of the minimum. Whole-row ufuncs: NumPy's argmin
    over short rows costs far more per row."""
    k, m = scores.shape
    for j in range(1, k):
        np.minimum(scores[j - 1], scores[j], out=scores[j])
    best = scores[k - 1]
    above = np.greater(scores, best, out=buf.mask[: k * m].reshape(k, m))
    lab = np.add.reduce(above.view(np.int8), axis=0, out=buf.lab[:m])
    return best, lab


def scores_by_cluster(
    rows: np.ndarray, xt: np.ndarray | None, centers: Centers, buf: Buffers
) -> np.ndarray:
    """Scores (k x m) of a block, from its columns of X transposed ``xt`` ([x; 1], (d + 1) x m)
    when given, else from the rows."""
    k, m = centers.k, rows.shape[0]
    scores = buf.scores[: k * m].reshape(k, m)
    if xt is not None:
        np.matmul(centers.scoring, xt, out=scores)
        return scores
    if rows.shape[1] <= 4:  # a copy of the few columns pays for itself
        np.matmul(centers.minus_2_c, np.ascontiguousarray(rows.T), out=scores)
    else:
        np.matmul(centers.minus_2_c, rows.T, out=scores)
    np.add(scores, centers.c_sq[:, None], out=scores)
    return scores


def products_by_row(rows: np.ndarray, centers: Centers, buf: Buffers) -> np.ndarray:
    """The products ``-2 x.c`` (m x k) of a block: its scores once ||c||^2 is added, which
    the row reductions do (:func:`labels_by_row`, ``numpy_bounds.nearest_two``)."""
    m, k = rows.shape[0], centers.k
    return np.matmul(rows, centers.minus_2_c.T, out=buf.scores[: m * k].reshape(m, k))


def labels_by_row(
    products: np.ndarray, c_sq: np.ndarray, buf: Buffers, out: np.ndarray, native: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(best score, label) of each row of the scores ``products + c_sq`` (m x k; the products
    overwritten unless ``native``); labels written to ``out``. ``native``: by the compiled
    loop's one pass (``numpy_fused.row_min``), which adds ``c_sq`` as it reads."""
    m = products.shape[0]
    if native:
        best = np.empty(m, dtype=products.dtype)
        numpy_fused.row_min(products, c_sq, out, best)
        return best, out
    scores = np.add(products, c_sq, out=products)
    lab = np.argmin(scores, axis=1, out=out)
    best = scores.reshape(-1).take(buf.flat_index[:m] + lab)
    return best, lab


def row_sq(rows: np.ndarray) -> np.ndarray:
    """Squared norm of every row."""
    if rows.shape[1] <= 32:  # a matrix-vector product beats the per-row loops on short rows
        return (rows * rows) @ np.ones(rows.shape[1], dtype=rows.dtype)
    return np.vecdot(rows, rows)


def exact_sqdist(rows: np.ndarray, C: np.ndarray, lab: np.ndarray, buf: Buffers) -> np.ndarray:
    """sum((x - c)^2) of each row to its centre ``C[lab]``, as ``portable`` returns it."""
    m = rows.shape[0]
    diff = np.take(C, lab, axis=0, out=buf.rows[:m])
    np.subtract(rows, diff, out=diff)
    return row_sq(diff)


class OneHotSums:
    """Cluster sums of few clusters: one-hot matrix products, float64 totals."""

    def __init__(self, k: int, d: int, unit: bool):
        self.unit = unit
        self.sums = np.zeros((k, d), dtype=np.float64)
        self.weights = np.zeros(k, dtype=np.float64)

    def add(self, rows: np.ndarray, lab: np.ndarray, w: np.ndarray, buf: Buffers) -> None:
        k, m = self.weights.size, rows.shape[0]
        mask = np.equal(lab, buf.ids, out=buf.mask[: k * m].reshape(k, m))
        member = buf.member[: k * m].reshape(k, m)
        member[...] = mask
        if not self.unit:
            member *= w
        # np.dot, not matmul: NumPy's matmul keeps the GIL through products this shape (small
        # output, long inner dimension), so threads would take turns
        self.weights += np.dot(member, buf.ones[:m])
        self.sums += np.dot(member, rows)


class BincountSums:
    """Cluster sums of many clusters: one bincount over (cluster, feature) pairs."""

    def __init__(self, k: int, d: int, unit: bool):
        self.unit, self.k, self.d = unit, k, d
        self._totals = np.zeros(k * d, dtype=np.float64)
        self.weights = np.zeros(k, dtype=np.float64)

    @property
    def sums(self) -> np.ndarray:
        return self._totals.reshape(self.k, self.d)

    def add(self, rows: np.ndarray, lab: np.ndarray, w: np.ndarray, buf: Buffers) -> None:
        k, d, m = self.k, self.d, rows.shape[0]
        index = np.multiply(lab, d, out=buf.index_base[:m])
        index = np.add(index[:, None], buf.features, out=buf.index[: m * d].reshape(m, d))
        values = rows if self.unit else np.multiply(rows, w[:, None], out=buf.rows[:m])
        self._totals += np.bincount(index.reshape(-1), values.reshape(-1), minlength=k * d)
        self.weights += np.bincount(lab, w, minlength=k)


# the moves of many clusters' sums are bincounts over this many bytes of rows at a time (whole,
# their temporaries take several times the rows and fall out of cache)
MOVES_CHUNK_BYTES = 1 << 20


def moves(
    X: np.ndarray,
    changed: np.ndarray,
    labels: np.ndarray,
    prev: np.ndarray,
    w: np.ndarray,
    k: int,
    unit: bool,
    one_hot: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the rows ``changed`` add to the sums, weights and counts (float64, float64, int64)
    by joining their new cluster and leaving their old one."""
    d = X.shape[1]
    new, old = labels.take(changed), prev.take(changed)
    values = X.take(changed, axis=0)  # take: several times quicker than X[changed]
    counts = np.bincount(new, minlength=k) - np.bincount(old, minlength=k)
    if unit:
        weights = counts.astype(np.float64)
    else:
        wc = w.take(changed)
        values *= wc[:, None]
        weights = np.bincount(new, wc, minlength=k) - np.bincount(old, wc, minlength=k)
    if one_hot:  # +1 for the cluster joined, -1 for the one left (never the same)
        signs = np.zeros((k, changed.size), dtype=X.dtype)
        rows = np.arange(changed.size)
        signs[new, rows] = 1.0
        signs[old, rows] = -1.0
        sums = np.dot(signs, values).astype(np.float64)  # (np.dot: see OneHotSums)
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
