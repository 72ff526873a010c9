"""Backends under test, data conversion helpers and hypothesis profiles.

Tests build inputs and expected values in NumPy and convert them once with ``backend.asarray``;
only the code under test runs on ``backend.xp``.
"""

from __future__ import annotations

import os

# scikit-learn's array API dispatch needs SciPy's array API mode, which SciPy reads once, when
# it is first imported: set it before anything (scikit-learn included) imports SciPy.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import contextlib
import functools
import importlib.util
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from kmeans_xp._xp import compat_namespace, to_numpy

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "gpu",
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.load_profile(os.environ.get("KMEANS_XP_HYPOTHESIS_PROFILE", "ci"))


@dataclass(frozen=True)
class Backend:
    """One array library on one device, as the tests see it."""

    name: str
    xp: Any
    device: Any = None
    x64: bool = False  # JAX: run with jax_enable_x64 (64-bit dtypes exist)

    def mode(self) -> contextlib.AbstractContextManager:
        """The context this backend's arrays are made and used in: JAX's 64-bit mode for
        ``jax-x64`` (a process-wide setting, so it is switched on around one test only)."""
        if self.name.startswith("jax"):
            import jax

            if hasattr(jax, "enable_x64"):
                return jax.enable_x64(self.x64)
            from jax.experimental import enable_x64  # before jax 0.7

            return enable_x64(self.x64)
        return contextlib.nullcontext()

    @property
    def has_float64(self) -> bool:
        """Whether float64 data stays float64 (JAX without x64 makes it float32)."""
        return not self.name.startswith("jax") or self.x64

    @property
    def float64(self) -> Any:
        """The dtype float64 (and integer) data are computed in: float32 where there is none."""
        return self.xp.float64 if self.has_float64 else self.xp.float32

    @property
    def int64(self) -> Any:
        """The dtype of labels: int64, or int32 where there is none (JAX without x64)."""
        return self.xp.int64 if self.has_float64 else self.xp.int32

    def tol(self, tolerance: float) -> float:
        """A tolerance set for float64 data, widened to float32's where they become float32."""
        return tolerance if self.has_float64 else max(tolerance, 1e-4)

    def asarray(self, a: Any, dtype: str | None = None) -> Any:
        """NumPy data (or anything np.asarray takes) as an array of this backend."""
        a = np.asarray(a)
        if dtype is not None:
            a = a.astype(dtype)
        if self.name == "dask":
            import dask.array as da

            return da.from_array(a, chunks=max(1, (a.shape[0] + 2) // 3) if a.ndim else ())
        return self.xp.asarray(a, device=self.device)

    def to_numpy(self, a: Any) -> np.ndarray:
        return np.asarray(to_numpy(a))

    def __repr__(self) -> str:
        return self.name


@functools.cache
def cuda_answers(library: str) -> bool:
    """True only when a CUDA device actually runs a small computation for ``library``."""
    if importlib.util.find_spec(library) is None:
        return False
    try:
        if library == "cupy":
            import cupy

            return int((cupy.arange(3) * 2).sum().get()) == 6
        import torch

        return torch.cuda.is_available() and int((torch.arange(3, device="cuda") * 2).sum()) == 6
    except Exception:
        return False


def _backends() -> list[Any]:
    params: list[Any] = [pytest.param(("numpy", None), id="numpy")]
    params.append(pytest.param(("array_api_strict", None), id="strict"))
    params.append(pytest.param(("array_api_strict", "device1"), id="strict-device1"))
    params.append(
        pytest.param(
            ("torch", "cpu"),
            id="torch",
            marks=pytest.mark.skipif(
                importlib.util.find_spec("torch") is None, reason="torch is not installed"
            ),
        )
    )
    no_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="no jax")
    params.append(pytest.param(("jax", None), id="jax", marks=no_jax))
    params.append(pytest.param(("jax-x64", None), id="jax-x64", marks=no_jax))
    params.append(pytest.param(("cupy", None), id="cupy", marks=pytest.mark.gpu))
    params.append(pytest.param(("torch", "cuda"), id="torch-cuda", marks=pytest.mark.gpu))
    return params


def make_backend(name: str, device: Any) -> Backend:
    if name in ("cupy",) or device == "cuda":
        if not cuda_answers("cupy" if name == "cupy" else "torch"):
            pytest.skip(f"no CUDA device answers for {name}")
    if name.startswith("jax"):  # "jax": JAX's default 32-bit mode; "jax-x64": 64-bit
        module = pytest.importorskip("jax.numpy")
        return Backend(name, compat_namespace(module), device, x64=name == "jax-x64")
    module = pytest.importorskip("dask.array" if name == "dask" else name)
    xp = compat_namespace(module)
    if name == "array_api_strict" and device is not None:
        device = module.Device(device)
    if name == "torch":
        device = module.device(device)
    return Backend(name if device is None else f"{name}:{device}", xp, device)


# JAX compiles every operation anew for each new array shape (about 40 programs for a fit of a
# new n), so property tests draw fewer examples on JAX than the profile gives other backends
JAX_MAX_EXAMPLES = 5


@pytest.fixture(params=_backends())
def backend(request) -> Backend:
    backend = make_backend(*request.param)
    with backend.mode(), _fewer_examples(request.function, backend):
        yield backend


@contextlib.contextmanager
def _fewer_examples(test: Any, backend: Backend):
    """A hypothesis test run on JAX with at most ``JAX_MAX_EXAMPLES`` examples (hypothesis
    reads the settings the ``@given`` wrapper holds when the test is called)."""
    held = getattr(test, "_hypothesis_internal_use_settings", None)
    if held is None or not backend.name.startswith("jax"):
        yield
        return
    test._hypothesis_internal_use_settings = settings(
        held, max_examples=min(held.max_examples, JAX_MAX_EXAMPLES)
    )
    try:
        yield
    finally:
        test._hypothesis_internal_use_settings = held


@pytest.fixture
def xp(backend):
    return backend.xp


def pytest_collection_modifyitems(config, items):
    """GPU tests skip cleanly unless a CUDA device answers (an import alone proves nothing)."""
    if cuda_answers("cupy") or cuda_answers("torch"):
        return
    skip = pytest.mark.skip(reason="no CUDA device answers")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
