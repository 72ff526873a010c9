"""The contract between Lloyd's loop and a backend's kernels, written once.

A backend is one module (``numpy.py``, ``torch.py``, ...) registered in ``_kernels/__init__.py``.
It defines any of the names below, with these signatures; whatever it leaves out comes from
``portable`` (operations) or from the defaults in this module (hooks). Every array argument and
result is an array of the backend's library on X's device; ``X`` is (n, d) floating, ``C`` (k, d)
of X's dtype, ``w`` (n,) of X's dtype.

Operations (the loop calls these):

- ``assign(X, C, *, chunk_rows) -> (labels, sqdist)``: the nearest centre of every row (int64,
  among equal distances the lowest index) and the exact squared distance to it (X's dtype,
  never negative). Used by predict, score, the initialisations and the loop's last pass.
- ``lloyd_step(X, C, w, *, chunk_rows, prev_labels=None) -> Step``: one assignment fused with
  the per-cluster sums (see :class:`Step`).
- ``center_update(step, C) -> (new_C, stats)``: the means of the step's clusters (an empty
  cluster keeps its centre) and ``stats``, a 1-D array of the accumulation dtype holding, in this
  order, the labels changed, the empty clusters, the inertia and the squared shift of the centres
  (``STATS``): the four numbers the loop brings to the host in its one transfer per iteration.
- ``seeding_trials(X, x_sq, C, closest, w, *, chunk_rows, keep) -> (potentials, dist)``:
  k-means++'s trials of candidate centres (``C``, m rows of X, X's dtype). ``X`` holds X's
  values (X itself, or its copy in the accumulation dtype where ``seeding_widens`` asks for
  one), ``x_sq`` (n,) the rows' squared norms and ``w`` (n,) the weights, both of the
  accumulation dtype; ``closest`` (n,) of C's dtype is each row's squared distance to the
  nearest centre so far (None before the first). ``potentials`` (m,), of the accumulation
  dtype: per candidate, the sum of ``w`` times the smaller of ``closest`` and the squared
  distance to it, both computed in the accumulation dtype from X's values, so that every
  backend draws the same rows; ``dist`` (m, n), of C's dtype: those minima (None unless
  ``keep``).

Hooks (optional):

- ``make_workspace(X, w, k, chunk_rows) -> workspace``: what a backend keeps from one step to
  the next of one run of the loop (buffers, a transposed copy of X, the last sums). The loop
  calls it once per run and hands the object, as ``workspace=``, to every ``lloyd_step`` and
  ``assign`` of that run on that X, in order; ``prev_labels`` is then always the labels of the
  step before. Only a backend that defines this hook receives ``workspace=``.
- ``step_bytes_per_row(k, d, itemsize) -> int``: bytes a step allocates per row of a chunk;
  chunk sizing divides the memory budget by it.
- ``free_memory(X) -> int | None``: bytes still free on X's device (None: only the budget
  sizes the chunks).
- ``fit_context(X, k) -> context manager``: entered around a whole fit of X with k clusters.
- ``seeding_widens(X) -> bool``: whether k-means++ hands ``seeding_trials`` a copy of X in the
  accumulation dtype (when its budget allows; the default) rather than X itself, which a
  backend that widens as it reads prefers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

# the order of the statistics in ``center_update``'s second result
STATS = ("n_changed", "n_empty", "inertia", "center_shift")


@dataclass(frozen=True)
class Step:
    """What ``lloyd_step`` returns, every array on X's device.

    ``labels`` (n,) int64: the nearest centre of every row, ties to the lowest index.
    ``sqdist`` (n,) X's dtype or None: the squared distance to it where the step has it (a
    native step may round it or skip it; the loop never needs it: ``assign`` gives exact ones).
    ``sums`` (k, d) and ``weights`` (k,), X's dtype: per cluster the weighted sum of its rows and
    its total weight (exactly 0 for an empty cluster).
    ``inertia`` and ``n_changed``: 0-d arrays of the accumulation dtype: the weighted sum of the
    squared distances (up to rounding) and the rows of positive weight whose label differs from
    ``prev_labels`` (every row when there were none).
    """

    labels: Any
    sqdist: Any
    sums: Any
    weights: Any
    inertia: Any
    n_changed: Any


class Assign(Protocol):
    def __call__(self, X: Any, C: Any, *, chunk_rows: int) -> tuple[Any, Any]: ...


class LloydStep(Protocol):
    def __call__(
        self, X: Any, C: Any, w: Any, *, chunk_rows: int, prev_labels: Any = None
    ) -> Step: ...


class CenterUpdate(Protocol):
    def __call__(self, step: Step, centers: Any) -> tuple[Any, Any]: ...


class MakeWorkspace(Protocol):
    def __call__(self, X: Any, w: Any, k: int, chunk_rows: int) -> Any: ...


class StepBytesPerRow(Protocol):
    def __call__(self, k: int, d: int, itemsize: int) -> int: ...


class FreeMemory(Protocol):
    def __call__(self, X: Any) -> int | None: ...


class FitContext(Protocol):
    def __call__(self, X: Any, k: int) -> AbstractContextManager: ...


class SeedingTrials(Protocol):
    def __call__(
        self, X: Any, x_sq: Any, C: Any, closest: Any, w: Any, *, chunk_rows: int, keep: bool
    ) -> tuple[Any, Any]: ...


class SeedingWidens(Protocol):
    def __call__(self, X: Any) -> bool: ...


OPERATIONS = ("assign", "lloyd_step", "center_update", "seeding_trials")
HOOKS = ("make_workspace", "step_bytes_per_row", "free_memory", "fit_context", "seeding_widens")


@dataclass
class Kernels:
    """The operations and hooks for one library, as dispatch assembled them."""

    name: str  # the backend module's name, or "portable"
    assign: Assign
    lloyd_step: LloydStep
    center_update: CenterUpdate
    make_workspace: MakeWorkspace | None  # None: the backend keeps nothing between steps
    step_bytes_per_row: StepBytesPerRow
    free_memory: FreeMemory
    fit_context: FitContext
    seeding_trials: SeedingTrials
    seeding_widens: SeedingWidens

    def chunk_rows(self, X: Any, k: int, working_memory: int) -> int:
        """Rows per chunk for steps on X with k centres within ``working_memory`` bytes (and
        half of the device's free memory where the backend reports it)."""
        n, d = X.shape
        itemsize = _itemsize(X)
        per_row = self.step_bytes_per_row(k, d, itemsize)
        return chunk_rows(n, k, d, itemsize, working_memory, self.free_memory(X), per_row)

    def workspace_for(self, X: Any, w: Any, k: int, chunk_rows: int) -> dict[str, Any]:
        """The keyword arguments that hand a run's workspace to its steps: ``{}`` when the
        backend keeps none."""
        if self.make_workspace is None:
            return {}
        return {"workspace": self.make_workspace(X, w, k, chunk_rows)}


def chunk_rows(
    n_samples: int,
    n_clusters: int,
    n_features: int,
    itemsize: int,
    working_memory: int,
    free_memory: int | None = None,
    bytes_per_row: int | None = None,
) -> int:
    """Rows per chunk so that a chunk's temporaries (``bytes_per_row`` a row; by default the
    portable step's, see :func:`portable_step_bytes_per_row`) fit in ``working_memory`` bytes,
    and in half of ``free_memory`` (bytes still free on an accelerator) when given; never fewer
    than one row or more than ``n_samples``."""
    if free_memory is not None:
        working_memory = min(working_memory, free_memory // 2)
    if bytes_per_row is None:
        bytes_per_row = portable_step_bytes_per_row(n_clusters, n_features, itemsize)
    return int(max(1, min(n_samples, working_memory // max(1, bytes_per_row))))


def _itemsize(X: Any) -> int:
    size = getattr(X.dtype, "itemsize", None)  # NumPy, CuPy, torch, Dask, JAX
    if size is None:  # dtypes without it (array-api-strict's)
        from .._xp import array_namespace

        size = array_namespace(X).finfo(X.dtype).bits // 8
    return int(size)


def portable_step_bytes_per_row(k: int, d: int, itemsize: int) -> int:
    """The portable step's temporaries per row of a chunk: the scores and the one-hot block
    (k each) and the row differences (d), with slack for their intermediate copies."""
    return 3 * (k + d) * itemsize


def no_free_memory_limit(X: Any) -> None:
    """Host memory: only the working-memory budget sizes the chunks."""
    return None


def no_fit_context(X: Any, k: int) -> AbstractContextManager:
    """Nothing to set up around a fit."""
    return contextlib.nullcontext()


def seeding_widens_where_it_fits(X: Any) -> bool:
    """k-means++ reads a copy of X in the accumulation dtype where its budget allows: each
    pass would otherwise widen every chunk anew."""
    return True


DEFAULT_HOOKS: dict[str, Callable[..., Any] | None] = {
    "make_workspace": None,
    "step_bytes_per_row": portable_step_bytes_per_row,
    "free_memory": no_free_memory_limit,
    "fit_context": no_fit_context,
    "seeding_widens": seeding_widens_where_it_fits,
}
