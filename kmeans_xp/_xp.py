"""Array-namespace plumbing: namespace and device, dtype policy, host RNG and host transfers.

Everything backend-specific that is not a hot kernel lives here, so that the rest of the
package is written once against the Array API standard.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "accumulation_dtype",
    "array_namespace",
    "compat_namespace",
    "count_distinct_labels",
    "device_of",
    "float_dtype",
    "from_numpy",
    "host_rng",
    "index_dtype",
    "is_lazy",
    "namespace_name",
    "persist",
    "row_blocked",
    "small_from_local",
    "small_to_local",
    "to_host",
    "to_numpy",
    "unit_weights",
    "weighted_sum",
    "without_autograd",
]


# array-api-compat's namespace of NumPy arrays
_NUMPY_NAMESPACE = array_api_compat.array_namespace(np.empty(0))

# short name -> array-api-compat's exact test of a namespace (its module or compat wrapper)
_LIBRARIES = {
    "numpy": array_api_compat.is_numpy_namespace,
    "cupy": array_api_compat.is_cupy_namespace,
    "torch": array_api_compat.is_torch_namespace,
    "dask": array_api_compat.is_dask_namespace,
    "jax": array_api_compat.is_jax_namespace,
    "array_api_strict": array_api_compat.is_array_api_strict_namespace,
}


def namespace_name(xp: Any) -> str:
    """Short name of a namespace: 'numpy', 'torch', 'cupy', 'dask', 'jax', 'array_api_strict',
    recognised by exact module name (``jax.numpy`` is JAX, not NumPy); else its ``__name__``."""
    for short, is_namespace in _LIBRARIES.items():
        if is_namespace(xp):
            return short
    return getattr(xp, "__name__", type(xp).__name__)


def array_namespace(*arrays: Any) -> Any:
    """The (array-api-compat wrapped) namespace shared by ``arrays``; ``None`` entries are skipped.

    Arrays of two different libraries are an error naming both.
    """
    present = [a for a in arrays if a is not None]
    if present and all(type(a) is np.ndarray for a in present):
        # (what array-api-compat answers for NumPy arrays, without its checks of each
        # argument: 5 us a call, 20 calls and more in a small fit)
        return _NUMPY_NAMESPACE
    try:
        return array_api_compat.array_namespace(*present)
    except TypeError:
        names = []
        for a in present:
            try:
                names.append(namespace_name(array_api_compat.array_namespace(a)))
            except TypeError:
                names.append(type(a).__name__)
        raise TypeError(
            f"arrays of different libraries were mixed: {sorted(set(names))}; "
            "pass every array from one library (convert with that library's asarray)"
        ) from None


def device_of(x: Any) -> Any:
    return array_api_compat.device(x)


def _has_float64(xp: Any, device: Any) -> bool:
    info = getattr(xp, "__array_namespace_info__", None)
    if info is None:
        return True
    try:
        return "float64" in info().dtypes(device=device, kind="real floating")
    except (TypeError, ValueError, AttributeError):
        return True


def float_dtype(xp: Any, dtype: Any, device: Any) -> Any:
    """The floating dtype k-means computes in for input of ``dtype``.

    float32 and float64 stay what they are; narrower floats (float16, bfloat16) become float32,
    on every backend (as scikit-learn does with float16: their range overflows on squared pixel
    values and their precision on sums of a few thousand rows); integers and booleans become
    float64 where the device has it (as scikit-learn does), else the namespace's default float.
    """
    if xp.isdtype(dtype, "real floating"):
        return dtype if xp.finfo(dtype).bits >= 32 else xp.float32
    if _has_float64(xp, device):
        return xp.float64
    return xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]


def accumulation_dtype(xp: Any, device: Any) -> Any:
    """float64 where the device has it, for sums across chunks (inertia, shift)."""
    return xp.float64 if _has_float64(xp, device) else xp.float32


def index_dtype(xp: Any, device: Any) -> Any:
    """int64 where the namespace has it, else its default index type (JAX's 32-bit mode: int32;
    asking JAX for int64 there warns and truncates)."""
    info = getattr(xp, "__array_namespace_info__", None)
    if info is None:
        return xp.int64
    try:
        if "int64" in info().dtypes(device=device, kind="signed integer"):
            return xp.int64
        return info().default_dtypes(device=device)["indexing"]
    except (TypeError, ValueError, AttributeError, KeyError):
        return xp.int64


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy (or view) of ``x`` on the host, whatever library it comes from."""
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_torch_array(x):
        x = x.detach().cpu()
        if x.dtype == _torch_bfloat16():  # NumPy has no bfloat16: its values, exactly
            x = x.float()
        return x.numpy()
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_dask_array(x):
        return to_numpy(x.compute())
    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        return np.from_dlpack(x)


