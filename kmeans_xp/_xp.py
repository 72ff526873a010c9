"""Array-namespace plumbing: namespace and device, dtype policy, host RNG and host transfers.

Everything backend-specific that is not a hot kernel lives here, so that the rest of the
package is written once against the Array API standard.
"""

from __future__ import annotations

import numbers
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "accumulation_dtype",
    "array_namespace",
    "compat_namespace",
    "device_of",
    "float_dtype",
    "from_numpy",
    "host_rng",
    "is_lazy",
    "namespace_name",
    "to_host",
    "to_numpy",
]


def namespace_name(xp: Any) -> str:
    """Short name of a namespace: 'numpy', 'torch', 'cupy', 'dask', 'jax', 'array_api_strict'..."""
    name = getattr(xp, "__name__", type(xp).__name__)
    for short in ("numpy", "cupy", "torch", "dask", "jax", "array_api_strict"):
        if short in name:
            return short
    return name


def array_namespace(*arrays: Any) -> Any:
    """The (array-api-compat wrapped) namespace shared by ``arrays``; ``None`` entries are skipped.

    Arrays of two different libraries are an error naming both.
    """
    present = [a for a in arrays if a is not None]
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


def is_lazy(xp: Any) -> bool:
    """True for namespaces whose arrays are evaluated lazily (Dask, JAX)."""
    return namespace_name(xp) in ("dask", "jax")


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

    Real floating types stay what they are; integers and booleans become float64 where the
    device has it (as scikit-learn does), else the namespace's default float.
    """
    if xp.isdtype(dtype, "real floating"):
        return dtype
    if _has_float64(xp, device):
        return xp.float64
    return xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]


def accumulation_dtype(xp: Any, device: Any) -> Any:
    """float64 where the device has it, for sums across chunks (inertia, shift)."""
    return xp.float64 if _has_float64(xp, device) else xp.float32


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy (or view) of ``x`` on the host, whatever library it comes from."""
    if isinstance(x, np.ndarray):
        return x
    module = type(x).__module__
    if module.startswith("torch"):
        return x.detach().cpu().numpy()
    if module.startswith("cupy"):
        return x.get()
    if module.startswith("dask"):
        return to_numpy(x.compute())
    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        return np.from_dlpack(x)


def to_host(*arrays: Any) -> tuple[np.ndarray, ...]:
    """Bring small arrays to the host in one go: the single synchronisation point of a step."""
    if arrays and type(arrays[0]).__module__.startswith("dask"):
        import dask

        arrays = dask.compute(*arrays)
    return tuple(to_numpy(a) for a in arrays)


def compat_namespace(xp: Any) -> Any:
    """The array-api-compat namespace for a library module (``torch``, ``numpy``, ...)."""
    return array_api_compat.array_namespace(xp.asarray(0))


def from_numpy(a: Any, xp: Any, device: Any, dtype: Any = None) -> Any:
    """``a`` (host data) as an array of ``xp`` on ``device``."""
    a = np.asarray(a)
    xp = compat_namespace(xp)
    if namespace_name(xp) == "dask":
        import dask.array as da

        return da.from_array(a if dtype is None else a.astype(_numpy_dtype(dtype)))
    return xp.asarray(a, dtype=dtype, device=device)


def _numpy_dtype(dtype: Any) -> np.dtype:
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
