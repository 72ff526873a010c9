"""Native fast paths for JAX arrays: the Lloyd step as one jit-compiled XLA program.

XLA fuses what the portable kernels do in separate passes (the score epilogue, the argmin, the
distances, the per-cluster sums). All rows are taken at once when the loop's memory budget holds
their temporaries (``step_bytes_per_row``); otherwise ``lax.scan`` runs over equal chunks plus
one remainder chunk. The shapes stay static: a program is compiled once per (n, d, k, dtype,
chunk) and reused by every step of every fit of that shape. The results are JAX arrays on X's
device. Nothing here synchronises with the device.

The accumulation dtype is float64 only in JAX's 64-bit mode (``jax_enable_x64``); in the default
32-bit mode labels are int32 and everything else float32, as JAX has no wider types there.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from .portable import Step, cluster_means

# Rows per chunk of the scan when the loop's memory budget does not hold all rows at once (one
# chunk has no loop, which XLA spreads over the cores; it runs a loop's body on one): a chunk's
# scores and differences stay in cache (benchmarks/README.md)
SCAN_ROWS = 1024


def free_memory(X: Any) -> int | None:
    """Bytes still free on X's accelerator, when the device reports it; ``None`` on the CPU."""
    device = next(iter(X.devices()))
    if device.platform == "cpu":
        return None
    stats = device.memory_stats() or {}
    if "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))


def _acc_dtype() -> Any:
    """float64 in JAX's 64-bit mode, float32 otherwise."""
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


def _center_sq(C):
    """||c||^2 rounded as NumPy and torch round it (each square rounded, then summed left to
    right): fused, XLA's CPU code turns the products and the sum into fused multiply-adds, which
    differ in the last bit and flip exact ties (lowest index wins). A loop body only adds, so
    nothing can be fused into it; it costs microseconds even at d=784."""
    sq = C * C
    total = jnp.zeros(C.shape[0], C.dtype)
    column = functools.partial(lax.dynamic_index_in_dim, sq, axis=1, keepdims=False)
    return lax.fori_loop(0, C.shape[1], lambda j, acc: acc + column(j), total)


def _scores(rows, C, c_sq):
    """||c||^2 - 2 x.c for every row and centre: the squared distance less ||x||^2."""
    return c_sq - 2.0 * (rows @ C.T)


def _chunk(rows, C, c_sq):
    """Labels (lowest index among equal scores) and exact squared distances of ``rows``: the
    sum of (x - c)^2 to the chosen centre, as ``portable.assign`` computes it."""
    labels = jnp.argmin(_scores(rows, C, c_sq), axis=1)
    if _by_onehot(C.shape[0], C.shape[1]):  # (exact: every product but one is by zero)
        chosen = _onehot(labels, C.shape[0], C.dtype) @ C
    else:
        chosen = jnp.take(C, labels, axis=0)
    diff = rows - chosen
    return labels, jnp.sum(diff * diff, axis=1)


def _chunk_step(rows, w, x_sq, C, c_sq):
    """Labels of ``rows``, the weighted sum of their squared distances (in the accumulation
    dtype) and the per-cluster sums (see :func:`_chunk_sums`). The distances are the best
    score plus ||x||^2, rounded as the NumPy step's are: the loop needs no exact per-row
    distance, and gathering each row's centre cost up to five times the product (d=784)."""
    scores = _scores(rows, C, c_sq)
    labels = jnp.argmin(scores, axis=1)
    sqdist = jnp.maximum(jnp.min(scores, axis=1) + x_sq, 0.0)
    inertia = jnp.sum(sqdist.astype(_acc_dtype()) * w)
    return labels, inertia, _chunk_sums(rows, w, labels, C.shape[0])


def _chunk_sums(rows, w, labels, k: int):
    """Weighted sum of the rows of each cluster (k x d) and each cluster's weight (k,)."""
    if _by_onehot(k, rows.shape[1]):
        onehot = _onehot(labels, k, rows.dtype) * w[:, None]
        return onehot.T @ rows, jnp.sum(onehot, axis=0)
    sums = jax.ops.segment_sum(rows * w[:, None], labels, num_segments=k)
    return sums, jax.ops.segment_sum(w, labels, num_segments=k)


def _by_onehot(k: int, d: int) -> bool:
    """Whether rows meet their centres through a one-hot (rows x k) product rather than a
    gather or a scatter-add: where k <= d / 8, its k multiply-adds per value beat XLA's
    serial gather and scatter on the CPU (benchmarks/README.md)."""
    return k <= d // 8


def _onehot(labels, k: int, dtype):
    return (labels[:, None] == jnp.arange(k)).astype(dtype)


