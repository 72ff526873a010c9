"""``KMeans``, the scikit-learn-style estimator, and the ``kmeans`` and ``k_means`` functions.

Inputs are validated here, where they enter; the engine (``_lloyd``, ``_kernels``) trusts them.
SciPy sparse matrices are checked by ``_sparse`` and fitted by its kernels. Host data (NumPy
arrays, lists, DataFrames) goes through scikit-learn's own
``validate_data`` when scikit-learn is installed, so it is accepted or refused exactly as
scikit-learn does; arrays of the other libraries are checked here, in their own namespace and on
their own device, with messages worded like scikit-learn's.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

import array_api_compat
import numpy as np

from . import _init, _sparse
from ._kernels import kernels_for
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
    unit_weights,
    without_autograd,
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
    same library on the same device, and on SciPy sparse matrices and arrays (CSR; other formats
    are converted) without densifying them, with dense NumPy centres. Semantics follow
    ``sklearn.cluster.KMeans``; lists and pandas DataFrames are accepted as scikit-learn
    accepts them (``feature_names_in_`` is recorded). Under
    ``sklearn.config_context(array_api_dispatch=True)`` it is the last step of an array-API
    pipeline, and ``predict``/``transform``/``score`` then insist on the namespace and device
    of ``fit``, as scikit-learn's estimators do; without dispatch the fitted centres
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
        "random": k distinct rows. A callable is called as scikit-learn calls it,
        ``init(X, n_clusters, random_state=rs)``, with the caller's X (as floats; a SciPy CSR
        matrix for sparse X) and a ``numpy.random.RandomState`` (NumPy's global one when
        ``random_state`` is None; a Generator given as ``random_state`` is passed as it is), and
        returns the centres.
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
        Print one line per iteration (inertia, center shift) and why the run stopped.
    random_state : None, int, numpy Generator or RandomState
        Seeds every random choice; draws are made on the host, so one seed gives one clustering
        on every backend.
    copy_x : bool, default True
        Accepted for scikit-learn compatibility (a bool is required). X is never modified,
        whatever its value.
    algorithm : {"lloyd", "elkan"}, default "lloyd"
        Accepted for scikit-learn compatibility; both run the same iterates (Elkan's are
        Lloyd's in exact arithmetic). The NumPy kernels keep Hamerly's bounds, Elkan's
        lighter cousin, wherever they pay (many clusters or features), whichever is named.
        "elkan" with one cluster warns as scikit-learn does.
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
        tags.input_tags.sparse = True  # SciPy sparse matrices and arrays (see _sparse)
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
        self._check_run_params(X.shape[1])
        if _sparse.is_sparse(X):
            return self._fit_sparse(X, sample_weight)
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
        mean = (w @ Xf) / (n if sample_weight is None else xp.sum(w))
        # these sums need no temporaries beyond a chunk: chunks of the whole budget
        whole = max(1, self._working_memory_bytes() // (d * _itemsize(xp, dtype)))
        Xc, mean, variance = _centred(xp, Xf, w, sample_weight is None, mean, dev, whole)
        tol = self.tol * variance / d
        n_init = self._resolved_n_init()
        kernels = kernels_for(xp)
        # sized from the memory still free once a centred copy, if any, exists
        rows = kernels.chunk_rows(Xc, k, self._working_memory_bytes())
        rng = self._init_rng()

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
        self._n_init = n_init
        self._warn_if_fewer_clusters()
        return self

    def _fit_sparse(self, X: Any, sample_weight: Any) -> KMeans:
        """The fit of a SciPy CSR ``X``: the same runs as ``_fit``, on ``_sparse``'s kernels;
        X is never densified, nor centred (a centred sparse matrix is dense)."""
        n, d = X.shape
        k = int(self.n_clusters)
        w = _check_sample_weight(sample_weight, n, np, None, X.dtype)
        _, variance = _sparse.weighted_mean_variance(X, w)
        tol = self.tol * variance / d
        n_init = self._resolved_n_init()
        rng = self._init_rng()
        zero = np.zeros(d, dtype=X.dtype)
        best = None
        for _ in range(n_init):
            centers = self._initial_centers(X, X, zero, w, k, rng, sample_weight is None)
            if self.verbose:
                print("Initialization complete")
            run = _sparse.lloyd_sparse(
                X,
                centers,
                w,
                max_iter=int(self.max_iter),
                tol=tol,
                verbose=self.verbose,
                callback=self.callback,
            )
            if best is None or run.inertia < best.inertia:
                best = run
        self.cluster_centers_ = best.centers
        self._centred_fit = False
        self.labels_ = best.labels
        self.inertia_ = best.inertia
        self.n_iter_ = best.n_iter
        self.stop_reason_ = best.stop_reason
        self._n_features_out = k
        self._n_init = n_init
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
        if _sparse.is_sparse(Xc):
            return _sparse.assign(Xc, centers)[0]
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
        if _sparse.is_sparse(Xc):
            return _sparse.transform(Xc, centers, _sparse.row_sq_norms(Xc))
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
            parts.append(xp.astype(xp.sqrt(xp.maximum(sq, 0.0)), Xc.dtype))
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
        if _sparse.is_sparse(Xc):
            w = _check_sample_weight(sample_weight, Xc.shape[0], np, None, Xc.dtype)
            return -float(w @ _sparse.assign(Xc, centers)[1])
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
        if _sparse.is_sparse(X):  # (its stored values are checked finite: that costs little)
            checked = _sparse.check_X(X, type(self).__name__)
            validate_data(self, checked, reset=reset, skip_check_array=True)
            return checked
        if reset and not finite and _is_float_matrix(X):
            # what validate_data does with a float NumPy matrix when finiteness is left to the
            # fit (it records the width and forgets feature names), without its 50-90 us
            self.n_features_in_ = X.shape[1]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            return X
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
        _check_non_negative("tol", self.tol)
        _check_init_and_n_init(self.init, self.n_init, _INIT_NAMES)
        if self.algorithm not in _ALGORITHMS:
            raise ValueError(f"algorithm must be one of {_ALGORITHMS}; got {self.algorithm!r}")
        if self.algorithm == "elkan" and k == 1:  # scikit-learn's warning
            warnings.warn(
                "algorithm='elkan' doesn't make sense for a single cluster. Using 'lloyd' instead.",
                RuntimeWarning,
                stacklevel=3,
            )
        if not isinstance(self.copy_x, (bool, np.bool_)):
            raise ValueError(
                f"The 'copy_x' parameter of {type(self).__name__} must be an instance of "
                f"'bool'; got {self.copy_x!r}"
            )
        wm = self.working_memory
        if wm is not None and not (
            isinstance(wm, numbers.Real) and not isinstance(wm, bool) and 0 < wm < math.inf
        ):
            raise ValueError(f"working_memory must be a positive finite number of MiB; got {wm!r}")

    def _check_run_params(self, n_features: int) -> None:
        """The parameters that the loop and the initialisation use, checked before any work:
        ``verbose``, ``callback``, ``random_state`` and explicit ``init`` centres."""
        verbose = self.verbose
        if not (isinstance(verbose, numbers.Integral) and verbose >= 0):
            raise ValueError(f"verbose must be an integer >= 0 (or a bool); got {verbose!r}")
        if self.callback is not None and not callable(self.callback):
            raise ValueError(
                "callback must be None or a callable taking an IterationInfo; "
                f"got {self.callback!r}"
            )
        random_state = self.random_state
        if not (
            random_state is None
            or isinstance(random_state, (numbers.Integral, np.random.Generator))
            or isinstance(random_state, np.random.RandomState)
        ):
            raise ValueError(
                "random_state must be None, an int, a numpy Generator or RandomState; "
                f"got {random_state!r}"
            )
        init = self.init
        if isinstance(init, str) or callable(init):
            return
        shape = tuple(getattr(init, "shape", None) or np.shape(init))
        _check_init_shape(shape, int(self.n_clusters), n_features)
        _check_not_complex(init, "init")

    def _resolved_n_init(self) -> int:
        explicit = not isinstance(self.init, str) and not callable(self.init)
        if self.n_init == "auto":
            return 1 if explicit or self.init in ("auto", "k-means++", "k-means||") else 10
        if explicit and self.n_init != 1:
            warnings.warn(  # scikit-learn's words
                "Explicit initial center position passed: performing only one init in "
                f"{type(self).__name__} instead of n_init={self.n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
            return 1
        return int(self.n_init)

    def _initial_centers(self, Xf, Xc, mean, w, k, rng, unit_weight):
        sparse = _sparse.is_sparse(Xc)
        xp = np if sparse else array_namespace(Xc)
        dev = None if sparse else device_of(Xc)
        if isinstance(self.init, str):
            init = self.init
            if init == "auto":  # k-means|| reads X far fewer times: the default on Dask
                init = "k-means||" if namespace_name(xp) == "dask" else "k-means++"
            if sparse:
                return _sparse_initial_centers(init, Xc, k, w, rng, unit_weight)
            if init == "k-means++":
                centers, _ = _init.kmeans_plusplus(
                    Xc, k, w, rng, working_memory=self._working_memory_bytes()
                )
            elif init == "k-means||":
                centers, _ = _init.kmeans_parallel(
                    Xc, k, w, rng, working_memory=self._working_memory_bytes()
                )
            else:
                centers, _ = _init.random_rows(Xc, k, w, rng, unit_weight=unit_weight)
            return centers
        # called as scikit-learn calls it (with a RandomState, see _init_rng)
        given = self.init(Xf, k, random_state=rng) if callable(self.init) else self.init
        if _sparse.is_sparse(given):  # a callable may return rows of a sparse X
            given = given.toarray()
        centers = _as_namespace(given, xp, dev, Xc.dtype, "init")
        _check_init_shape(tuple(centers.shape), k, Xc.shape[1])
        _check_finite(xp, centers, "init")
        return centers - mean

    def _init_rng(self) -> Any:
        """What the initialisations draw from: a Generator for the built-in ones; for a callable
        ``init``, what scikit-learn hands it (a RandomState: None gives NumPy's global one, an
        int a seeded one; a RandomState or Generator is passed as it is); nothing for explicit
        centres (which draw nothing, and a generator seeded by the OS takes a while)."""
        if callable(self.init):
            state = self.random_state
            if state is None:
                return np.random.mtrand._rand
            if isinstance(state, (numbers.Integral, np.integer)):
                return np.random.RandomState(state)
            return state
        if not isinstance(self.init, str):
            return None
        return host_rng(self.random_state)

    def _working_memory_bytes(self) -> int:
        mib = DEFAULT_WORKING_MEMORY_MIB if self.working_memory is None else self.working_memory
        return int(mib * 2**20)

    def _rows_for(self, X, xp) -> int:
        k = self.cluster_centers_.shape[0]
        return kernels_for(xp).chunk_rows(X, k, self._working_memory_bytes())

    def _centred_input(self, X, method):
        """X as floats and the centres, both in X's namespace and on X's device (fitted
        centres are converted when X lives elsewhere); both less the centres' mean when the
        fit centred its data (its mean was far from 0), so that precision is kept alike."""
        check_is_fitted(self, "cluster_centers_")
        self._check_same_namespace(X, method)
        X = self._validate_X(X, reset=False)
        if _sparse.is_sparse(X):
            return X, np.asarray(to_numpy(self.cluster_centers_), dtype=X.dtype), np
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


def k_means(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    init: str | Any | Callable = "k-means++",
    n_init: str | int = "auto",
    max_iter: int = 300,
    verbose: bool = False,
    tol: float = 1e-4,
    random_state: Any = None,
    copy_x: bool = True,
    algorithm: str = "lloyd",
    return_n_iter: bool = False,
) -> tuple:
    """K-means as a function, with the signature and returns of ``sklearn.cluster.k_means``.

    Parameters
    ----------
    X : array or SciPy sparse matrix of shape (n_samples, n_features)
    n_clusters : int
    sample_weight, init, n_init, max_iter, verbose, tol, random_state, copy_x, algorithm
        As for :class:`KMeans`.
    return_n_iter : bool, default False
        Whether to return the number of iterations as well.

    Returns
    -------
    centroid : array of shape (n_clusters, n_features)
    label : array of shape (n_samples,)
    inertia : float
    best_n_iter : int
        Only when ``return_n_iter`` is True.

    Examples
    --------
    >>> import numpy as np
    >>> from kmeans_xp import k_means
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> centers, labels, inertia = k_means(X, 2, init=X[[0, 2]])
    >>> centers
    array([[ 0. ,  0.5],
           [10. ,  0.5]])
    >>> labels, inertia
    (array([0, 0, 1, 1]), 1.0)
    """
    est = KMeans(
        n_clusters,
        init=init,
        n_init=n_init,
        max_iter=max_iter,
        verbose=verbose,
        tol=tol,
        random_state=random_state,
        copy_x=copy_x,
        algorithm=algorithm,
    ).fit(X, sample_weight=sample_weight)
    if return_n_iter:
        return est.cluster_centers_, est.labels_, est.inertia_, est.n_iter_
    return est.cluster_centers_, est.labels_, est.inertia_


def kmeans_plusplus(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    x_squared_norms: Any = None,
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
        Data of any Array API library, or a SciPy sparse matrix (the centres are then dense).
    n_clusters : int
        Number of centres to choose, between 1 and n_samples.
    sample_weight : array of shape (n_samples,), optional
        Weight of every row; rows of weight 0 are never chosen.
    x_squared_norms : array of shape (n_samples,), optional
        The rows' squared norms, checked; they spare a pass over a sparse X (dense rows'
        norms are taken afresh, in the order the draws walk them).
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
    if _sparse.is_sparse(X):
        X = _sparse.check_X(X, "kmeans_plusplus")
    else:
        X = _check_X(X, "kmeans_plusplus")
    n = X.shape[0]
    if not _is_integer(n_clusters) or not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be an integer in [1, n_samples={n}]; got {n_clusters!r}")
    if n_local_trials is not None and not (_is_integer(n_local_trials) and n_local_trials >= 1):
        raise ValueError(f"n_local_trials must be None or an integer >= 1; got {n_local_trials!r}")
    if x_squared_norms is not None:
        x_squared_norms = _check_squared_norms(x_squared_norms, n)
    if _sparse.is_sparse(X):
        w = _check_sample_weight(sample_weight, n, np, None, X.dtype)
        return _sparse.kmeans_plusplus(
            X,
            int(n_clusters),
            w,
            host_rng(random_state),
            x_sq=x_squared_norms,
            n_local_trials=n_local_trials,
        )
    xp = array_namespace(X)
    dev = device_of(X)
    rng = host_rng(random_state)
    dtype = float_dtype(xp, X.dtype, dev)
    Xf = xp.astype(X, dtype, copy=False)  # never written
    w = _check_sample_weight(sample_weight, n, xp, dev, dtype)
    budget = DEFAULT_WORKING_MEMORY_MIB * 2**20
    # refused as KMeans refuses it: the distances would overflow X's dtype
    _check_squares(xp, Xf, dev, max(1, budget // (16 * X.shape[1])))
    _, indices = _init.kmeans_plusplus(
        Xf, int(n_clusters), w, rng, n_local_trials=n_local_trials, working_memory=budget
    )
    return xp.take(Xf, indices, axis=0), indices


def _sparse_initial_centers(init, X, k, w, rng, unit_weight):
    """The named initialisation on a SciPy CSR ``X``: dense centres (k x d)."""
    if init == "k-means++":
        return _sparse.kmeans_plusplus(X, k, w, rng)[0]
    if init == "k-means||":
        return _sparse.kmeans_parallel(X, k, w, rng)[0]
    return _sparse.random_rows(X, k, w, rng, unit_weight=unit_weight)[0]


def _check_init_shape(shape: tuple, k: int, d: int) -> None:
    """scikit-learn's messages for explicit centres of the wrong shape."""
    if len(shape) != 2 or shape[0] != k:
        raise ValueError(
            f"The shape of the initial centers {shape} does not match the number of clusters "
            f"{k}: init must have shape (n_clusters, n_features) = ({k}, {d})."
        )
    if shape[1] != d:
        raise ValueError(
            f"The shape of the initial centers {shape} does not match the number of features "
            f"of the data {d}: init must have shape (n_clusters, n_features) = ({k}, {d})."
        )


