"""``KMeans``, the scikit-learn-style estimator, and the ``kmeans`` function.

Inputs are validated here, where they enter; the engine (``_lloyd``, ``_kernels``) trusts them.
Host data (NumPy arrays, lists, DataFrames, sparse matrices) goes through scikit-learn's own
``validate_data`` when scikit-learn is installed, so it is accepted or refused exactly as
scikit-learn does; arrays of the other libraries are checked here, in their own namespace and on
their own device, with messages worded like scikit-learn's.
"""

from __future__ import annotations

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
    count_distinct_labels,
    device_of,
    float_dtype,
    from_numpy,
    host_rng,
    namespace_name,
    persist,
    row_blocked,
    to_host,
    to_numpy,
)

try:  # scikit-learn is optional: with it, KMeans is a full scikit-learn estimator
    from sklearn import get_config
    from sklearn.base import (
        BaseEstimator,
        ClassNamePrefixFeaturesOutMixin,
        ClusterMixin,
        TransformerMixin,
    )
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils.validation import check_is_fitted, validate_data

    HAVE_SKLEARN = True
except ImportError:  # tested in a subprocess that blocks the scikit-learn import
    from ._sklearn_fallback import (
        BaseEstimator,
        ClassNamePrefixFeaturesOutMixin,
        ClusterMixin,
        ConvergenceWarning,
        TransformerMixin,
        check_is_fitted,
        get_config,
        validate_data,
    )

    HAVE_SKLEARN = False

DEFAULT_WORKING_MEMORY_MIB = 256
_INIT_NAMES = ("auto", "k-means++", "k-means||", "random")
_ALGORITHMS = ("lloyd", "elkan")