def _torch_bfloat16() -> Any:
    import torch

    return torch.bfloat16


def without_autograd(a: Any) -> Any:
    """``a`` without its autograd history (torch tensors that require grad: a view that does
    not), so that nothing a fit keeps holds the caller's graph; other arrays as they are."""
    if getattr(a, "requires_grad", False) and type(a).__module__.startswith("torch"):
        return a.detach()
    return a


def to_host(*arrays: Any) -> tuple[np.ndarray, ...]:
    """Bring small arrays to the host in one go: the single synchronisation point of a step."""
    if arrays and _is_dask(arrays[0]):
        import dask

        arrays = dask.compute(*arrays)
    return tuple(to_numpy(a) for a in arrays)


# ---- lazy (Dask) hooks: identities for eager libraries, so the engine is written once ----
def _is_dask(a: Any) -> bool:
    # (NumPy first: the loop asks this of a few arrays every iteration)
    return not isinstance(a, np.ndarray) and array_api_compat.is_dask_array(a)


def is_lazy(a: Any) -> bool:
    """Whether ``a`` is a lazy array (Dask): operations on it build a graph, so loops over row
    chunks are left to the library's own blocks."""
    return _is_dask(a)


def persist(*arrays: Any) -> tuple[Any, ...]:
    """Lazy (Dask) arrays computed together and kept where they are (the workers' memory), so
    that later graphs start from the results instead of recomputing them; other arrays are
    returned as they are. On a ``dask.distributed`` cluster this returns at once: the values are
    waited for by the next :func:`to_host`."""
    for a in arrays:
        if _is_dask(a):
            import dask

            return tuple(dask.persist(*arrays))
    return arrays


def row_blocked(X: Any, *per_row: Any) -> tuple[Any, ...]:
    """Dask: ``X`` with all the columns of a row in one block, and the per-row arrays (shape
    (n,)) blocked like its rows and held by the same library as its blocks (the Array API's
    creation functions make NumPy blocks, also for Dask arrays of CuPy). Others: unchanged."""
    if not _is_dask(X):
        return (X, *per_row)
    X = X.rechunk({1: -1})
    return (X, *(_blocks_like(a.rechunk((X.chunks[0],)), X) for a in per_row))


def _blocks_like(a: Any, like: Any) -> Any:
    if type(a._meta) is type(like._meta):
        return a
    library = array_api_compat.array_namespace(like._meta)
    return a.map_blocks(library.asarray, meta=library.asarray(a._meta))


# NumPy's unit weights: one read-only array of ones per dtype, grown as needed and sliced, up to
# this many bytes. A fresh n-long array costs its pages' faults, on a virtual machine 0.3-0.4 ms
# a MiB: at a million rows half a Lloyd step of two features (benchmarks/README.md).
UNIT_WEIGHTS_MAX_BYTES = 32 << 20
_unit_weights: dict[np.dtype, np.ndarray] = {}


def unit_weights(xp: Any, n: int, dtype: Any, device: Any) -> Any:
    """``n`` weights of 1 (``xp.ones``). NumPy: a read-only view of ones kept from fit to fit,
    when they take at most ``UNIT_WEIGHTS_MAX_BYTES``; nothing may write to them."""
    if namespace_name(xp) != "numpy":
        return xp.ones((n,), dtype=dtype, device=device)
    dtype = np.dtype(dtype)
    ones = _unit_weights.get(dtype)
    if ones is None or ones.shape[0] < n:
        if n * dtype.itemsize > UNIT_WEIGHTS_MAX_BYTES:
            return np.ones(n, dtype=dtype)
        ones = np.ones(n, dtype=dtype)
        ones.flags.writeable = False
        _unit_weights[dtype] = ones
    return ones[:n]


# NumPy sums a weighted product this many rows at a time (a multiple of NumPy's 8192-element
# casting buffer), in a block-sized buffer rather than an n-long product
_SUM_BLOCK = 1 << 14