def _check_squared_norms(norms: Any, n: int) -> np.ndarray:
    """``x_squared_norms`` as float64 on the host: one finite, non-negative value per row."""
    norms = np.asarray(to_numpy(norms), dtype=np.float64)
    if norms.ndim != 1 or norms.shape[0] != n:
        length = norms.shape[0] if norms.ndim else norms.shape
        raise ValueError(
            f"The length of x_squared_norms {length} should be equal to the length of "
            f"n_samples {n}: one squared norm per row of X (got shape {norms.shape})."
        )
    if not np.all(np.isfinite(norms)) or np.any(norms < 0):
        raise ValueError("x_squared_norms must hold finite, non-negative numbers")
    return norms


# ---------------------------------------------------------------- validation
def _check_non_negative(name: str, value: Any) -> None:
    """A real number >= 0 (not a bool), or a ValueError naming ``name`` and the value."""
    if not (isinstance(value, numbers.Real) and not isinstance(value, bool) and value >= 0):
        raise ValueError(f"{name} must be a number >= 0; got {value!r}")


def _check_init_and_n_init(init: Any, n_init: Any, names: tuple[str, ...]) -> None:
    """``init``: one of ``names``, an array or a callable; ``n_init``: 'auto' or an int >= 1."""
    if not (
        (isinstance(n_init, str) and n_init == "auto") or (_is_integer(n_init) and n_init >= 1)
    ):
        raise ValueError(f"n_init must be 'auto' or an integer >= 1; got {n_init!r}")
    if isinstance(init, str) and init not in names:
        raise ValueError(f"init must be one of {names}, an array or a callable; got {init!r}")