class KMeans(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """K-means clustering (Lloyd's algorithm) on any Array API library.

    Fits on NumPy, array-api-strict, torch, CuPy, JAX or Dask arrays and returns results of the
    same library on the same device. Semantics follow ``sklearn.cluster.KMeans``; lists and
    pandas DataFrames are accepted as scikit-learn accepts them (``feature_names_in_`` is
    recorded). Under ``sklearn.config_context(array_api_dispatch=True)`` it is the last step of
    an array-API pipeline, and ``predict``/``transform``/``score`` then insist on the namespace
    and device of ``fit``, as scikit-learn's estimators do; without dispatch the fitted centres
    are converted to the library and device of the data they are given.

    Parameters
    ----------
    n_clusters : int, default 8
        Number of clusters k.
    init : {"auto", "k-means++", "k-means||", "random"}, array of shape (n_clusters, n_features) \
or callable, default "auto"
        "auto": "k-means||" when X is a Dask array, "k-means++" otherwise.
        "k-means++": greedy k-means++ with 2 + int(ln k) local trials per centre.
        "k-means||": k-means|| (Bahmani et al. 2012): 5 rounds drawing 2k rows each, then greedy
        k-means++ on those candidates weighted by the rows they attract; it reads X 6 times
        where k-means++ reads it k times.
        "random": k distinct rows. A callable is called as ``init(X, n_clusters, rng)`` with the
        caller's X (as floats) and a ``numpy.random.Generator``, and returns the centres.
    n_init : "auto" or int, default "auto"
        Number of initialisations; the run with the lowest inertia is kept. "auto" is 1 for
        "k-means++", "k-means||" and explicit centres, 10 otherwise.
    max_iter : int, default 300
        Maximum number of Lloyd iterations per run.
    tol : float, default 1e-4
        Relative tolerance: a run stops when the squared shift of the centres is at most
        ``tol * mean(var(X, axis=0))`` (the variance weighted by ``sample_weight`` when one is
        given, so that integer weights act exactly as repeated rows). It also stops when no
        label changes.
    verbose : int, default 0
        Print one line per iteration (inertia, centre shift) and why the run stopped.
    random_state : None, int, numpy Generator or RandomState
        Seeds every random choice; draws are made on the host, so one seed gives one clustering
        on every backend.
    copy_x : bool, default True
        Accepted for scikit-learn compatibility. X is never modified, whatever its value.
    algorithm : {"lloyd", "elkan"}, default "lloyd"
        Accepted for scikit-learn compatibility; both run Lloyd's algorithm (Elkan's gives the
        same iterates in exact arithmetic).
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
    feature_names_in_ : array of str, shape (n_features_in_,)
        Only when X had string column names (a pandas DataFrame).

    Examples
    --------
    >>> import numpy as np
    >>> from kmeans_xp import KMeans
    >>> X = np.array([[1.0, 2.0], [1.0, 4.0], [1.0, 0.0],
    ...               [10.0, 2.0], [10.0, 4.0], [10.0, 0.0]])
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> km.labels_
    array([0, 0, 0, 1, 1, 1])
    >>> km.cluster_centers_
    array([[ 1.,  2.],
           [10.,  2.]])
    >>> km.inertia_, km.n_iter_, km.stop_reason_
    (16.0, 2, 'strict')
    >>> km.predict(np.array([[0.0, 0.0], [12.0, 3.0]]))
    array([0, 1])

    Arrays of another library (torch, CuPy, JAX, Dask, ...) give results of that library, on
    the device the data lives on: ``KMeans(2).fit(torch.asarray(X)).labels_`` is a tensor.
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: str | Any | Callable = "auto",
        n_init: str | int = "auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        verbose: int = 0,
        random_state: Any = None,
        copy_x: bool = True,
        algorithm: str = "lloyd",
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
        self.algorithm = algorithm
        self.working_memory = working_memory
        self.callback = callback

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        return tags

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> KMeans:
        """Compute the clustering of ``X``.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            An array of any Array API library (or anything NumPy converts); integers and
            booleans become floats.
        y : ignored
            Accepted for scikit-learn's API.
        sample_weight : array of shape (n_samples,), optional
            Weighs the rows in the initialisation, the centre updates and the inertia; it may
            come from another library or the host, and is converted to X's library and device.

        Returns
        -------
        KMeans
            The fitted estimator itself.

        Examples
        --------
        >>> import numpy as np
        >>> from kmeans_xp import KMeans
        >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
        >>> KMeans(2, random_state=0).fit(X, sample_weight=[1, 3, 1, 1]).cluster_centers_
        array([[ 0.75],
               [10.5 ]])
        """
        # finiteness is checked by the fit's first pass over X (its sum of squares)
        X = self._validate_X(X, reset=True, finite=False)
        self._check_params(X.shape[0])
        with kernels_for(array_namespace(X)).fit_context(X, int(self.n_clusters)):
            return self._fit(X, sample_weight)

    def _fit(self, X: Any, sample_weight: Any) -> KMeans:
        xp = array_namespace(X)
        dev = device_of(X)
        n, d = X.shape
        dtype = float_dtype(xp, X.dtype, dev)
        Xf = xp.astype(X, dtype, copy=False)  # never written; a copy would cost n x d memory
        w = _check_sample_weight(sample_weight, n, xp, dev, dtype)
        k = int(self.n_clusters)

        # Dask: X (as floats) is read once and kept on the workers
        Xf, w = persist(*row_blocked(Xf, w))
        # weighted, so that integer weights act as repeated rows (scikit-learn's are unweighted);
        # a matrix-vector product: NumPy's mean over the rows is slow on few columns
        mean = (w @ Xf) / xp.sum(w)
        # these sums need no temporaries beyond a chunk: chunks of the whole budget
        whole = max(1, self._working_memory_bytes() // (d * _itemsize(xp, dtype)))
        Xc, mean, variance = _centred(xp, Xf, w, sample_weight is None, mean, dev, whole)
        tol = self.tol * variance / d
        n_init = self._resolved_n_init()
        kernels = kernels_for(xp)
        # sized from the memory still free once a centred copy, if any, exists
        rows = chunk_rows(
            n, k, d, _itemsize(xp, dtype), self._working_memory_bytes(), kernels.free_memory(Xc)
        )
        # explicit centres draw nothing (and a generator seeded by the OS takes a while)
        explicit = not isinstance(self.init, str) and not callable(self.init)
        rng = None if explicit else host_rng(self.random_state)

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

        (self.cluster_centers_,) = persist(best.centers + mean)
        self._centred_fit = Xc is not Xf  # predict, transform and score do the same
        self.labels_ = best.labels
        self.inertia_ = best.inertia
        self.n_iter_ = best.n_iter
        self.stop_reason_ = best.stop_reason
        self._n_features_out = k
        self._warn_if_fewer_clusters()
        return self

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit and return ``labels_``.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        y : ignored
        sample_weight : array of shape (n_samples,), optional
            As in :meth:`fit`.

        Returns
        -------
        labels : array of shape (n_samples,)
            Index of the cluster of every row, in X's library and on its device.

        Examples
        --------
        >>> import numpy as np
        >>> from kmeans_xp import KMeans
        >>> KMeans(2, random_state=0).fit_predict(np.array([[0.0], [1.0], [10.0], [11.0]]))
        array([1, 1, 0, 0])
        """
        return self.fit(X, sample_weight=sample_weight).labels_

    def fit_transform(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit and return the distances of every row to every centre.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        y : ignored
        sample_weight : array of shape (n_samples,), optional
            As in :meth:`fit`.

        Returns
        -------
        distances : array of shape (n_samples, n_clusters)
            As :meth:`transform` gives them for ``X``.

        Examples
        --------
        >>> import numpy as np
        >>> from kmeans_xp import KMeans
        >>> KMeans(2, random_state=0).fit_transform(np.array([[0.0], [1.0], [10.0], [11.0]]))
        array([[10.5,  0.5],
               [ 9.5,  0.5],
               [ 0.5,  9.5],
               [ 0.5, 10.5]])
        """
        return self.fit(X, sample_weight=sample_weight).transform(X)

    # ------------------------------------------------------------ inference
    def predict(self, X: Any) -> Any:
        """Index of the nearest centre of every row; the centres do not move.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            New data with the fit's features.

        Returns
        -------
        labels : array of shape (n_samples,)
            Index of the nearest centre (the lowest index among equally near ones), in X's
            library and on its device.

        Examples
        --------
        >>> import numpy as np
        >>> from kmeans_xp import KMeans
        >>> km = KMeans(2, random_state=0).fit(np.array([[0.0], [1.0], [10.0], [11.0]]))
        >>> km.predict(np.array([[-3.0], [4.0], [8.0]]))
        array([1, 1, 0])
        """
        Xc, centers, xp = self._centred_input(X, "predict")
        labels, _ = kernels_for(xp).assign(Xc, centers, chunk_rows=self._rows_for(Xc, xp))
        return labels

    def transform(self, X: Any) -> Any:
        """Euclidean (not squared) distance of every row to every centre.

        The distance to the nearest centre is computed from explicit differences, so a row
        that sits on its centre is at distance exactly 0.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            New data with the fit's features.

        Returns
        -------
        distances : array of shape (n_samples, n_clusters)
            In X's library, on its device, of the fit's floating dtype.

        Examples
        --------
        >>> import numpy as np
        >>> from kmeans_xp import KMeans
        >>> km = KMeans(2, random_state=0).fit(np.array([[0.0, 0.0], [0.0, 2.0], [6.0, 1.0]]))
        >>> km.transform(np.array([[0.0, 1.0], [3.0, 5.0]]))
        array([[0., 6.],
               [5., 5.]])
        """
        Xc, centers, xp = self._centred_input(X, "transform")
        acc = accumulation_dtype(xp, device_of(Xc))
        centers = xp.astype(centers, acc)
        c_sq = xp.sum(centers * centers, axis=1)
        cluster_ids = xp.arange(centers.shape[0], device=device_of(Xc))
        parts = []
        for start, stop in row_chunks(Xc.shape[0], self._rows_for(Xc, xp)):
            rows = xp.astype(Xc[start:stop, ...], acc)
            sq = xp.sum(rows * rows, axis=1)[:, None] - 2.0 * (rows @ centers.T) + c_sq
            # the expanded form cancels badly where the distance is small: the nearest centre
            nearest = xp.argmin(sq, axis=1)
            diff = rows - xp.take(centers, nearest, axis=0)
            exact = xp.sum(diff * diff, axis=1)
            sq = xp.where(cluster_ids == nearest[:, None], exact[:, None], sq)
            parts.append(xp.astype(xp.sqrt(xp.clip(sq, min=0.0)), Xc.dtype))
        return parts[0] if len(parts) == 1 else xp.concat(parts)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of the inertia of ``X`` under the fitted centres.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            New data with the fit's features.
        y : ignored
        sample_weight : array of shape (n_samples,), optional
            Weighs each row's squared distance.

        Returns
        -------
        float
            Minus the weighted sum of squared distances of the rows to their nearest centres
            (higher is better, as scikit-learn's scores are), a Python float.

        Examples
        --------
        >>> import numpy as np
        >>> from kmeans_xp import KMeans
        >>> km = KMeans(2, random_state=0).fit(np.array([[0.0], [1.0], [10.0], [11.0]]))
        >>> km.score(np.array([[0.0], [12.0]]))
        -2.5
        """
        Xc, centers, xp = self._centred_input(X, "score")
        dev = device_of(Xc)
        w = _check_sample_weight(sample_weight, Xc.shape[0], xp, dev, Xc.dtype)
        _, sqdist = kernels_for(xp).assign(Xc, centers, chunk_rows=self._rows_for(Xc, xp))
        acc = accumulation_dtype(xp, dev)
        (inertia,) = to_host(xp.sum(xp.astype(sqdist, acc) * xp.astype(w, acc)))
        return -float(inertia)

    # -------------------------------------------------------------- helpers
    def _validate_X(self, X: Any, *, reset: bool, finite: bool = True) -> Any:
        """X checked (2-D, non-empty, real, and finite unless not ``finite``) as an array of
        its own library; records (``reset``) or checks ``n_features_in_`` and
        ``feature_names_in_``."""
        if HAVE_SKLEARN and _is_host_data(X):
            # scikit-learn's own checks and messages for NumPy arrays, lists, DataFrames, sparse
            return validate_data(
                self,
                X,
                reset=reset,
                accept_sparse=False,
                dtype="numeric",
                ensure_min_samples=1,
                ensure_all_finite=finite,
            )
        checked = _check_X(X, type(self).__name__, finite)
        # feature names come from the original container (a DataFrame without scikit-learn)
        validate_data(
            self, X if hasattr(X, "columns") else checked, reset=reset, skip_check_array=True
        )
        return checked

    def _check_params(self, n_samples: int) -> None:
        k = self.n_clusters
        if not _is_integer(k) or k < 1:
            raise ValueError(f"n_clusters must be an integer >= 1; got {k!r}")
        if k > n_samples:
            raise ValueError(
                f"n_samples={n_samples} should be >= n_clusters={k}: "
                "there must be at least as many rows as clusters"
            )
        if not (_is_integer(self.max_iter) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be an integer >= 1; got {self.max_iter!r}")
        tol = self.tol
        if not (isinstance(tol, numbers.Real) and not isinstance(tol, bool) and tol >= 0):
            raise ValueError(f"tol must be a number >= 0; got {tol!r}")
        n_init = self.n_init
        if not (
            (isinstance(n_init, str) and n_init == "auto") or (_is_integer(n_init) and n_init >= 1)
        ):
            raise ValueError(f"n_init must be 'auto' or an integer >= 1; got {n_init!r}")
        if isinstance(self.init, str) and self.init not in _INIT_NAMES:
            raise ValueError(
                f"init must be one of {_INIT_NAMES}, an array or a callable; got {self.init!r}"
            )
        if self.algorithm not in _ALGORITHMS:
            raise ValueError(f"algorithm must be one of {_ALGORITHMS}; got {self.algorithm!r}")
        wm = self.working_memory
        if wm is not None and not (isinstance(wm, numbers.Real) and wm > 0):
            raise ValueError(f"working_memory must be a positive number of MiB; got {wm!r}")

    def _resolved_n_init(self) -> int:
        explicit = not isinstance(self.init, str) and not callable(self.init)
        if self.n_init == "auto":
            return 1 if explicit or self.init in ("auto", "k-means++", "k-means||") else 10
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
            init = self.init
            if init == "auto":  # k-means|| reads X far fewer times: the default on Dask
                init = "k-means||" if namespace_name(xp) == "dask" else "k-means++"
            if init == "k-means++":
                centers, _ = _init.kmeans_plusplus(Xc, k, w, rng)
            elif init == "k-means||":
                centers, _ = _init.kmeans_parallel(
                    Xc, k, w, rng, working_memory=self._working_memory_bytes()
                )
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
        budget, free = self._working_memory_bytes(), kernels_for(xp).free_memory(X)
        return chunk_rows(X.shape[0], k, d, _itemsize(xp, X.dtype), budget, free)

    def _centred_input(self, X, method):
        """X as floats and the centres, both in X's namespace and on X's device (fitted
        centres are converted when X lives elsewhere); both less the centres' mean when the
        fit centred its data (its mean was far from 0), so that precision is kept alike."""
        check_is_fitted(self, "cluster_centers_")
        self._check_same_namespace(X, method)
        X = self._validate_X(X, reset=False)
        xp = array_namespace(X)
        dev = device_of(X)
        dtype = float_dtype(xp, X.dtype, dev)
        centers = _as_namespace(self.cluster_centers_, xp, dev, dtype, "cluster_centers_")
        Xf = xp.astype(X, dtype, copy=False)  # never written
        if not getattr(self, "_centred_fit", True):  # X as it is: no n x d copy
            return Xf, centers, xp
        mean = xp.mean(centers, axis=0)
        return Xf - mean, centers - mean, xp

    def _check_same_namespace(self, X, method) -> None:
        """Under scikit-learn's array API dispatch, X must be of the library and device of the
        fit (scikit-learn's rule for array-API estimators); otherwise anything is converted."""
        if not get_config().get("array_api_dispatch", False):
            return
        fitted = self.cluster_centers_
        fitted_where = (_library_name(fitted), str(device_of(fitted)))
        if _is_host_data(X):
            if isinstance(fitted, np.ndarray):
                return
            given = ("numpy" if isinstance(X, np.ndarray) else type(X).__name__, "cpu")
        else:
            given = (_library_name(X), str(device_of(X)))
            if given == fitted_where:
                return
        raise ValueError(
            f"Inputs passed to {type(self).__name__}.{method}() must use the same namespace and "
            "the same device as those passed to fit() under array_api_dispatch: fitted on "
            f"{fitted_where[0]} (device {fitted_where[1]}), got {given[0]} (device {given[1]})."
        )

    def _warn_if_fewer_clusters(self) -> None:
        found = count_distinct_labels(self.labels_, self.n_clusters)
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
    init: str | Any | Callable = "auto",
    n_init: str | int = "auto",
    max_iter: int = 300,
    tol: float = 1e-4,
    verbose: int = 0,
    random_state: Any = None,
    working_memory: int | None = None,
    callback: Callable[[IterationInfo], Any] | None = None,
) -> tuple[Any, Any, float, int]:
    """K-means as a function: ``(centers, labels, inertia, n_iter)`` for ``X``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Data of any Array API library.
    n_clusters : int
        Number of clusters k.
    sample_weight : array of shape (n_samples,), optional
        Weight of every row, as in :meth:`KMeans.fit`.
    init, n_init, max_iter, tol, verbose, random_state, working_memory, callback
        As for :class:`KMeans`.

    Returns
    -------
    centers : array of shape (n_clusters, n_features)
        The final centres, in X's library and on its device.
    labels : array of shape (n_samples,)
        The cluster of every row.
    inertia : float
        Weighted sum of squared distances of the rows to their centres.
    n_iter : int
        Lloyd iterations run by the kept initialisation.

    Examples
    --------
    >>> import numpy as np
    >>> from kmeans_xp import kmeans
    >>> X = np.array([[1.0, 2.0], [1.0, 4.0], [1.0, 0.0],
    ...               [10.0, 2.0], [10.0, 4.0], [10.0, 0.0]])
    >>> centers, labels, inertia, n_iter = kmeans(X, 2, random_state=0)
    >>> centers
    array([[ 1.,  2.],
           [10.,  2.]])
    >>> labels, inertia
    (array([0, 0, 0, 1, 1, 1]), 16.0)
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

    Rows are drawn with probability proportional to ``sample_weight`` times their squared
    distance to the nearest centre chosen so far; of ``n_local_trials`` candidates drawn per
    centre, the one that lowers the weighted inertia most is kept.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Data of any Array API library.
    n_clusters : int
        Number of centres to choose, between 1 and n_samples.
    sample_weight : array of shape (n_samples,), optional
        Weight of every row; rows of weight 0 are never chosen.
    random_state : None, int, numpy Generator or RandomState
        Seeds the draws (made on the host: one seed gives the same rows on every backend).
    n_local_trials : int, optional
        Candidates tried per centre (default 2 + int(ln k)).

    Returns
    -------
    centers : array of shape (n_clusters, n_features)
        The chosen rows of X (as floats), in X's library and on its device.
    indices : array of shape (n_clusters,)
        Their row indices in X.

    Examples
    --------
    >>> import numpy as np
    >>> from kmeans_xp import kmeans_plusplus
    >>> X = np.array([[1.0, 2.0], [1.0, 4.0], [1.0, 0.0],
    ...               [10.0, 2.0], [10.0, 4.0], [10.0, 0.0]])
    >>> centers, indices = kmeans_plusplus(X, 2, random_state=0)
    >>> centers
    array([[ 1.,  0.],
           [10.,  4.]])
    >>> indices
    array([2, 4])
    """
    X = _check_X(X, "kmeans_plusplus")
    xp = array_namespace(X)
    dev = device_of(X)
    n = X.shape[0]
    if not _is_integer(n_clusters) or not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be an integer in [1, n_samples={n}]; got {n_clusters!r}")
    if n_local_trials is not None and not (_is_integer(n_local_trials) and n_local_trials >= 1):
        raise ValueError(f"n_local_trials must be None or an integer >= 1; got {n_local_trials!r}")
    dtype = float_dtype(xp, X.dtype, dev)
    Xf = xp.astype(X, dtype)
    w = _check_sample_weight(sample_weight, n, xp, dev, dtype)
    _, indices = _init.kmeans_plusplus(
        Xf, int(n_clusters), w, host_rng(random_state), n_local_trials=n_local_trials
    )
    return xp.take(Xf, indices, axis=0), indices


# ---------------------------------------------------------------- validation
def _is_host_data(X: Any) -> bool:
    """NumPy arrays and what is not an array of an Array API library (lists, DataFrames...)."""
    return isinstance(X, np.ndarray) or not array_api_compat.is_array_api_obj(X)


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _library_name(a: Any) -> str:
    return namespace_name(array_api_compat.array_namespace(a))


def _check_X(X: Any, caller: str = "KMeans", finite: bool = True) -> Any:
    """X as an array of its own library (lists and other array-likes become NumPy), 2-D, with
    at least one row and one column, real numbers, all finite (unless not ``finite``: the
    caller checks). Messages say what was received and what was expected, in scikit-learn's
    words."""
    if not array_api_compat.is_array_api_obj(X):
        if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
            raise TypeError(
                f"Sparse data was passed to {caller} ({type(X).__name__}), but dense data is "
                "required. Use '.toarray()' to convert to a dense array."
            )
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"X could not be read as a 2-D array of numbers: {exc}") from None
    shape = tuple(X.shape)
    if X.ndim != 2:
        if X.ndim < 2:
            raise ValueError(
                f"Expected 2D array, got {X.ndim}D array instead (shape {shape}): X must be of "
                "shape (n_samples, n_features). Reshape your data either using X.reshape(-1, 1) "
                "if your data has a single feature or X.reshape(1, -1) if it contains a single "
                "sample."
            )
        raise ValueError(
            f"Found array with dim {X.ndim} (shape {shape}), while dim <= 2 is required by "
            f"{caller}: X must be of shape (n_samples, n_features)."
        )
    for axis, what in ((0, "sample(s)"), (1, "feature(s)")):
        if shape[axis] < 1:
            raise ValueError(
                f"Found array with 0 {what} (shape={shape}) while a minimum of 1 is required "
                f"by {caller}."
            )
    if isinstance(X, np.ndarray) and X.dtype == object:
        try:  # as scikit-learn does: object arrays of numbers are numbers
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"X of dtype object must hold real numbers: {exc}") from None
    xp = array_namespace(X)
    if not _is_real_numeric(xp, X.dtype):
        if _is_complex(xp, X.dtype):
            raise ValueError(
                f"Complex data not supported: X has dtype {X.dtype}; {caller} expects real "
                "numbers (floating point, integer or bool)."
            )
        raise ValueError(
            f"X has dtype {X.dtype}; {caller} expects real numbers (floating point, integer or "
            "bool). Convert strings or other objects to numbers first."
        )
    if finite and namespace_name(xp) != "dask":  # Dask: checked in fit; predict stays lazy
        _check_finite(xp, X, "X")
    return X


