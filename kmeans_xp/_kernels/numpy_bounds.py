"""Hamerly's bounds for the NumPy step: rows proven to keep their centre are not scored.

Per row, an upper bound on the distance (not squared) to its centre and a lower bound on the
distance to any other. After the centres move, a row keeps its centre when its upper bound,
grown by how far that centre moved, is below its lower bound, shrunk by the largest move of
the others. The bounds are made from the float scores, widened by those scores' rounding, so
that they hold for the exact distances; a row is kept only when they put its centre nearer
than any other by more than twice that rounding, so that its scores, had it been scored, would
have picked the same centre. Bounded steps and the final assignment thus give the labels of
scoring every row, and a tie (equal scores) is never kept: it is scored and goes to the lowest
index like everywhere else. Steps on duplicate centres neither set nor use bounds (a
duplicate's scores stand in for its real distances, which no bound would cover).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import numpy_fused
from .numpy_blocks import products_by_row


class Bounds:
    """Per-row ``upper`` and ``lower`` bounds (float64) made by one step, with what the next
    step needs to use them: the previous step's bounds (``old_upper``, ``old_lower``), how far
    each centre moved since (``shift``) and the largest move of the other centres
    (``other``); ``used`` when there were previous bounds to use. Those are then overwritten:
    a block's bounds are read before its new ones are written, and nothing reads a step's
    bounds once the next has used them (fresh n-long arrays would cost their pages' faults
    every step)."""

    def __init__(
        self,
        n: int,
        C: np.ndarray,
        c_sq: np.ndarray,
        d: int,
        dtype: Any,
        previous: Bounds | None,
        previous_C: np.ndarray | None,
    ):
        self.upper = np.empty(n) if previous is None else previous.upper
        self.lower = np.empty(n) if previous is None else previous.lower
        # rounding of a score: 2 (d + 4) eps (||x||^2 + max ||c||^2), squared-distance units
        self.coef = 2.0 * (d + 4) * float(np.finfo(dtype).eps)
        self.c_max = float(c_sq.max())
        self.used = previous is not None
        if self.used:
            self.old_upper, self.old_lower = previous.upper, previous.lower
            moved = C.astype(np.float64) - previous_C.astype(np.float64)
            self.shift = np.sqrt(np.einsum("ij,ij->i", moved, moved))
            self.other = largest_other(self.shift)

    def _margin(self, x_sq: np.ndarray) -> np.ndarray:
        return self.coef * (x_sq.astype(np.float64) + self.c_max)

    def set(self, where: slice, sqdist: np.ndarray, second: np.ndarray, x_sq: np.ndarray):
        """Bounds from a block's squared distance to its centre (``sqdist``) and its
        second-best score (``second``, without ||x||^2)."""
        margin = self._margin(x_sq)
        self.upper[where] = np.sqrt(sqdist + margin)
        self.lower[where] = np.sqrt(np.maximum(second + x_sq - margin, 0.0))

    def open_rows(self, upper: np.ndarray, lower: np.ndarray, x_sq: np.ndarray) -> np.ndarray:
        """Indices of the rows whose bounds (``upper``, and ``lower``, clamped at 0 here) do not
        prove their centre nearer than any other by more than twice the scores' rounding."""
        np.maximum(lower, 0.0, out=lower)
        gap = (lower - upper) * (lower + upper)  # lower^2 - upper^2, <= 0 when lower <= upper
        return np.flatnonzero(gap <= 2.0 * self._margin(x_sq))

    def tighten(self, upper, lower, rows, best_sq, second, x_sq):
        """``upper`` and ``lower`` at ``rows`` from their squared distance to the nearest
        centre (``best_sq``) and second-best score (``second``)."""
        margin = self._margin(x_sq)
        upper[rows] = np.sqrt(np.maximum(best_sq + margin, 0.0))
        lower[rows] = np.sqrt(np.maximum(second + x_sq - margin, 0.0))


def largest_other(shift: np.ndarray) -> np.ndarray:
    """For each centre, the largest shift among the other centres (0 when there is none)."""
    if shift.size == 1:
        return np.zeros(1)
    top, second = np.argsort(shift)[-1], np.sort(shift)[-2]
    other = np.full(shift.size, shift[top])
    other[top] = second
    return other


def nearest_two(
    products: np.ndarray, c_sq: np.ndarray, out: np.ndarray, native: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of the scores ``products + c_sq`` (m x k; the products overwritten unless
    ``native``): the label (the lowest index of the smallest score) written to ``out``, the
    smallest score and the smallest of the others. ``native``: in one pass of the compiled
    loop (``numpy_fused.row_min``), which adds ``c_sq`` as it reads."""
    m, k = products.shape
    if native:
        best, second = np.empty(m, dtype=products.dtype), np.empty(m, dtype=products.dtype)
        numpy_fused.row_min(products, c_sq, out, best, second)
        return best, second
    scores = np.add(products, c_sq, out=products)
    lab = np.argmin(scores, axis=1, out=out)
    flat = np.arange(m) * k + lab
    best = scores.reshape(-1).take(flat)
    np.put(scores, flat, np.inf)
    return best, np.minimum.reduce(scores, axis=1)


# a block whose bounds open more than this fraction of its rows is scored whole, in place: the
# gather of its open rows would cost more than the product it spares
WHOLE_BLOCK_OPEN = 0.75


def bounded_range(
    start: int,
    stop: int,
    X: np.ndarray,
    block_rows: int,
    centers: Any,
    x_sq: np.ndarray,
    labels: np.ndarray,
    prev: np.ndarray,
    bounds: Bounds,
    buf: Any,
    native: bool = False,
) -> None:
    """Labels of rows ``start:stop`` with Hamerly's bounds: rows the bounds prove to keep their
    centre keep it unscored; the others are scored (ties to the lowest index) and their bounds
    made tight again. Writes ``labels`` and ``bounds.upper``/``bounds.lower`` there. ``buf``:
    the range's work arrays (``numpy_blocks.Buffers``, blocks of ``block_rows``).
    ``native``: their nearest two found by the compiled loop (see :func:`nearest_two`).

    A block whose bounds open most of its rows is scored whole: a kept row's label is then
    found again (its bounds prove it nearest by more than the scores' rounding), and its
    bounds are made tight like the others'."""
    for s in range(start, stop, block_rows):
        e = min(s + block_rows, stop)
        kept = prev[s:e]
        upper = bounds.old_upper[s:e] + bounds.shift.take(kept)
        lower = bounds.old_lower[s:e] - bounds.other.take(kept)
        open_ = bounds.open_rows(upper, lower, x_sq[s:e])
        whole = open_.size > WHOLE_BLOCK_OPEN * (e - s)
        if whole:
            open_, rows, lab = slice(None), X[s:e], labels[s:e]
        else:
            labels[s:e] = kept
            rows = X.take(open_ + s, axis=0, out=buf.rows[: open_.size])
            lab = np.empty(open_.size, dtype=np.int64)
        if rows.shape[0]:
            products = products_by_row(rows, centers, buf)
            best, second = nearest_two(products, centers.c_sq, lab, native)
            if not whole:
                labels[open_ + s] = lab
            row_sq = x_sq[s:e][open_]
            bounds.tighten(upper, lower, open_, best + row_sq, second, row_sq)
        bounds.upper[s:e] = upper
        bounds.lower[s:e] = lower