def _is_host_data(X: Any) -> bool:
    """NumPy arrays and what is not an array of an Array API library (lists, DataFrames...)."""
    return isinstance(X, np.ndarray) or not array_api_compat.is_array_api_obj(X)


def _is_float_matrix(X: Any) -> bool:
    """A NumPy float32 or float64 array (not a subclass) of at least one row and column."""
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _FLOAT_DTYPES
        and X.shape[0] >= 1
        and X.shape[1] >= 1
    )


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


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
    X = without_autograd(_check_tensor_storage(X, "X", caller))
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


def _check_tensor_storage(a: Any, name: str, caller: str) -> Any:
    """Refuse torch tensors whose values k-means cannot read: sparse layouts and the ``meta``
    device (shapes without data)."""
    if not type(a).__module__.startswith("torch"):
        return a
    layout = str(getattr(a, "layout", "torch.strided"))
    if layout != "torch.strided":
        raise TypeError(
            f"{name} is a sparse torch tensor (layout {layout}), but {caller} requires dense "
            "data. Use '.to_dense()' to convert it."
        )
    if getattr(a, "is_meta", False):
        raise TypeError(
            f"{name} is a torch tensor on the 'meta' device, which holds no values; {caller} "
            "needs a tensor on a device with data (cpu, cuda, ...)."
        )
    return a


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
        return unit_weights(xp, n, dtype, dev)
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
    _check_not_complex(a, name)
    if array_api_compat.is_array_api_obj(a):
        a = without_autograd(_check_tensor_storage(a, name, "KMeans"))
        same_library = array_api_compat.array_namespace(a) is xp
        if same_library and device_of(a) == dev:
            return xp.astype(a, dtype)
        a = to_numpy(a)
    try:
        host = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of real numbers: {exc}") from None
    return from_numpy(host, xp, dev, dtype=dtype)