def _is_real_numeric(xp: Any, dtype: Any) -> bool:
    try:
        return xp.isdtype(dtype, ("real floating", "integral", "bool"))
    except (TypeError, ValueError):
        return False


def _is_complex(xp: Any, dtype: Any) -> bool:
    try:
        return xp.isdtype(dtype, "complex floating")
    except (TypeError, ValueError):
        return False


def _check_finite(xp: Any, a: Any, name: str) -> None:
    if xp.isdtype(a.dtype, "real floating"):
        (finite,) = to_host(xp.all(xp.isfinite(a)))
        if not bool(finite):
            (has_nan,) = to_host(xp.any(xp.isnan(a)))
            found = "NaN" if bool(has_nan) else "infinity"
            raise ValueError(
                f"Input {name} contains {found}: every value must be finite (got an array of "
                f"shape {tuple(a.shape)} and dtype {a.dtype})."
            )


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
    # one sync (Dask: one compute) for all three checks
    finite, negative, total = to_host(xp.all(xp.isfinite(w)), xp.any(w < 0), xp.sum(w))
    if not bool(finite):
        _check_finite(xp, w, "sample_weight")  # raises, naming NaN or infinity
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


# X is centred (copied, less its mean) when the squared norm of its mean exceeds this many
# times its total variance; below, ||c||^2 - 2 x.c on X as it is loses at most half a bit to
# cancellation (|x| / |x - mean| <= sqrt(2) on average), and the copy is not worth its memory
CENTRE_ABOVE = 1.0