def weighted_sum(xp: Any, values: Any, w: Any, acc: Any) -> Any:
    """``sum(values * w)`` accumulated in ``acc``, a 0-d array. NumPy: a block of rows at a
    time, so that no n-long product takes fresh pages (see ``UNIT_WEIGHTS_MAX_BYTES``)."""
    n = values.shape[0]
    if not isinstance(values, np.ndarray) or n <= _SUM_BLOCK:
        return xp.sum(values * w, dtype=acc)
    part = np.empty(_SUM_BLOCK, dtype=np.result_type(values, w))
    total = np.zeros((), dtype=acc)
    for start in range(0, n, _SUM_BLOCK):
        stop = min(start + _SUM_BLOCK, n)
        np.multiply(values[start:stop], w[start:stop], out=part[: stop - start])
        total += np.add.reduce(part[: stop - start], dtype=acc)
    return total


def count_distinct_labels(labels: Any, n_clusters: int) -> int:
    """How many of the ``n_clusters`` labels occur in ``labels``, on the host (NumPy and JAX:
    one counting pass; Dask: one compute, every block reduced by its own library where it lives, so
    only distinct values travel)."""
    if isinstance(labels, np.ndarray):  # a counting pass instead of unique's hash or sort
        return int(np.count_nonzero(np.bincount(labels, minlength=n_clusters)))
    if _is_dask(labels):
        import dask

        per_block = labels.map_blocks(
            _block_unique,
            chunks=((np.nan,) * labels.numblocks[0],),
            dtype=labels.dtype,
            meta=labels._meta,
        )
        (values,) = dask.compute(per_block)
        return int(np.unique(to_numpy(values)).shape[0])
    xp = array_namespace(labels)
    if namespace_name(xp) == "jax":  # unique_values syncs on its data-dependent shape: slow
        return int(_jax_count_distinct()(labels, n_clusters))
    return int(xp.unique_values(labels).shape[0])


@functools.cache
def _jax_count_distinct() -> Any:
    """``(labels, n_clusters) -> count``, one compiled program (eagerly, a few dispatches)."""
    import jax
    import jax.numpy as jnp

    def count(labels: Any, n_clusters: int) -> Any:
        return jnp.count_nonzero(jnp.bincount(labels, length=n_clusters))

    return jax.jit(count, static_argnums=1)


def _block_unique(block: Any) -> Any:
    return array_api_compat.array_namespace(block).unique_values(block)


def small_to_local(*arrays: Any) -> tuple[Any, ...]:
    """Small lazy arrays (a few times k x d) computed, in one pass, into arrays of their blocks'
    library (NumPy or CuPy) so that a sequential algorithm runs on them in one process; arrays
    of eager libraries are returned as they are (they stay on their device)."""
    if arrays and _is_dask(arrays[0]):
        import dask

        return tuple(dask.compute(*arrays))
    return arrays


def small_from_local(a: Any, like: Any) -> Any:
    """``a`` (from :func:`small_to_local`) back in the namespace of ``like``: a one-block Dask
    array when ``like`` is a Dask array, ``a`` itself otherwise."""
    if _is_dask(like) and not _is_dask(a):
        import dask.array as da

        return da.from_array(a, chunks=a.shape, asarray=False)
    return a


def compat_namespace(xp: Any) -> Any:
    """The array-api-compat namespace for a library module (``torch``, ``numpy``, ...)."""
    return array_api_compat.array_namespace(xp.asarray(0))


def from_numpy(a: Any, xp: Any, device: Any, dtype: Any = None) -> Any:
    """``a`` (host data) as an array of ``xp`` on ``device``."""
    a = np.asarray(a)
    xp = compat_namespace(xp)
    if namespace_name(xp) == "dask":
        import dask.array as da

        a = a if dtype is None else a.astype(_numpy_dtype(dtype))
        if device not in (None, "cpu"):  # what a Dask array of CuPy blocks reports
            import cupy

            return da.from_array(cupy.asarray(a), chunks=a.shape, asarray=False)
        return da.from_array(a)
    return xp.asarray(a, dtype=dtype, device=device)


def _numpy_dtype(dtype: Any) -> np.dtype:
    try:  # Dask's dtypes are NumPy's (np.float64 is a type, whose str() is "<class ...>")
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype).rsplit(".", 1)[-1])


def host_rng(random_state: Any) -> np.random.Generator:
    """A NumPy Generator from ``random_state`` (None, int, Generator or RandomState).

    All random decisions are drawn on the host, so one seed gives one clustering everywhere.
    """
    if random_state is None or isinstance(random_state, (numbers.Integral, np.integer)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    raise ValueError(
        f"random_state must be None, an int, a numpy Generator or RandomState; got {random_state!r}"
    )
