"""k-means on SciPy sparse matrices and arrays (CSR), without ever densifying X.

Distances are ||x||^2 - 2 x.c + ||c||^2: the products ``X @ C.T`` are sparse x dense products
taken one chunk of rows at a time (so an n x k array never exists), the row norms come from the
stored values, and the distance of a row to one centre is taken as scikit-learn's sparse path
takes it, sum over the stored values of (x_j - c_j)^2 - c_j^2, plus ||c||^2, which keeps its
precision where x is close to c. Per-cluster sums are one bincount over the stored values of a
chunk. The Lloyd loop follows scikit-learn's sparse one (its convergence tests, its relocation
of empty clusters), so both give the same labels, centres, inertia and ``n_iter`` from the same
initial centres. Chunks of rows are shared out to the NumPy kernels' worker threads (SciPy's
sparse x dense product releases the GIL).

Other sparse containers (``cupyx.scipy.sparse``, torch and JAX sparse tensors) are refused with
a TypeError that says what is accepted.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from ._kernels import kernels_for
from ._kernels.numpy_threads import _executor, n_threads
from ._lloyd import MAX_ITER, STRICT, TOL, IterationInfo, LloydResult, _stop_message, lloyd

SUPPORTED = (
    "SciPy sparse matrices and arrays (CSR; CSC, COO and the other SciPy formats are "
    "converted to CSR) or dense arrays"
)
# stored values a chunk of rows may hold: its products, gathers and bincount keys take a few
# times this many bytes (at 2**20 values, some 30 MiB)
CHUNK_VALUES = 1 << 20
# and the values of its rows-by-columns products (scores: rows x k), whatever its rows hold
CHUNK_SCORES = 1 << 22
# below this many multiply-adds a pass runs on one thread
PARALLEL_MIN_WORK = 4_000_000


# ------------------------------------------------------------------------- input
def is_sparse(X: Any) -> bool:
    """True for a sparse matrix or array of any library (supported or not)."""
    module = type(X).__module__
    if module.startswith("scipy.sparse") or module.startswith("cupyx.scipy.sparse"):
        return True
    if module.startswith("jax.experimental.sparse"):
        return True
    if module == "torch" and hasattr(X, "layout"):
        return str(X.layout) != "torch.strided"
    return False


def check_X(X: Any, caller: str, finite: bool = True) -> Any:
    """A SciPy sparse ``X`` as CSR of float32 or float64 (integers and bools become float64),
    2-D, with a row and a column at least, its values finite unless not ``finite``, duplicate
    entries summed. A converted X is a copy; the caller's is never modified."""
    import scipy.sparse as sp

    if not sp.issparse(X):
        raise TypeError(
            f"{caller} does not support sparse input of type {type(X).__module__}."
            f"{type(X).__name__}: it accepts {SUPPORTED}. Convert it to a SciPy sparse matrix "
            "(for example through its CSR arrays on the host) or to a dense array."
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D sparse array, got {X.ndim}D (shape {X.shape}): X must be of shape "
            "(n_samples, n_features)."
        )
    for axis, what in ((0, "sample(s)"), (1, "feature(s)")):
        if X.shape[axis] < 1:
            raise ValueError(
                f"Found array with 0 {what} (shape={X.shape}) while a minimum of 1 is required "
                f"by {caller}."
            )
    if np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(
            f"Complex data not supported: X has dtype {X.dtype}; {caller} expects real numbers."
        )
    if X.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
            raise ValueError(f"X has dtype {X.dtype}; {caller} expects real numbers.")
        X = X.astype(np.float64)
    if X.format != "csr":
        X = X.tocsr()
    if not X.has_canonical_format:  # duplicates would make the row norms wrong
        X = X.copy()
        X.sum_duplicates()
    if finite and not np.all(np.isfinite(X.data)):
        found = "NaN" if np.any(np.isnan(X.data)) else "infinity"
        raise ValueError(
            f"Input X contains {found}: every value must be finite (got a sparse {X.format} "
            f"matrix of shape {X.shape} and dtype {X.dtype})."
        )
    return X