def _scan_rows(per_row: tuple, chunk: int, body, carry):
    """``body(carry, *chunks) -> (carry, outputs)`` over the arrays of ``per_row`` (all of the
    same length n) in equal chunks of ``chunk`` rows, then one remainder chunk: the shapes stay
    static, so n only sets how many chunks. Returns the final carry and the per-row outputs,
    whole."""
    n = per_row[0].shape[0]
    full = n // chunk * chunk
    outputs = None
    if full == n == chunk:  # one chunk: no loop, so that XLA may spread it over the cores
        return body(carry, *per_row)
    if full:
        blocks = tuple(a[:full].reshape((-1, chunk, *a.shape[1:])) for a in per_row)
        carry, outputs = lax.scan(lambda c, xs: body(c, *xs), carry, blocks)
        outputs = tuple(a.reshape((full, *a.shape[2:])) for a in outputs)
    if full < n:
        carry, tail = body(carry, *(a[full:] for a in per_row))
        outputs = tail if outputs is None else tuple(map(jnp.concatenate, zip(outputs, tail)))
    return carry, outputs


def step_bytes_per_row(k: int, d: int, itemsize: int) -> int:
    """Bytes the step or ``assign`` allocates per row: its k scores, its difference to its
    centre or its weighted values (d), and its one-hot row (k)."""
    return (2 * k + d) * itemsize


def _scan_chunk(n: int, chunk_rows: int) -> int:
    """Rows per chunk: all of them when the loop's budget holds them, else ``SCAN_ROWS``."""
    return n if n <= chunk_rows else max(1, min(chunk_rows, SCAN_ROWS))


def _zero_sums(X, k: int) -> tuple[Any, Any]:
    return jnp.zeros((k, X.shape[1]), X.dtype), jnp.zeros((k,), X.dtype)


@functools.partial(jax.jit, static_argnames=("chunk",))
def _assign(X, C, *, chunk: int):
    c_sq = _center_sq(C)
    _, (labels, sqdist) = _scan_rows((X,), chunk, lambda c, rows: (c, _chunk(rows, C, c_sq)), ())
    return labels, sqdist


@functools.partial(jax.jit, static_argnames=("chunk", "first"))
def _step(X, C, w, x_sq, prev_labels, *, chunk: int, first: bool):
    k = C.shape[0]
    acc = _acc_dtype()
    c_sq = _center_sq(C)

    def body(carry, rows, row_w, row_sq):
        labels, inertia, (sums, weights) = _chunk_step(rows, row_w, row_sq, C, c_sq)
        return (carry[0] + sums, carry[1] + weights, carry[2] + inertia), (labels,)

    start = (*_zero_sums(X, k), jnp.zeros((), acc))
    (sums, weights, inertia), (labels,) = _scan_rows((X, w, x_sq), chunk, body, start)
    if first:
        n_changed = jnp.asarray(X.shape[0], dtype=acc)
    else:
        n_changed = jnp.sum(((labels != prev_labels) & (w > 0)).astype(acc))
    return labels, sums, weights, inertia, n_changed


@jax.jit
def _row_sq(X):
    return jnp.sum(X * X, axis=1)


def make_workspace(X: Any, w: Any, k: int, chunk_rows: int) -> Any:
    """What a run's steps share (see ``contract.make_workspace``): ||x||^2 of every row, read
    once per run instead of once per step (0.4 ms of a 2.1-2.5 ms step at 100k x 16, 5-6 ms
    of 30-33 ms at 60k x 784, on a 2-core CPU)."""
    return _row_sq(X)


def assign(X: Any, C: Any, *, chunk_rows: int, workspace: Any = None) -> tuple[Any, Any]:
    """Nearest centre of every row of ``X`` and the exact squared distance to it (``workspace``
    is not needed: the distances are computed explicitly)."""
    return _assign(X, C, chunk=_scan_chunk(X.shape[0], chunk_rows))


def lloyd_step(
    X: Any, C: Any, w: Any, *, chunk_rows: int, prev_labels: Any = None, workspace: Any = None
) -> Step:
    """Assignment, per-cluster sums, inertia and changed labels in one compiled program (see
    :class:`contract.Step`); ``workspace``: the run's row norms (:func:`make_workspace`)."""
    first = prev_labels is None
    out = _step(
        X,
        C,
        w,
        _row_sq(X) if workspace is None else workspace,
        jnp.zeros((), jnp.int32) if first else prev_labels,
        chunk=_scan_chunk(X.shape[0], chunk_rows),
        first=first,
    )
    labels, sums, weights, inertia, n_changed = out
    return Step(labels, None, sums, weights, inertia, n_changed)


@jax.jit
def _update(sums, weights, n_changed, inertia, centers):
    acc = n_changed.dtype
    new = cluster_means(jnp, sums, weights, centers)
    diff = (new - centers).astype(acc)
    n_empty = jnp.sum((weights <= 0).astype(acc))
    return new, jnp.stack([n_changed, n_empty, inertia.astype(acc), jnp.sum(diff * diff)])


def center_update(step: Step, centers: Any) -> tuple[Any, Any]:
    """The centres after ``step`` and its statistics, as ``portable.center_update``, compiled
    into one program instead of a dozen dispatched operations."""
    return _update(step.sums, step.weights, step.n_changed, step.inertia, centers)