def _check_not_complex(a: Any, name: str) -> None:
    """Complex ``sample_weight`` or ``init`` are refused as complex X is (converting them
    would drop their imaginary parts)."""
    if array_api_compat.is_array_api_obj(a):
        complex_ = _is_complex(array_api_compat.array_namespace(a), a.dtype)
        dtype = a.dtype
    else:
        try:
            dtype = np.asarray(a).dtype
        except (TypeError, ValueError):
            return  # refused by the conversion, with its own message
        complex_ = dtype.kind == "c"
    if complex_:
        raise ValueError(
            f"Complex data not supported: {name} has dtype {dtype}; real numbers are expected."
        )


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
        mean_sq, norms = to_host(mean @ mean, quick)
        if not (np.isfinite(norms) and np.isfinite(mean_sq)):
            # X holds NaN or infinity, or its dtype overflowed: this is the fit's check that X
            # is finite and that the squares the kernels compute fit in X's dtype
            if namespace_name(xp) != "dask":
                _check_finite(xp, Xf, "X")  # raises, naming NaN or infinity
            elif np.isnan(norms) or np.isnan(mean_sq):  # (Dask: no second pass to tell which)
                raise ValueError("Input X contains NaN or infinity: every value must be finite")
            _check_squares(xp, Xf, dev, rows)
            # each row's squares fit: only the sum overflowed X's dtype; in float64 it may not
            (norms,) = to_host(_mean_sq_norm(xp, Xf, w, False, dev, rows))
    mean_sq, norms = float(mean_sq), float(norms)
    if not np.isfinite(norms):
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


