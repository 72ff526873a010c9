"""The fused CPU step for few clusters and features: one compiled pass over each block of rows
(``_fused_step.c``) scores it against every centre, takes the nearest (the lowest index on
exact ties), and adds the rows to their cluster's float64 sums, weights and counts, or on an
updating step only the rows that changed cluster, without the GIL; ``numpy_step`` runs it on
each worker thread's row range, into that range's own totals. Row-major steps (many clusters
or features), which score through BLAS, take two of its parts: the nearest two scores of each
row in one pass (:func:`row_min`) and the scatter of the rows into the sums
(:func:`sums_range`). k-means++ takes a third: its trials of candidate centres, in one pass
over the rows (:func:`seeding_trials`).

Each of these runs on every row range of a step (one per worker thread) in one call: the
module's own threads (``_thread_pool.h``, ``POOL``) take the ranges, and wait for the next
call spinning, so that a step hands its ranges over in microseconds; where the module has no
threads of its own (Windows), the worker threads of ``numpy_threads`` do.

The compiled module is built when the package is installed with a C compiler at hand
(``setup.py``; an optional extension). Without it, or with ``KMEANS_XP_FUSED=0`` in the
environment, or ``ENABLED = False`` here, the NumPy step takes its NumPy-call path, which gives
the same labels (``tests/test_kernels_numpy.py`` runs every path both ways). At import the
module picks the widest of its builds that the CPU runs (``_fused_step.INSTRUCTIONS``:
"avx512", "avx2-fma" or "plain"); ``KMEANS_XP_FUSED_ISA=avx2-fma`` or ``plain`` caps it, to
test a narrower build on a wider CPU.
"""

from __future__ import annotations

import os

import numpy as np

from .numpy_threads import map_ranges, row_ranges

try:
    from . import _fused_step
except ImportError:  # built without a C compiler: the NumPy-call path serves
    _fused_step = None

#: whether steps that can take the fused path do (the default when the module is built)
ENABLED = os.environ.get("KMEANS_XP_FUSED", "1") != "0"

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def applies(X: np.ndarray) -> bool:
    """Whether the fused loop is built, switched on and can read X as it is."""
    return ENABLED and _fused_step is not None and X.dtype in DTYPES and X.flags.c_contiguous


def seeding_applies(X: np.ndarray, C: np.ndarray) -> bool:
    """Whether k-means++'s trials of the candidates ``C`` on X take the compiled loop."""
    return applies(X) and C.dtype == X.dtype


def _run(single, batch, calls: list[tuple]) -> list:
    """``single(*call)`` for each call, one per worker thread: in one ``batch`` call on the
    module's threads when it has them, else on ``numpy_threads``' workers."""
    if len(calls) == 1:
        return [single(*calls[0])]
    if _fused_step.POOL:
        return batch(len(calls), calls)
    return map_ranges([(i, i + 1) for i in range(len(calls))], lambda i, _: single(*calls[i]))


def fused_ranges(
    ranges: list[tuple[int, int]],
    X: np.ndarray,
    xt: np.ndarray | None,
    fill: bool,
    minus_2_c: np.ndarray,
    c_sq: np.ndarray,
    w: np.ndarray | None,
    prev: np.ndarray | None,
    labels: np.ndarray,
    delta: bool,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float, float, int]]:
    """The row ranges ``start:stop`` of a step, each on a thread of its own: their labels
    written to ``labels`` (int64) and, when ``fill``, their columns of ``xt`` (X transposed, d
    or more x n) from X. Returns, per range, the float64 sums (k x d) and weights (k,) and the
    int64 counts of the range's rows of positive weight
    (``delta``: of those that changed cluster, + for the new one and - for the old), the sum of
    w times the best score (``||c||^2 - 2 x.c``), the sum of w ||x||^2 (0 unless ``fill``),
    and how many rows of positive weight changed label (0 without ``prev``).

    ``xt`` None: each block of rows is transposed as it is scored. ``w`` is None when every
    weight is 1, else of X's dtype; ``prev`` int64 or None; every array C-contiguous, the
    centres' arrays of X's dtype."""
    k, d = minus_2_c.shape
    outs = [(np.zeros((k, d)), np.zeros(k), np.zeros(k, dtype=np.int64)) for _ in ranges]
    calls = [
        (X.dtype.itemsize, k, d, X.shape[0], start, stop, xt, xt if fill else None, X,
         minus_2_c, c_sq, None, w, prev, labels, None, *out, delta, False)
        for (start, stop), out in zip(ranges, outs, strict=True)
    ]  # fmt: skip
    totals = _run(_fused_step.fused_range, _fused_step.fused_ranges, calls)
    return [(*out, *t) for out, t in zip(outs, totals, strict=True)]


