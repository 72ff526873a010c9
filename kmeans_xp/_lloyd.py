"""Lloyd's loop: assign -> update -> relocate empty clusters -> convergence, with history.

Works on X as the fit prepared it (centred when its mean is far from 0), in the input's
namespace and on its device. One host synchronisation per
iteration brings four numbers back (labels changed, empty clusters, inertia, centre shift); a
second one happens only in the rare iterations that leave a cluster empty. Each step is handed
the previous step's labels (to count the changes) and, where the backend keeps one, the run's
workspace (see ``_kernels/contract.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._kernels.portable import cluster_means, sq_shift
from ._xp import (
    accumulation_dtype,
    array_namespace,
    device_of,
    from_numpy,
    persist,
    to_host,
    weighted_sum,
)

STRICT = "strict"  # labels did not change
TOL = "tol"  # squared centre shift within tolerance
MAX_ITER = "max_iter"  # ran out of iterations


@dataclass(frozen=True)
class IterationInfo:
    """What a ``callback`` receives after every Lloyd iteration.

    ``labels`` is the assignment made in this iteration (to the previous centres), ``inertia``
    its weighted sum of squared distances (as the step computes it: up to float rounding; the
    fit's ``inertia_`` comes from exact distances), ``centers`` the updated centres (the means
    of those labels, empty clusters relocated) and ``center_shift`` the squared distance they
    moved. Arrays are in the caller's namespace, on the caller's device.
    """

    iteration: int
    centers: Any
    labels: Any
    inertia: float
    center_shift: float
    n_changed: int


@dataclass(frozen=True)
class LloydResult:
    centers: Any
    labels: Any
    inertia: float
    n_iter: int
    stop_reason: str


def lloyd(
    X: Any,
    centers: Any,
    sample_weight: Any,
    *,
    max_iter: int,
    tol: float,
    kernels: Any,
    chunk_rows: int,
    verbose: int = 0,
    callback: Callable[[IterationInfo], Any] | None = None,
    offset: Any = None,
) -> LloydResult:
    """Run Lloyd's algorithm from ``centers`` on ``X`` (as the fit prepared it).

    ``tol`` is absolute here: the loop stops when the squared centre shift is <= tol.
    ``offset`` (the mean removed from X) is added back to the centres handed to ``callback``.
    """
    xp = array_namespace(X)
    acc = accumulation_dtype(xp, device_of(X))
    # created once per run, handed to every step and to the last assignment (see the contract)
    per_run = kernels.workspace_for(X, sample_weight, centers.shape[0], chunk_rows)
    labels = None
    stop_reason = MAX_ITER

    for iteration in range(1, max_iter + 1):
        centers, labels, stats = _iteration(
            X, centers, sample_weight, labels, kernels, chunk_rows, per_run, xp, acc
        )
        n_changed, n_empty, inertia, shift = stats

        if verbose:
            print(
                f"Iteration {iteration}, inertia {inertia:.6g}, center shift {shift:.6g}, "
                f"{n_changed} labels changed."
            )
        if callback is not None:
            shown = centers if offset is None else centers + offset
            callback(IterationInfo(iteration, shown, labels, float(inertia), shift, n_changed))

        if n_changed == 0 and n_empty == 0:
            stop_reason = STRICT
            break
        if shift <= tol:
            stop_reason = TOL
            break

    # One last assignment to the final centres: when the centres moved after the last step it
    # relabels, so that labels_ matches the centres; after a strict stop it reproduces the
    # labels (the centres are the same). Either way inertia_ comes from the exact distances
    # (a native step may return them rounded, or none).
    labels, sqdist = kernels.assign(X, centers, chunk_rows=chunk_rows, **per_run)
    labels, inertia = persist(labels, weighted_sum(xp, sqdist, sample_weight, acc))
    (inertia,) = to_host(inertia)
    inertia = float(inertia)
    if verbose:
        print(_stop_message(stop_reason, iteration, shift, tol))
    return LloydResult(centers, labels, inertia, iteration, stop_reason)


def _iteration(
    X: Any,
    centers: Any,
    sample_weight: Any,
    prev_labels: Any,
    kernels: Any,
    chunk_rows: int,
    per_run: dict[str, Any],
    xp: Any,
    acc: Any,
) -> tuple[Any, Any, tuple[int, int, float, float]]:
    """One Lloyd iteration: (new centres, labels, (labels changed, empty clusters, inertia,
    centre shift)). Its own function so that the step, with its per-row distances, is freed
    before the next one allocates its own."""
    step = kernels.lloyd_step(
        X, centers, sample_weight, chunk_rows=chunk_rows, prev_labels=prev_labels, **per_run
    )
    new_centers, stats = kernels.center_update(step, centers)
    # lazy state is materialised in the same pass that yields the statistics, so the next
    # iteration starts from it (Dask: one graph execution per iteration; eager: no-op)
    stats, new_centers, labels, sums, weights = persist(
        stats, new_centers, step.labels, step.sums, step.weights
    )
    del step
    (stats,) = to_host(stats)
    n_changed, n_empty, inertia, shift = int(stats[0]), int(stats[1]), stats[2], stats[3]
    if n_empty:
        # exact distances to the old centres (a native step may round them); rare path
        _, sqdist = kernels.assign(X, centers, chunk_rows=chunk_rows, **per_run)
        new_centers = relocate_empty_clusters(
            X, sample_weight, labels, sqdist, sums, weights, centers, n_empty
        )
        del sqdist
        new_centers, shift = persist(new_centers, sq_shift(xp, new_centers, centers, acc))
        (shift,) = to_host(shift)
    return new_centers, labels, (n_changed, n_empty, inertia, float(shift))


def _stop_message(reason: str, iteration: int, shift: float, tol: float) -> str:
    # scikit-learn's wording, which users' log parsers match
    if reason == STRICT:
        return f"Converged at iteration {iteration}: strict convergence."
    if reason == TOL:
        return (
            f"Converged at iteration {iteration}: center shift {shift:.6g} "
            f"within tolerance {tol:.6g}."
        )
    return f"Stopped at max_iter={iteration} without converging (center shift {shift:.6g})."


def relocate_empty_clusters(
    X: Any,
    sample_weight: Any,
    labels: Any,
    sqdist: Any,
    sums: Any,
    weights: Any,
    centers: Any,
    n_empty: int,
) -> Any:
    """New centres with every empty cluster moved onto one of the points farthest from their
    centres (as scikit-learn does): the point leaves its cluster's sum, with its weight, and
    becomes the empty cluster's centre. Only rows of positive weight and positive distance
    qualify (a weightless row would leave the cluster empty; a row sitting on its centre would
    only duplicate that centre); clusters left without a candidate stay where they are.
    Functional updates only (no in-place writes)."""
    xp = array_namespace(X)
    dev = device_of(X)
    k = centers.shape[0]
    candidates = xp.where(
        sample_weight > 0, sqdist, xp.asarray(0.0, dtype=sqdist.dtype, device=dev)
    )
    far = xp.argsort(candidates, descending=True, stable=True)[:n_empty]
    host_weights, far_sqdist = to_host(weights, xp.take(candidates, far))
    n_moved = int(np.count_nonzero(far_sqdist > 0))
    empty_ids = np.flatnonzero(host_weights <= 0)[:n_moved]
    if n_moved == 0:
        return cluster_means(xp, sums, weights, centers)
    far = far[:n_moved]
    points = xp.take(X, far, axis=0)
    point_w = xp.take(sample_weight, far)
    cluster_ids = from_numpy(np.arange(k), xp, dev, dtype=labels.dtype)  # Dask: CuPy blocks too
    leaves = xp.astype(xp.take(labels, far)[:, None] == cluster_ids, X.dtype)  # (m, k)
    sums = sums - leaves.T @ (points * point_w[:, None])
    weights = weights - leaves.T @ point_w
    centers = cluster_means(xp, sums, weights, centers)
    joins = np.zeros((len(empty_ids), k), dtype=bool)
    joins[np.arange(len(empty_ids)), empty_ids] = True
    joins = from_numpy(joins, xp, dev)
    relocated = xp.any(joins, axis=0)
    return xp.where(relocated[:, None], xp.astype(joins, X.dtype).T @ points, centers)