def _check_squares(xp: Any, X: Any, dev: Any, rows: int) -> None:
    """Refuse X when the squares k-means computes in X's dtype overflow it: the scores
    ||c||^2 - 2 x.c and squared distances reach four times the largest squared norm of a row,
    which is computed here in the accumulation dtype, a chunk of ``rows`` at a time. The
    message names the dtype that overflows and the values."""
    acc = accumulation_dtype(xp, dev)
    largest, row_max = [], []
    with np.errstate(over="ignore", invalid="ignore"):  # the overflows are what is looked for
        for a, b in row_chunks(X.shape[0], rows):
            block = xp.astype(X[a:b, ...], acc)
            largest.append(xp.max(xp.abs(block)))
            row_max.append(xp.max(xp.sum(block * block, axis=1)))
        largest, max_sq = (float(v.max()) for v in to_host(xp.stack(largest), xp.stack(row_max)))
    if not (np.isfinite(largest) and not np.isnan(max_sq)):
        raise ValueError("Input X contains NaN or infinity: every value must be finite")
    if not np.isfinite(max_sq):
        raise ValueError(
            f"X holds values too large for k-means (largest magnitude {largest:.3g}): the "
            f"squared norm of a row overflows {_dtype_name(acc)}"
        )
    limit = float(xp.finfo(X.dtype).max)
    if 4.0 * max_sq > limit:
        name = _dtype_name(X.dtype)
        raise ValueError(
            f"X holds values too large for k-means in {name} (largest magnitude {largest:.3g}): "
            f"squared distances reach {4.0 * max_sq:.3g}, which overflows {name} (largest "
            f"value {limit:.3g}). Scale X down, or pass it as float64."
        )


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
            parts.append(xp.astype(values @ values, acc))
        else:
            parts.append(xp.sum(xp.vecdot(block, block) * w[a:b], dtype=acc))
    total = parts[0] if len(parts) == 1 else xp.sum(xp.stack(parts))
    if unit:
        return total / X.shape[0]
    return total / xp.sum(w, dtype=acc)  # (no float64 copy of the weights)


def _itemsize(xp: Any, dtype: Any) -> int:
    return 8 if dtype == getattr(xp, "float64", None) else 4


def _dtype_name(dtype: Any) -> str:
    # NumPy's scalar types have a name; the others print as "torch.float32" and the like
    return getattr(dtype, "__name__", str(dtype)).rsplit(".", 1)[-1]