def _centred(
    xp: Any, Xf: Any, w: Any, unit: bool, mean: Any, dev: Any, rows: int
) -> tuple[Any, Any, float]:
    """``(X', offset, total variance)``: X with a zero offset when its mean is small beside
    its spread, else ``X - mean`` (a copy, persisted on Dask) with ``mean``; the k-means of X'
    plus the offset are those of X. The total variance (weighted by ``w``; ``unit``: every
    weight is 1) scales ``tol``."""
    with np.errstate(over="ignore"):  # overflows are handled below
        quick = _mean_sq_norm(xp, Xf, w, unit, dev, rows)
        mean_sq, norms = to_host(xp.vecdot(mean, mean), quick)
        if unit and np.isinf(norms):  # X's dtype overflowed (or X holds infinity)
            (norms,) = to_host(_mean_sq_norm(xp, Xf, w, False, dev, rows))
    mean_sq, norms = float(mean_sq), float(norms)
    if not np.isfinite(norms):  # this is the fit's check that X is finite
        if namespace_name(xp) == "dask":  # (one compute: no second pass to tell which)
            raise ValueError("Input X contains NaN or infinity: every value must be finite")
        _check_finite(xp, Xf, "X")  # raises, naming NaN or infinity
        (largest,) = to_host(xp.max(xp.abs(Xf)))
        acc = _dtype_name(accumulation_dtype(xp, dev))
        raise ValueError(
            f"X holds values too large for k-means (largest magnitude {float(largest):.3g}): "
            f"the mean of the rows' squared norms overflows {acc}"
        )
    if mean_sq <= CENTRE_ABOVE * (norms - mean_sq):
        return Xf, xp.zeros_like(mean), norms - mean_sq
    (Xc,) = persist(Xf - mean)
    (variance,) = to_host(_mean_sq_norm(xp, Xc, w, False, dev, rows))
    return Xc, mean, float(variance)


