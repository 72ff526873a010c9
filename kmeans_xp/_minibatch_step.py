"""One mini-batch k-means step, the low-count reassignment and the early stopping, as
scikit-learn's ``MiniBatchKMeans`` defines them (Sculley 2010, with per-cluster weight sums).

The step is written on the Array API and calls the engine's fused step (``lloyd_step`` of
``kernels_for(xp)``) on the batch; the decisions that follow it
(reassignment, convergence) are made on the host from k + 2 numbers brought back in one
transfer per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._xp import array_namespace, device_of, from_numpy


@dataclass(frozen=True)
class MiniBatchInfo:
    """What a ``callback`` of :class:`~kmeans_xp.MiniBatchKMeans` receives after every step.

    ``step`` counts from 1 within the call (``fit``) or over the calls (``partial_fit``);
    ``centers`` are the centres after the step (reassigned clusters included) and ``counts``
    the per-cluster weight sums, both arrays of the centres' library and device;
    ``batch_inertia`` is the batch's weighted sum of squared distances to the centres before
    the step; ``n_reassigned`` the clusters moved to random rows of the batch.

    Examples
    --------
    >>> from kmeans_xp import MiniBatchKMeans, make_blobs
    >>> X, _ = make_blobs(2_000, 2, centers=3, random_state=0)
    >>> steps = []
    >>> km = MiniBatchKMeans(3, batch_size=500, max_iter=2, random_state=0,
    ...                      callback=steps.append).fit(X)
    >>> steps[0].step, steps[0].centers.shape, steps[0].counts.shape
    (1, (3, 2), (3,))
    >>> all(info.batch_inertia > 0 for info in steps)
    True
    """

    step: int
    centers: Any
    counts: Any
    batch_inertia: float
    n_reassigned: int


def minibatch_step(
    X: Any, w: Any, centers: Any, counts: Any, *, kernels: Any, chunk_rows: int
) -> tuple[Any, Any, Any, Any]:
    """The centres and counts after one batch, as scikit-learn's ``_minibatch_update_dense``:
    each cluster's centre becomes the weighted mean of everything it has absorbed so far,

        c' = (c * n + sum_i w_i x_i) / (n + sum_i w_i)

    over the batch rows ``x_i`` nearest to ``c``, where ``n`` is the cluster's weight so far
    (``counts``); a cluster the batch does not reach keeps its centre and count. This is a
    gradient step of the batch's inertia with learning rate ``w_i / (n + sum w)`` per row.

    Returns ``(centers, counts, batch_inertia, labels)``: the batch's inertia (a 0-d array of
    the accumulation dtype) is that of the centres before the step, as scikit-learn reports it.
    NumPy batches that fit in one chunk take :func:`numpy_step` (the same result, up to the
    order of the sums' rounding).
    """
    if X.shape[0] <= chunk_rows and all(type(a) is np.ndarray for a in (X, w, centers, counts)):
        return numpy_step(X, w, centers, counts)
    xp = array_namespace(X, centers)
    # the engine's fused step: labels, per-cluster sums and weights, and the batch's inertia
    step = kernels.lloyd_step(X, centers, w, chunk_rows=chunk_rows)
    labels, sums, weights, inertia = step.labels, step.sums, step.weights, step.inertia
    new_counts = counts + weights
    reached = weights > 0
    scale = xp.where(reached, new_counts, xp.ones_like(new_counts))
    moved = (centers * counts[:, None] + sums) / scale[:, None]
    return xp.where(reached[:, None], moved, centers), new_counts, inertia, labels


def numpy_step(X: np.ndarray, w: np.ndarray, centers: np.ndarray, counts: np.ndarray):
    """:func:`minibatch_step` for a NumPy batch in a handful of whole-batch calls: the engine's
    kernels set up blocks, threads and buffers for passes over a whole X, which on a batch of a
    thousand rows costs more than the arithmetic (1.6 ms against 0.6 ms a step at 1024 x 16,
    k=16, on the 2-core CI machine). The scores are ||c||^2 - 2 x.c (ties: the lowest index),
    the distances explicit, the sums a one-hot product."""
    k = centers.shape[0]
    scores = X @ (-2.0 * centers.T)
    scores += np.einsum("ij,ij->i", centers, centers)
    labels = scores.argmin(axis=1)
    diff = X - centers[labels]
    sqdist = np.einsum("ij,ij->i", diff, diff)
    inertia = np.float64(sqdist.astype(np.float64) @ w.astype(np.float64))
    one_hot = np.zeros((X.shape[0], k), dtype=X.dtype)
    one_hot[np.arange(X.shape[0]), labels] = w
    sums = one_hot.T @ X
    weights = np.bincount(labels, w, minlength=k).astype(counts.dtype)
    new_counts = counts + weights
    reached = weights > 0
    moved = (centers * counts[:, None] + sums) / np.where(reached, new_counts, 1)[:, None]
    return np.where(reached[:, None], moved, centers), new_counts, inertia, labels


def clusters_to_reassign(counts: np.ndarray, ratio: float, batch_rows: int) -> np.ndarray:
    """Which clusters scikit-learn's step reassigns: those whose weight is below ``ratio``
    times the largest, but at most the ``int(0.5 * batch_rows)`` lightest of them."""
    chosen = counts < ratio * counts.max()
    if chosen.sum() > 0.5 * batch_rows:
        chosen[np.argsort(counts, kind="stable")[int(0.5 * batch_rows) :]] = False
    return chosen


def reassign(
    X: Any,
    centers: Any,
    counts_host: np.ndarray,
    ratio: float,
    rng: np.random.Generator,
    *,
    verbose: int = 0,
) -> tuple[Any, np.ndarray, int]:
    """Low-count reassignment (scikit-learn's): the clusters :func:`clusters_to_reassign`
    picks move to distinct random rows of the batch ``X``, and their count is reset to the
    smallest count among the others (not to 0, which would reassign them again at once).

    Returns the centres, the counts (host, float64) and how many clusters moved."""
    chosen = clusters_to_reassign(counts_host, ratio, X.shape[0])
    n_moved = int(chosen.sum())
    if not n_moved:
        return centers, counts_host, 0
    rows = rng.choice(X.shape[0], size=n_moved, replace=False)
    if verbose:
        print(f"[MiniBatchKMeans] Reassigning {n_moved} cluster centers.")
    xp = array_namespace(X, centers)
    dev = device_of(centers)
    source = np.zeros(centers.shape[0], dtype=np.int64)
    source[chosen] = rows
    picked = xp.take(X, from_numpy(source, xp, dev), axis=0)
    mask = from_numpy(chosen, xp, dev)
    centers = xp.where(mask[:, None], xp.astype(picked, centers.dtype), centers)
    counts_host = counts_host.copy()
    if (~chosen).any():
        counts_host[chosen] = counts_host[~chosen].min()
    return centers, counts_host, n_moved


class EarlyStopping:
    """scikit-learn's ``_mini_batch_convergence``: an exponentially weighted average (EWA) of
    the batch inertia per row, with stops on a small centre shift (``tol`` > 0, absolute) or
    on ``max_no_improvement`` steps without a new lowest EWA inertia."""

    def __init__(self, *, batch_size: int, n_samples: int, tol: float, max_no_improvement: Any):
        self.batch_size = batch_size
        self.n_samples = n_samples
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.ewa_inertia: float | None = None
        self.ewa_inertia_min: float | None = None
        self.no_improvement = 0
        self.last_inertia = 0.0  # the last batch's inertia per row

    def stop(self, step: int, n_steps: int, shift: float, batch_inertia: float, verbose: int):
        """Whether to stop after step ``step`` (counted from 0) of ``n_steps``."""
        batch_inertia = batch_inertia / self.batch_size
        self.last_inertia = batch_inertia
        step += 1
        if step == 1:  # its inertia is that of the initial centres
            if verbose:
                print(f"Minibatch step {step}/{n_steps}: mean batch inertia: {batch_inertia}")
            return False
        if self.ewa_inertia is None:
            self.ewa_inertia = batch_inertia
        else:
            alpha = min(self.batch_size * 2.0 / (self.n_samples + 1), 1)
            self.ewa_inertia = self.ewa_inertia * (1 - alpha) + batch_inertia * alpha
        if verbose:
            print(
                f"Minibatch step {step}/{n_steps}: mean batch inertia: "
                f"{batch_inertia}, ewa inertia: {self.ewa_inertia}"
            )
        if self.tol > 0.0 and shift <= self.tol:
            if verbose:
                print(f"Converged (small centers change) at step {step}/{n_steps}")
            return True
        if self.ewa_inertia_min is None or self.ewa_inertia < self.ewa_inertia_min:
            self.no_improvement = 0
            self.ewa_inertia_min = self.ewa_inertia
        else:
            self.no_improvement += 1
        if self.max_no_improvement is not None and self.no_improvement >= self.max_no_improvement:
            if verbose:
                print(f"Converged (lack of improvement in inertia) at step {step}/{n_steps}")
            return True
        return False