def sums_range(
    start: int,
    stop: int,
    X: np.ndarray,
    labels: np.ndarray,
    k: int,
    w: np.ndarray | None,
    prev: np.ndarray | None,
    delta: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The sums of rows ``start:stop`` labelled already (``labels``, int64): what
    :func:`fused_ranges` returns of them but the scores' and norms' totals. The compiled loop's
    scatter into float64 totals, for the steps that score rows through NumPy (row-major)."""
    d = X.shape[1]
    sums = np.zeros((k, d), dtype=np.float64)
    weights = np.zeros(k, dtype=np.float64)
    counts = np.zeros(k, dtype=np.int64)
    _, _, changed = _fused_step.fused_range(
        X.dtype.itemsize, k, d, X.shape[0], start, stop, None, None, X, None, None, None, w,
        prev, labels, None, sums, weights, counts, delta, True,
    )  # fmt: skip
    return sums, weights, counts, changed


def row_min(
    products: np.ndarray,
    c_sq: np.ndarray,
    labels: np.ndarray,
    best: np.ndarray | None = None,
    second: np.ndarray | None = None,
) -> None:
    """Per row of the scores ``products + c_sq`` (m x k, C-contiguous, float32 or float64,
    and k of the same dtype; each score added as it is read, as NumPy adds them), in one pass
    without the GIL: the lowest index of the smallest score into ``labels`` (int64, as argmin
    gives it), that score into ``best`` and the smallest of the others into ``second`` (equal
    to the best on a tie), each of the products' dtype or None."""
    m, k = products.shape
    _fused_step.row_min(products.dtype.itemsize, m, k, products, c_sq, labels, best, second)


def assign_ranges(
    ranges: list[tuple[int, int]],
    X: np.ndarray,
    xt: np.ndarray | None,
    C: np.ndarray,
    minus_2_c: np.ndarray,
    c_sq: np.ndarray,
    labels: np.ndarray,
    sqdist: np.ndarray,
    known: bool,
) -> None:
    """The row ranges ``start:stop``, each on a thread of its own: their labels written to
    ``labels`` (unless ``known``: read from it) and their squared distances
    ``sum((x - c)^2)`` to ``C[label]`` to ``sqdist`` (X's dtype), each square rounded, then
    added in feature order."""
    k, d = minus_2_c.shape
    calls = [
        (X.dtype.itemsize, k, d, X.shape[0], start, stop, xt, None, X, minus_2_c, c_sq, C,
         None, None, labels, sqdist, None, None, None, False, known)
        for start, stop in ranges
    ]  # fmt: skip
    _run(_fused_step.fused_range, _fused_step.fused_ranges, calls)


def seeding_trials(
    X: np.ndarray,
    x_sq: np.ndarray,
    C: np.ndarray,
    closest: np.ndarray | None,
    w: np.ndarray,
    keep: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """k-means++'s trials of the candidates ``C`` (m x d, X's dtype) over every row of X
    (see ``contract.seeding_trials``), a row range per worker thread: the float64 potentials
    (m,) and, when ``keep``, the minima (m x n, X's dtype). ``x_sq`` and ``w`` are float64,
    ``closest`` of X's dtype or None. The distances are computed in float64 from X's values
    as they are read; each range's potentials are summed in blocks of rows."""
    n, d = X.shape
    m = C.shape[0]
    Ca = np.ascontiguousarray(C)
    c_sq = np.vecdot(Ca.astype(np.float64), Ca.astype(np.float64))
    x_sq = np.ascontiguousarray(x_sq, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    if closest is not None:
        closest = np.ascontiguousarray(closest, dtype=X.dtype)
    dist = np.empty((m, n), dtype=X.dtype) if keep else None
    ranges = row_ranges(n, m, d)
    parts = [np.zeros(m, dtype=np.float64) for _ in ranges]
    calls = [
        (X.dtype.itemsize, m, d, n, start, stop, X, x_sq, Ca, c_sq, closest, w, dist, part)
        for (start, stop), part in zip(ranges, parts, strict=True)
    ]
    _run(_fused_step.seeding_trials, _fused_step.seeding_ranges, calls)
    potentials = parts[0]
    for part in parts[1:]:
        potentials += part
    return potentials, dist