def row_chunks(X: Any, columns: int = 1) -> list[tuple[int, int]]:
    """Consecutive row ranges holding about ``CHUNK_VALUES`` stored values each (cut on the
    stored values: rows differ in length) and at most ``CHUNK_SCORES // columns`` rows (a
    product with ``columns`` dense columns is that many values a row), at least as many
    ranges as worker threads when the work is worth it."""
    n = X.shape[0]
    parts = max(1, math.ceil(X.nnz / CHUNK_VALUES))
    if X.nnz * columns >= PARALLEL_MIN_WORK:
        parts = max(parts, n_threads())
    parts = min(parts, n)
    targets = np.linspace(0, X.nnz, parts + 1)[1:-1]
    cuts = np.searchsorted(X.indptr, targets, side="left")
    bounds = np.unique(np.concatenate([[0], cuts, [n]]))
    most = max(1, CHUNK_SCORES // max(1, columns))
    ranges = []
    for a, b in itertools.pairwise(bounds.tolist()):
        pieces = -(-(b - a) // most)  # long runs of short rows: split into equal pieces
        ranges += [
            (a + (b - a) * i // pieces, a + (b - a) * (i + 1) // pieces) for i in range(pieces)
        ]
    return [(a, b) for a, b in ranges if b > a]


def _map_chunks(X: Any, work, columns: int = 1) -> list:
    """``work(start, stop)`` for every row range of X (see ``row_chunks``), on the worker
    threads when several."""
    chunks = row_chunks(X, columns)
    if len(chunks) == 1 or n_threads() == 1:
        return [work(a, b) for a, b in chunks]
    return list(_executor().map(lambda ab: work(*ab), chunks))


def _map_groups(X: Any, work, columns: int) -> list:
    """``work(ranges)`` for consecutive groups of X's row ranges, one group per worker thread,
    so that what a worker accumulates (k x d sums) exists once per thread, not per chunk."""
    chunks = row_chunks(X, columns)
    per = -(-len(chunks) // max(1, min(len(chunks), n_threads())))
    groups = [chunks[i : i + per] for i in range(0, len(chunks), per)]
    if len(groups) == 1:
        return [work(groups[0])]
    return list(_executor().map(work, groups))


def _rows(X: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of the CSR X as a CSR array on X's own buffers (slicing copies)."""
    import scipy.sparse as sp

    a, b = X.indptr[start], X.indptr[stop]
    indptr = X.indptr[start : stop + 1] - a
    return sp.csr_array((X.data[a:b], X.indices[a:b], indptr), shape=(stop - start, X.shape[1]))


def _row_ids(X: Any, start: int, stop: int) -> np.ndarray:
    """The row (counted from ``start``) of every stored value of rows ``start:stop``."""
    return np.repeat(np.arange(stop - start), np.diff(X.indptr[start : stop + 1]))


def _values(X: Any, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = X.indptr[start], X.indptr[stop]
    return X.data[a:b], X.indices[a:b]


def row_sq_norms(X: Any) -> np.ndarray:
    """||x||^2 of every row (float64), from the stored values."""

    def work(start, stop):
        data, _ = _values(X, start, stop)
        data = data.astype(np.float64)
        return np.bincount(_row_ids(X, start, stop), weights=data * data, minlength=stop - start)

    return np.concatenate(_map_chunks(X, work))


def weighted_mean_variance(X: Any, w: np.ndarray) -> tuple[np.ndarray, float]:
    """The weighted mean of the rows (dense, d) and the total variance around it, summed
    column by column as scikit-learn's ``mean_variance_axis`` does: the stored values' squared
    deviations plus the weight of the rows that store nothing there times the mean squared
    (no difference of large sums, which would cancel when the mean is large beside the
    spread)."""
    n, d = X.shape
    total = float(w.sum())
    mean = np.asarray(X.T @ w, dtype=np.float64) / total

    def work(ranges):
        spread, stored_w, stored = np.zeros(d), np.zeros(d), np.zeros(d, dtype=np.int64)
        for start, stop in ranges:
            data, cols = _values(X, start, stop)
            row_w = w[start:stop][_row_ids(X, start, stop)]
            diff = data - mean[cols]
            spread += np.bincount(cols, weights=row_w * diff * diff, minlength=d)
            stored_w += np.bincount(cols, weights=row_w, minlength=d)
            stored += np.bincount(cols, minlength=d)
        return spread, stored_w, stored

    parts = _map_groups(X, work, 1)
    spread = sum(p[0] for p in parts)
    # a column every row stores has no unstored weight (exactly, whatever the rounding)
    unstored = np.where(sum(p[2] for p in parts) == n, 0.0, total - sum(p[1] for p in parts))
    return mean, float(np.sum(spread + np.maximum(unstored, 0.0) * mean * mean)) / total


def rows_dense(X: Any, indices: Any) -> np.ndarray:
    """Rows ``indices`` of X as a dense array (a few rows: k x d at most)."""
    return np.asarray(X[np.asarray(indices)].toarray())


# ------------------------------------------------------------------ distances
def _sqdist_to(X: Any, start: int, stop: int, C: np.ndarray, c_sq: np.ndarray, labels):
    """Squared distance of rows ``start:stop`` to the centres ``labels`` picks for them, as
    scikit-learn's sparse path takes it: sum over stored values of (x - c)^2 - c^2, plus
    ||c||^2, clamped at 0."""
    data, cols = _values(X, start, stop)
    ids = _row_ids(X, start, stop)
    c = C[labels[ids], cols].astype(np.float64)
    diff = data - c
    part = np.bincount(ids, weights=diff * diff - c * c, minlength=stop - start)
    return np.maximum(part + c_sq[labels], 0.0)


def sqdist(X: Any, C: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Squared distance of every row to its centre ``C[labels]`` (float64)."""
    c_sq = np.einsum("ij,ij->i", C, C, dtype=np.float64)
    return np.concatenate(_map_chunks(X, lambda a, b: _sqdist_to(X, a, b, C, c_sq, labels[a:b])))


def sqdist_rows(X: Any, x_sq: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(m, n) squared distances from the dense ``rows`` to every row of X, clamped at 0."""
    r_sq = np.einsum("ij,ij->i", rows, rows, dtype=np.float64)
    minus_2_rt = np.ascontiguousarray(-2.0 * rows.T, dtype=X.dtype)

    def work(start, stop):
        return np.asarray(_rows(X, start, stop) @ minus_2_rt, dtype=np.float64).T

    products = np.concatenate(_map_chunks(X, work, len(rows)), axis=1)
    return np.maximum(products + x_sq + r_sq[:, None], 0.0)


def assign(X: Any, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre of every row (the lowest index among equals) and the squared distance
    to it (float64)."""
    step = _pass(X, C, None, sums=False)
    return step.labels, sqdist(X, C, step.labels)


def transform(X: Any, C: np.ndarray, x_sq: np.ndarray) -> np.ndarray:
    """Euclidean distances (n, k) of every row to every centre, in X's dtype."""
    c_sq = np.einsum("ij,ij->i", C, C, dtype=np.float64)
    minus_2_ct = np.ascontiguousarray(-2.0 * C.T, dtype=X.dtype)

    def work(start, stop):
        sq = np.asarray(_rows(X, start, stop) @ minus_2_ct, dtype=np.float64)
        sq += x_sq[start:stop, None] + c_sq
        # the expanded form cancels badly where the distance is small: the nearest centre's
        # distance is taken as the fit takes it
        nearest = np.argmin(sq, axis=1)
        exact = _sqdist_to(X, start, stop, C, c_sq, nearest)
        np.put_along_axis(sq, nearest[:, None], exact[:, None], axis=1)
        return np.sqrt(np.maximum(sq, 0.0)).astype(X.dtype)

    return np.concatenate(_map_chunks(X, work, len(C)))


# ----------------------------------------------------------------- Lloyd step
class _Step:
    """One assignment pass: labels, the best score (||c||^2 - 2 x.c) of each row and, when
    asked, the weighted per-cluster sums (float64, k x d) and weights (k,)."""

    def __init__(self, labels, best, sums, weights):
        self.labels, self.best, self.sums, self.weights = labels, best, sums, weights


def _pass(X: Any, C: np.ndarray, w: np.ndarray | None, *, sums: bool) -> _Step:
    k, d = C.shape
    c_sq = np.einsum("ij,ij->i", C, C).astype(X.dtype)
    minus_2_ct = np.ascontiguousarray(-2.0 * C.T, dtype=X.dtype)

    def work(ranges):
        labels, best = [], []
        totals = np.zeros((k, d)) if sums else None
        weights = np.zeros(k) if sums else None
        for start, stop in ranges:
            scores = np.asarray(_rows(X, start, stop) @ minus_2_ct)
            scores += c_sq
            chunk_labels = np.argmin(scores, axis=1)
            labels.append(chunk_labels)
            best.append(np.take_along_axis(scores, chunk_labels[:, None], axis=1)[:, 0])
            if sums:
                data, cols = _values(X, start, stop)
                ids = _row_ids(X, start, stop)
                row_w = w[start:stop]
                keys = chunk_labels[ids] * d + cols
                totals += np.bincount(keys, weights=data * row_w[ids], minlength=k * d).reshape(
                    k, d
                )
                weights += np.bincount(chunk_labels, weights=row_w, minlength=k)
        return labels, best, totals, weights

    parts = _map_groups(X, work, k)
    labels = np.concatenate([a for p in parts for a in p[0]])
    best = np.concatenate([a for p in parts for a in p[1]])
    if not sums:
        return _Step(labels, best, None, None)
    return _Step(labels, best, sum(p[2] for p in parts), sum(p[3] for p in parts))


def _relocate_empty(X, w, labels, C, sums, weights) -> None:
    """scikit-learn's rule, in place on ``sums`` and ``weights``: each empty cluster takes one
    of the rows farthest from their (old) centres, which leaves its cluster with its weight.
    Only rows of positive weight and distance qualify, as in ``_lloyd`` (a row on its centre
    would only duplicate it); clusters left without one stay empty."""
    empty = np.flatnonzero(weights <= 0)
    distances = np.where(w > 0, sqdist(X, C, labels), 0.0)
    far = np.argpartition(distances, -len(empty))[: -len(empty) - 1 : -1]
    far = far[distances[far] > 0]
    for new_id, row in zip(empty, far):
        data, cols = _values(X, row, row + 1)
        old_id = labels[row]
        sums[old_id, cols] -= data * w[row]
        sums[new_id, :] = 0.0
        sums[new_id, cols] = data * w[row]
        weights[new_id] = w[row]
        weights[old_id] -= w[row]


def lloyd_sparse(
    X: Any,
    centers: np.ndarray,
    w: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    verbose: int = 0,
    callback=None,
) -> LloydResult:
    """Lloyd's algorithm on a CSR ``X`` from the dense ``centers``, as scikit-learn's sparse
    loop runs it: labels unchanged stops it (strict convergence), else a squared centre shift
    of at most ``tol``; a final assignment when it did not stop strictly."""
    dtype = X.dtype
    centers = np.asarray(centers, dtype=dtype)
    x_sq = row_sq_norms(X) if verbose or callback is not None else None
    prev = None
    stop_reason = MAX_ITER
    for iteration in range(1, max_iter + 1):
        step = _pass(X, centers, w, sums=True)
        if np.any(step.weights <= 0):
            _relocate_empty(X, w, step.labels, centers, step.sums, step.weights)
        nonempty = step.weights > 0
        # a cluster left without weight (only weightless rows to take) keeps its centre
        new = np.where(
            nonempty[:, None], step.sums / np.where(nonempty, step.weights, 1.0)[:, None], centers
        ).astype(dtype)
        shift = float(np.sum((new.astype(np.float64) - centers) ** 2))
        changed = step.labels != prev if prev is not None else np.ones(len(w), bool)
        n_changed = int(np.count_nonzero(changed & (w > 0)))
        if x_sq is not None:
            inertia = float(w @ np.maximum(x_sq + step.best, 0.0))
            if verbose:
                print(
                    f"Iteration {iteration}, inertia {inertia:.6g}, center shift "
                    f"{shift:.6g}, {n_changed} labels changed."
                )
            if callback is not None:
                callback(IterationInfo(iteration, new, step.labels, inertia, shift, n_changed))
        centers = new
        if prev is not None and n_changed == 0 and nonempty.all():
            stop_reason = STRICT
            break
        if shift <= tol:
            stop_reason = TOL
            break
        prev = step.labels
    labels = step.labels
    if stop_reason != STRICT:
        labels = _pass(X, centers, None, sums=False).labels
    inertia = float(w @ sqdist(X, centers, labels))
    if verbose:
        print(_stop_message(stop_reason, iteration, shift, tol))
    return LloydResult(centers, labels, inertia, iteration, stop_reason)


# ---------------------------------------------------------------------- init
def _draw(cumulative: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Indices drawn with probability proportional to the increments of ``cumulative``."""
    idx = np.searchsorted(cumulative, fractions * cumulative[-1], side="right")
    return np.minimum(idx, len(cumulative) - 1)


def kmeans_plusplus(
    X: Any,
    n_clusters: int,
    w: np.ndarray,
    rng: np.random.Generator,
    *,
    x_sq: np.ndarray | None = None,
    n_local_trials: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-means++ on a CSR ``X``: the draws of the dense version (``_init``) walked in
    the same canonical row order, with distances from sparse products. Returns the dense
    centres and the indices of the rows chosen."""
    from ._init import _ORDER_SEED

    if n_local_trials is None:
        n_local_trials = 2 + int(math.log(n_clusters))
    x_sq = row_sq_norms(X) if x_sq is None else x_sq
    direction = np.random.default_rng(_ORDER_SEED).standard_normal(X.shape[1])
    order = np.argsort(np.asarray(X @ direction.astype(X.dtype)), kind="stable")
    w_ordered = w[order].astype(np.float64)

    def sqdist_from(indices):  # (m, n) in canonical order
        return sqdist_rows(X, x_sq, rows_dense(X, order[indices]))[:, order]

    first = _draw(np.cumsum(w_ordered), rng.uniform(size=1))
    closest = sqdist_from(first)[0]
    chosen = [first]
    for _ in range(1, n_clusters):
        candidates = _draw(np.cumsum(closest * w_ordered), rng.uniform(size=n_local_trials))
        dist = np.minimum(sqdist_from(candidates), closest)
        best = int(np.argmin(dist @ w_ordered))
        closest = dist[best]
        chosen.append(candidates[best : best + 1])
    indices = order[np.concatenate(chosen)]
    return rows_dense(X, indices).astype(X.dtype), indices


def random_rows(X: Any, n_clusters: int, w: np.ndarray, rng, *, unit_weight: bool):
    """The rows the dense 'random' init draws (the draw depends on n and the weights only)."""
    from ._init import random_rows as dense_random_rows

    stand_in = np.empty((X.shape[0], 0), dtype=X.dtype)  # no columns: nothing is copied
    _, indices = dense_random_rows(stand_in, n_clusters, w, rng, unit_weight=unit_weight)
    return rows_dense(X, indices).astype(X.dtype), np.asarray(indices)


def kmeans_parallel(
    X: Any,
    n_clusters: int,
    w: np.ndarray,
    rng: np.random.Generator,
    *,
    oversampling_factor: float = 2.0,
    n_rounds: int = 5,
    n_refine_iter: int = 30,
) -> tuple[np.ndarray, np.ndarray]:
    """k-means|| on a CSR ``X``, drawn as the dense version draws (see
    ``_init.kmeans_parallel``): rounds of rows drawn by weight times squared distance, then
    the candidates weighted by the rows they attract, reduced to ``n_clusters`` by greedy
    k-means++ and refined by Lloyd on the candidates. The candidates are held dense:
    (1 + 2 k n_rounds) x d values, some 10 k x d; k-means++ holds only k x d."""
    from ._init import kmeans_plusplus as dense_kmeans_plusplus

    per_round = max(1, math.ceil(oversampling_factor * n_clusters))
    w64 = w.astype(np.float64)
    x_sq = row_sq_norms(X)
    drawn = _draw(np.cumsum(w64), rng.uniform(size=1))
    chosen = [drawn]
    closest = sqdist_rows(X, x_sq, rows_dense(X, drawn))[0]
    for round_ in range(n_rounds):
        drawn = _draw(np.cumsum(closest * w64), rng.uniform(size=per_round))
        chosen.append(drawn)
        if round_ + 1 < n_rounds:  # (chunked: no 2k x n distances)
            closest = np.minimum(closest, assign(X, rows_dense(X, drawn))[1])
    indices = np.concatenate(chosen)
    candidates = rows_dense(X, indices).astype(X.dtype)
    labels = _pass(X, candidates, None, sums=False).labels
    attracted = np.bincount(labels, weights=w64, minlength=len(indices)).astype(X.dtype)
    centers, picked = dense_kmeans_plusplus(candidates, n_clusters, attracted, rng)
    if n_refine_iter:
        centers = lloyd(
            candidates,
            centers,
            attracted,
            max_iter=n_refine_iter,
            tol=0.0,
            kernels=kernels_for(np),
            chunk_rows=len(indices),
        ).centers
    return np.asarray(centers), indices[np.asarray(picked)]