def _mean_sq_norm(xp: Any, X: Any, w: Any, unit: bool, dev: Any, rows: int) -> Any:
    """The mean of ||x||^2 over the rows of X weighted by ``w`` (a 0-d array, not on the host),
    summed per chunk of ``rows`` rows, so that no float64 copy of X is made: with ``unit``
    weights as one dot product of the chunk's values in X's dtype (quickest, but it may
    overflow), else per-row dot products summed in float64."""
    acc = accumulation_dtype(xp, dev)
    parts = []
    for a, b in row_chunks(X.shape[0], rows):
        block = X[a:b, ...]
        if unit:  # (a view, unless X's rows are not contiguous: then a chunk-sized copy)
            values = xp.reshape(block, (-1,))
            parts.append(xp.astype(xp.vecdot(values, values), acc))
        else:
            parts.append(xp.sum(xp.vecdot(block, block) * w[a:b], dtype=acc))
    total = parts[0] if len(parts) == 1 else xp.sum(xp.stack(parts))
    return total / xp.sum(xp.astype(w, acc))


def _itemsize(xp: Any, dtype: Any) -> int:
    return 8 if dtype == getattr(xp, "float64", None) else 4


def _dtype_name(dtype: Any) -> str:
    return getattr(dtype, "__name__", str(dtype))  # NumPy's scalar types; others print well
