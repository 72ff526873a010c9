"""NumPy backend: the contract's operations on cache-sized row blocks, on all cores.

The step itself is in ``numpy_step`` (the loop over row ranges and blocks, and the choice of
path), one block's work in ``numpy_blocks``, Hamerly's bounds in ``numpy_bounds``, the worker
threads in ``numpy_threads``, the work arrays kept from run to run in ``numpy_pool`` and the
compiled loop of few clusters and features in ``numpy_fused``. This module is what dispatch
sees: a run's workspace, ``assign``, ``lloyd_step``, ``center_update`` and k-means++'s
``seeding_trials``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import numpy_fused, portable
from .contract import Step
from .numpy_step import Layout, StepState
from .numpy_step import assign as _assign
from .numpy_step import step as _step
from .numpy_threads import fit_context

__all__ = [
    "Workspace",
    "assign",
    "center_update",
    "fit_context",
    "lloyd_step",
    "make_workspace",
    "seeding_trials",
    "seeding_widens",
]


class Workspace:
    """What one run of the loop keeps from step to step (see ``contract.make_workspace``): how
    its steps pass over X (buffers, the transposed copy or the row norms) and the last step's
    state."""

    def __init__(self, X: np.ndarray, k: int, chunk_rows: int):
        self.layout = Layout(X, k, chunk_rows)
        self.last: StepState | None = None


def make_workspace(X: Any, w: Any, k: int, chunk_rows: int) -> Workspace:
    """An empty workspace for a run of steps on X with k centres."""
    return Workspace(X, k, chunk_rows)


def assign(
    X: Any, C: Any, *, chunk_rows: int, workspace: Workspace | None = None
) -> tuple[Any, Any]:
    """Nearest centre of every row and the exact squared distance to it (as ``portable``);
    with a run's ``workspace``, through its layout (X transposed, buffers)."""
    if workspace is None:
        return _assign(Layout(X, C.shape[0], chunk_rows), C)
    return _assign(workspace.layout, C, workspace.last)


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
    norms and X transposed are made on the first step and reused, and once few rows change
    cluster the sums are the last step's updated by those rows (see ``numpy_step``)."""
    if workspace is None:
        return _step(Layout(X, C.shape[0], chunk_rows), C, w, prev_labels, None)[0]
    result, workspace.last = _step(workspace.layout, C, w, prev_labels, workspace.last)
    return result


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


def seeding_trials(
    X: Any, x_sq: Any, C: Any, closest: Any, w: Any, *, chunk_rows: int, keep: bool
) -> tuple[Any, Any]:
    """k-means++'s trials (as ``portable``'s): in the compiled loop where it reads X as it is,
    in one pass over the rows on every worker thread, widening as it reads."""
    if numpy_fused.seeding_applies(X, C):
        return numpy_fused.seeding_trials(X, x_sq, C, closest, w, keep)
    return portable.seeding_trials(X, x_sq, C, closest, w, chunk_rows=chunk_rows, keep=keep)


def seeding_widens(X: Any) -> bool:
    """No copy of X in float64 for k-means++ where the compiled loop reads X itself."""
    return not numpy_fused.applies(X)
