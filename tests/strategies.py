"""Hypothesis strategies and NumPy reference helpers for the property tests.

Every strategy draws NumPy data on the host; a test converts each drawn array once with
``backend.asarray``. Two families of data:

- *adversarial* (``problems``): small integer-valued coordinates, duplicate rows, zero weights,
  duplicated or far-away initial centres. Exact ties are everywhere, so only tie-tolerant
  invariants (inequalities, argmin up to a tolerance, finiteness) are checked on it.
- *spread* (``spread_problems``): distinct rows over a wide integer range, positive weights and
  distinct initial rows. Tests that compare two fits exactly (equivariance, backends agreeing)
  use it together with ``assume_decisive``, which discards the rare examples whose trajectory
  passes through a near tie or an empty cluster (where the two runs may legitimately take
  different, equally valid, decisions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import assume, note
from hypothesis import strategies as st


@dataclass(frozen=True)
class Problem:
    X: np.ndarray  # (n, d) float64
    k: int
    init: np.ndarray  # (k, d) float64
    w: np.ndarray  # (n,) float64, >= 0, sum > 0


# ------------------------------------------------------------------ strategies
@st.composite
def integer_matrix(draw, n: int, d: int, bound: int, *, distinct_rows: bool = False) -> np.ndarray:
    """An (n, d) float64 matrix of integers in [-bound, bound]."""
    row = st.tuples(*[st.integers(-bound, bound)] * d)
    rows = draw(st.lists(row, min_size=n, max_size=n, unique=distinct_rows))
    return np.asarray(rows, dtype=np.float64).reshape(n, d)


@st.composite
def weights(draw, n: int, *, allow_zero: bool = True) -> np.ndarray:
    """Non-negative weights that are exact in binary (multiples of 1/4), not all zero."""
    low = 0 if allow_zero else 1
    w = np.asarray(draw(st.lists(st.integers(low, 12), min_size=n, max_size=n)), float) / 4
    if not w.sum() > 0:
        w[draw(st.integers(0, n - 1))] = 1.0
    return w


@st.composite
def problems(
    draw,
    *,
    max_n: int = 24,
    max_d: int = 3,
    max_k: int = 5,
    bound: int = 6,
    unit_weights: bool = False,
) -> Problem:
    """Adversarial data: small integer coordinates (duplicates and ties are common), weights
    that may be zero, and initial centres that may repeat or lie outside the data."""
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(1, max_d))
    k = draw(st.integers(1, min(n, max_k)))
    X = draw(integer_matrix(n, d, bound))
    how = draw(st.sampled_from(["rows", "rows-repeated", "anywhere"]))
    if how == "rows":
        init = X[draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k, unique=True))]
    elif how == "rows-repeated":
        init = X[draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k))]
    else:  # anywhere, possibly far from every row: empty clusters at the first step
        init = draw(integer_matrix(k, d, 4 * bound))
    w = np.ones(n) if unit_weights else draw(weights(n))
    return Problem(X, k, init, w)


@st.composite
def spread_problems(
    draw,
    *,
    min_n: int = 2,
    max_n: int = 30,
    max_d: int = 3,
    max_k: int = 5,
    bound: int = 1000,
    unit_weights: bool = False,
) -> Problem:
    """Distinct rows over a wide range, positive weights, k distinct rows as initial centres."""
    n = draw(st.integers(min_n, max_n))
    d = draw(st.integers(1, max_d))
    k = draw(st.integers(1, min(n, max_k)))
    X = draw(integer_matrix(n, d, bound, distinct_rows=True))
    init = X[draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k, unique=True))]
    w = np.ones(n) if unit_weights else draw(weights(n, allow_zero=False))
    return Problem(X, k, init, w)


# ------------------------------------------------------------ NumPy references
# Relative tolerances are set for float64 and raised to this floor when the backend computes in
# float32 (JAX's default 32-bit mode turns the float64 data into float32); tests/test_properties
# sets it per test.
EPS_FLOOR = 0.0


def eps(tolerance: float) -> float:
    """``tolerance`` (set for float64), at least the current :data:`EPS_FLOOR`."""
    return max(tolerance, EPS_FLOOR)


def sq_distances(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """(n, k) squared distances from explicit differences, in float64."""
    X = np.asarray(X, dtype=np.float64)
    C = np.asarray(C, dtype=np.float64)
    return ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=-1)


def distance_tolerance(X: np.ndarray, C: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """Per-row slack for comparing squared distances computed in floating point: ``eps`` times
    the size of the terms of ||x||^2 - 2 x.c + ||c||^2 (so it scales with the data)."""
    X = np.asarray(X, dtype=np.float64)
    C = np.asarray(C, dtype=np.float64)
    size = np.sqrt((X * X).sum(1)) + np.sqrt((C * C).sum(1)).max()
    return max(eps, EPS_FLOOR) * (size * size + 1.0)


def cost(X: np.ndarray, C: np.ndarray, labels: np.ndarray, w: np.ndarray) -> float:
    """Weighted sum of squared distances of every row to the centre its label names."""
    diff = np.asarray(X, np.float64) - np.asarray(C, np.float64)[np.asarray(labels)]
    return float(((diff * diff).sum(1) * w).sum())


def weighted_means(X: np.ndarray, labels: np.ndarray, w: np.ndarray, k: int):
    """(means (k, d), total weight (k,)); rows of clusters without weight are NaN."""
    member = np.asarray(labels)[:, None] == np.arange(k)
    total = (member * w[:, None]).sum(0)
    sums = (member * w[:, None]).T @ X
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / total[:, None], total


def margins(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Per row: second-smallest minus smallest squared distance (inf for one centre)."""
    if C.shape[0] < 2:
        return np.full(X.shape[0], np.inf)
    d = np.sort(sq_distances(X, C), axis=1)
    return d[:, 1] - d[:, 0]


def assume_decisive(X: np.ndarray, centres: list[np.ndarray], w: np.ndarray) -> None:
    """Discard the example unless every assignment to every centre set in ``centres`` is
    decided by a clear margin and leaves no cluster without weight.

    Two runs that differ only by rounding (another backend, permuted rows, translated data)
    then take the same decisions at every step, so they must agree to rounding.
    """
    for i, C in enumerate(centres):
        gap = margins(X, C)
        slack = distance_tolerance(X, C, eps=1e-7)
        decisive = bool(np.all(gap > slack))
        if decisive:
            labels = sq_distances(X, C).argmin(1)
            weight = np.bincount(labels, w, minlength=C.shape[0])
            decisive = bool(np.all(weight > 0))
        if not decisive:
            note(f"centre set {i} of the trajectory is not decisive (near tie or empty cluster)")
        assume(decisive)
