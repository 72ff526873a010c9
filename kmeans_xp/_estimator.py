"""``KMeans``, the scikit-learn-style estimator, and the ``kmeans`` function.

Inputs are validated here, where they enter; the engine (``_lloyd``, ``_kernels``) trusts them.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

import array_api_compat
import numpy as np

from . import _init
from ._kernels import chunk_rows, kernels_for
from ._kernels.portable import row_chunks
from ._lloyd import IterationInfo, lloyd
from ._xp import (
    accumulation_dtype,
    array_namespace,
    device_of,
    float_dtype,
    from_numpy,
    host_rng,
    namespace_name,
    to_host,
    to_numpy,
)

try:  # scikit-learn is optional: with it, KMeans is a full scikit-learn estimator
    from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
    from sklearn.exceptions import ConvergenceWarning, NotFittedError
except ImportError:  # pragma: no cover - exercised only where scikit-learn is absent
    from ._sklearn_fallback import (
        BaseEstimator,
        ClusterMixin,
        ConvergenceWarning,
        NotFittedError,
        TransformerMixin,
    )

DEFAULT_WORKING_MEMORY_MIB = 256
_INIT_NAMES = ("k-means++", "random")


class KMeans(ClusterMixin, TransformerMixin, BaseEstimator):
    """K-means clustering (Lloyd's algorithm) on any Array API library.

    Fits on NumPy, array-api-strict, torch, CuPy, JAX or Dask arrays and returns results of the
    same library on the same device. Semantics follow ``sklearn.cluster.KMeans``.

    Parameters
    ----------
    n_clusters : int, default 8
        Number of clusters k.
    init : {"k-means++", "random"}, array of shape (n_clusters, n_features) or callable
        "k-means++": greedy k-means++ with 2 + int(ln k) local trials per centre.
        "random": k distinct rows. A callable is called as ``init(X, n_clusters, rng)`` with the
        caller's X (as floats) and a ``numpy.random.Generator``, and returns the centres.
    n_init : "auto" or int, default "auto"
        Number of initialisations; the run with the lowest inertia is kept. "auto" is 1 for
        "k-means++" and explicit centres, 10 otherwise.
    max_iter : int, default 300
        Maximum number of Lloyd iterations per run.
    tol : float, default 1e-4
        Relative tolerance: a run stops when the squared shift of the centres is at most
        ``tol * mean(var(X, axis=0))``. It also stops when no label changes.
    verbose : int, default 0
        Print one line per iteration (inertia, centre shift) and why the run stopped.
    random_state : None, int, numpy Generator or RandomState
        Seeds every random choice; draws are made on the host, so one seed gives one clustering
        on every backend.
    copy_x : bool, default True
        Accepted for scikit-learn compatibility. X is never modified, whatever its value.
    working_memory : int, optional
        MiB a chunk of rows may take in the hot operations (default 256).
    callback : callable, optional
        Called after every iteration with an :class:`IterationInfo`.

    Attributes
    ----------
    cluster_centers_ : array of shape (n_clusters, n_features)
    labels_ : array of shape (n_samples,), int64
    inertia_ : float
        Weighted sum of squared distances of the rows to their centres.
    n_iter_ : int
        Iterations run by the kept initialisation.
    stop_reason_ : {"strict", "tol", "max_iter"}
        Why the kept run stopped: no label changed, centre shift within tolerance, or out of
        iterations.
    n_features_in_ : int
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: str | Any | Callable = "k-means++",
        n_init: str | int = "auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        verbose: int = 0,
        random_state: Any = None,
        copy_x: bool = True,
        working_memory: int | None = None,
        callback: Callable[[IterationInfo], Any] | None = None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.working_memory = working_memory
        self.callback = callback

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> KMeans:
        """Compute the clustering of ``X`` (array of shape (n_samples, n_features))."""
        X = _check_X(X)
        xp = array_namespace(X)
        dev = device_of(X)
        n, d = X.shape
        self._check_params(n)
        dtype = float_dtype(xp, X.dtype, dev)
        Xf = xp.astype(X, dtype, copy=False)  # Xc below is the fit's own copy
        w = _check_sample_weight(sample_weight, n, xp, dev, dtype)
        k = int(self.n_clusters)

        mean = xp.mean(Xf, axis=0)
        Xc = Xf - mean
        tol = self.tol * _mean_variance(xp, Xc, dev)
        n_init = self._resolved_n_init()
        kernels = kernels_for(xp)
        rows = chunk_rows(n, k, d, _itemsize(xp, dtype), self._working_memory_bytes())
        rng = host_rng(self.random_state)

        best = None
        for _ in range(n_init):
            centers = self._initial_centers(Xf, Xc, mean, w, k, rng, sample_weight is None)
            if self.verbose:
                print("Initialization complete")
            run = lloyd(
                Xc,
                centers,
                w,
                max_iter=int(self.max_iter),
                tol=tol,
                kernels=kernels,
                chunk_rows=rows,
                verbose=self.verbose,
                callback=self.callback,
                offset=mean,
            )
            if best is None or run.inertia < best.inertia:
                best = run

        self.cluster_centers_ = best.centers + mean
        self.labels_ = best.labels
        self.inertia_ = best.inertia
        self.n_iter_ = best.n_iter
        self.stop_reason_ = best.stop_reason
        self.n_features_in_ = d
        self._warn_if_fewer_clusters(xp)
        return self

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit and return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def fit_transform(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit and return the distances of every row to every centre."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    # ------------------------------------------------------------ inference
    def predict(self, X: Any) -> Any:
        """Index of the nearest centre of every row; the centres do not move."""
        Xc, centers, xp = self._centred_input(X)
        labels, _ = kernels_for(xp).assign(Xc, centers, chunk_rows=self._rows_for(Xc, xp))
        return labels

    def transform(self, X: Any) -> Any:
        """Euclidean (not squared) distance of every row to every centre, (n_samples, k)."""
        Xc, centers, xp = self._centred_input(X)
        acc = accumulation_dtype(xp, device_of(Xc))
        centers = xp.astype(centers, acc)
        c_sq = xp.sum(centers * centers, axis=1)
        parts = []
        for start, stop in row_chunks(Xc.shape[0], self._rows_for(Xc, xp)):
            rows = xp.astype(Xc[start:stop, ...], acc)
            sq = xp.sum(rows * rows, axis=1)[:, None] - 2.0 * (rows @ centers.T) + c_sq
            parts.append(xp.astype(xp.sqrt(xp.clip(sq, min=0.0)), Xc.dtype))
        return parts[0] if len(parts) == 1 else xp.concat(parts)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of the inertia of ``X`` under the fitted centres (a Python float)."""
        Xc, centers, xp = self._centred_input(X)
        dev = device_of(Xc)
        w = _check_sample_weight(sample_weight, Xc.shape[0], xp, dev, Xc.dtype)
        _, sqdist = kernels_for(xp).assign(Xc, centers, chunk_rows=self._rows_for(Xc, xp))
        acc = accumulation_dtype(xp, dev)
        (inertia,) = to_host(xp.sum(xp.astype(sqdist, acc) * xp.astype(w, acc)))
        return -float(inertia)

    # -------------------------------------------------------------- helpers
    def _check_params(self, n_samples: int) -> None:
        k = self.n_clusters
        if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
            raise ValueError(f"n_clusters must be an integer >= 1; got {k!r}")
        if k > n_samples:
            raise ValueError(
                f"n_samples={n_samples} should be >= n_clusters={k}: "
                "there must be at least as many rows as clusters"
            )
        if not (isinstance(self.max_iter, numbers.Integral) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be an integer >= 1; got {self.max_iter!r}")
        if not (isinstance(self.tol, numbers.Real) and self.tol >= 0):
            raise ValueError(f"tol must be a number >= 0; got {self.tol!r}")
        n_init = self.n_init
        if not (n_init == "auto" or (isinstance(n_init, numbers.Integral) and n_init >= 1)):
            raise ValueError(f"n_init must be 'auto' or an integer >= 1; got {n_init!r}")
        if isinstance(self.init, str) and self.init not in _INIT_NAMES:
            raise ValueError(
                f"init must be one of {_INIT_NAMES}, an array or a callable; got {self.init!r}"
            )
        wm = self.working_memory
        if wm is not None and not (isinstance(wm, numbers.Real) and wm > 0):
            raise ValueError(f"working_memory must be a positive number of MiB; got {wm!r}")

    def _resolved_n_init(self) -> int:
        explicit = not isinstance(self.init, str) and not callable(self.init)
        if self.n_init == "auto":
            return 1 if explicit or self.init == "k-means++" else 10
        if explicit and self.n_init != 1:
            warnings.warn(
                f"Explicit initial centres were passed: running one initialisation instead of "
                f"n_init={self.n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
            return 1
        return int(self.n_init)

    def _initial_centers(self, Xf, Xc, mean, w, k, rng, unit_weight):
        xp = array_namespace(Xc)
        dev = device_of(Xc)
        if isinstance(self.init, str):
            if self.init == "k-means++":
                centers, _ = _init.kmeans_plusplus(Xc, k, w, rng)
            else:
                centers, _ = _init.random_rows(Xc, k, w, rng, unit_weight=unit_weight)
            return centers
        given = self.init(Xf, k, rng) if callable(self.init) else self.init
        centers = _as_namespace(given, xp, dev, Xc.dtype, "init")
        if tuple(centers.shape) != (k, Xc.shape[1]):
            raise ValueError(
                f"init centres must have shape (n_clusters, n_features) = ({k}, {Xc.shape[1]}); "
                f"got {tuple(centers.shape)}"
            )
        _check_finite(xp, centers, "init")
        return centers - mean

    def _working_memory_bytes(self) -> int:
        mib = DEFAULT_WORKING_MEMORY_MIB if self.working_memory is None else self.working_memory
        return int(mib * 2**20)

    def _rows_for(self, X, xp) -> int:
        k, d = self.cluster_centers_.shape
        return chunk_rows(X.shape[0], k, d, _itemsize(xp, X.dtype), self._working_memory_bytes())

    def _centred_input(self, X):
        """X as floats, centred by the fit's mean, and the centres in the same frame, both in
        X's namespace and on X's device (fitted centres are converted when X lives elsewhere)."""
        if not hasattr(self, "cluster_centers_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call 'fit' first."
            )
        X = _check_X(X)
        xp = array_namespace(X)
        dev = device_of(X)
        d = self.cluster_centers_.shape[1]
        if X.shape[1] != d:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with {d}"
            )
        dtype = float_dtype(xp, X.dtype, dev)
        centers = _as_namespace(self.cluster_centers_, xp, dev, dtype, "cluster_centers_")
        mean = xp.mean(centers, axis=0)
        return xp.astype(X, dtype) - mean, centers - mean, xp

    def _warn_if_fewer_clusters(self, xp) -> None:
        if namespace_name(xp) in ("dask",):
            return
        if namespace_name(xp) == "numpy":  # a counting pass instead of unique's hash or sort
            found = int(np.count_nonzero(np.bincount(self.labels_, minlength=self.n_clusters)))
        else:
            found = int(xp.unique_values(self.labels_).shape[0])
        if found < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({found}) found smaller than "
                f"n_clusters ({self.n_clusters}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=3,
            )


def kmeans(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    init: str | Any | Callable = "k-means++",
    n_init: str | int = "auto",
    max_iter: int = 300,
    tol: float = 1e-4,
    verbose: int = 0,
    random_state: Any = None,
    working_memory: int | None = None,
    callback: Callable[[IterationInfo], Any] | None = None,
) -> tuple[Any, Any, float, int]:
    """K-means as a function: ``(centers, labels, inertia, n_iter)`` for ``X``.

    The parameters are those of :class:`KMeans`.
    """
    est = KMeans(
        n_clusters,
        init=init,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        verbose=verbose,
        random_state=random_state,
        working_memory=working_memory,
        callback=callback,
    ).fit(X, sample_weight=sample_weight)
    return est.cluster_centers_, est.labels_, est.inertia_, est.n_iter_


def kmeans_plusplus(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    random_state: Any = None,
    n_local_trials: int | None = None,
) -> tuple[Any, Any]:
    """Initial centres by greedy k-means++: ``(centers, indices)`` with ``centers == X[indices]``.

    ``n_local_trials`` candidates are tried per centre (default 2 + int(ln k)); rows are drawn
    with probability proportional to ``sample_weight`` times squared distance.
    """
    X = _check_X(X)
    xp = array_namespace(X)
    dev = device_of(X)
    n = X.shape[0]
    if not isinstance(n_clusters, numbers.Integral) or not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be an integer in [1, n_samples={n}]; got {n_clusters!r}")
    if n_local_trials is not None and not (
        isinstance(n_local_trials, numbers.Integral) and n_local_trials >= 1
    ):
        raise ValueError(f"n_local_trials must be None or an integer >= 1; got {n_local_trials!r}")
    dtype = float_dtype(xp, X.dtype, dev)
    Xf = xp.astype(X, dtype)
    w = _check_sample_weight(sample_weight, n, xp, dev, dtype)
    _, indices = _init.kmeans_plusplus(
        Xf, int(n_clusters), w, host_rng(random_state), n_local_trials=n_local_trials
    )
    return xp.take(Xf, indices, axis=0), indices


# ---------------------------------------------------------------- validation
def _check_X(X: Any) -> Any:
    """X as an array of its own library (lists and other array-likes become NumPy), 2-D, with
    at least one row and one column, real numbers, all finite."""
    if not array_api_compat.is_array_api_obj(X):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"X could not be read as a 2-D array of numbers: {exc}") from None
    xp = array_namespace(X)
    if X.ndim != 2:
        raise ValueError(
            f"X must be a 2-D array of shape (n_samples, n_features); got {X.ndim}-D "
            f"with shape {tuple(X.shape)}. Reshape 1-D data with X.reshape(-1, 1)."
        )
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(
            f"X must have at least one sample and one feature; got shape {tuple(X.shape)}"
        )
    if not _is_real_numeric(xp, X.dtype):
        raise ValueError(f"X must hold real numbers; got dtype {X.dtype}")
    _check_finite(xp, X, "X")
    return X


def _is_real_numeric(xp: Any, dtype: Any) -> bool:
    try:
        return xp.isdtype(dtype, ("real floating", "integral", "bool"))
    except (TypeError, ValueError):
        return False


def _check_finite(xp: Any, a: Any, name: str) -> None:
    if xp.isdtype(a.dtype, "real floating"):
        (ok,) = to_host(xp.all(xp.isfinite(a)))
        if not bool(ok):
            raise ValueError(f"{name} contains NaN or infinity; every value must be finite")


def _check_sample_weight(sample_weight: Any, n: int, xp: Any, dev: Any, dtype: Any) -> Any:
    if sample_weight is None:
        return xp.ones((n,), dtype=dtype, device=dev)
    if isinstance(sample_weight, numbers.Real):
        w = xp.full((n,), float(sample_weight), dtype=dtype, device=dev)
    else:
        w = _as_namespace(sample_weight, xp, dev, dtype, "sample_weight")
    if tuple(w.shape) != (n,):
        raise ValueError(
            f"sample_weight must have shape ({n},), one weight per row of X; "
            f"got shape {tuple(w.shape)}"
        )
    _check_finite(xp, w, "sample_weight")
    (negative, total) = to_host(xp.any(w < 0), xp.sum(w))
    if bool(negative):
        raise ValueError("sample_weight must be >= 0; got negative weights")
    if not float(total) > 0:
        raise ValueError("sample_weight must not be all zero; got a total weight of 0")
    return w


def _as_namespace(a: Any, xp: Any, dev: Any, dtype: Any, name: str) -> Any:
    """``a`` as an array of ``xp`` on ``dev`` with ``dtype``.

    Arrays of the same library and device are used as they are; host data (NumPy arrays,
    lists) and small arrays of another library or device are converted through the host.
    """
    if array_api_compat.is_array_api_obj(a):
        same_library = array_api_compat.array_namespace(a) is xp
        if same_library and device_of(a) == dev:
            return xp.astype(a, dtype)
        a = to_numpy(a)
    try:
        host = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of real numbers: {exc}") from None
    return from_numpy(host, xp, dev, dtype=dtype)


def _mean_variance(xp: Any, Xc: Any, dev: Any) -> float:
    """mean(var(X, axis=0)) of centred data, on the host: the scale of the relative ``tol``."""
    # row by row in X's dtype, without an n x d temporary or a float64 copy of X: this scale
    # only sets the tolerance
    (value,) = to_host(xp.sum(xp.vecdot(Xc, Xc)))
    return float(value) / math.prod(Xc.shape)


def _itemsize(xp: Any, dtype: Any) -> int:
    return 8 if dtype == getattr(xp, "float64", None) else 4
