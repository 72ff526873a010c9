"""``MiniBatchKMeans``: scikit-learn's mini-batch k-means on any Array API library, with
``partial_fit`` for streams and batches streamed from the host to an accelerator.

The centres live in the library and on the device of the data, or of an explicit ``init``
array when that is not a NumPy array; rows of any other source (a NumPy array or memory map, a
Dask array, a SciPy sparse matrix, an array of another library or device) are moved there one
batch at a time (``_streaming``). The step, the reassignment and the early stopping are
scikit-learn's (``_minibatch_step``); the batch sampling, the initialisation on a subset and
the final labels follow ``sklearn.cluster.MiniBatchKMeans.fit`` and ``partial_fit``.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from . import _init
from ._chunked import distances, labels_and_inertia, mean_column_variance, weights_in
from ._estimator import (
    HAVE_SKLEARN,
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    KMeans,
    TransformerMixin,
    _as_namespace,
    _check_finite,
    _check_init_and_n_init,
    _check_non_negative,
    _check_X,
    _is_integer,
    check_is_fitted,
    validate_data,
)
from ._kernels import chunk_rows, kernels_for
from ._minibatch_step import (
    EarlyStopping,
    MiniBatchInfo,
    minibatch_step,
    reassign,
)
from ._streaming import (
    BatchStream,
    Target,
    is_dask,
    is_sparse,
    rows_of,
    source_dtype,
    target_of,
)
from ._xp import (
    accumulation_dtype,
    array_namespace,
    device_of,
    from_numpy,
    host_rng,
    to_host,
    to_numpy,
)

DEFAULT_WORKING_MEMORY_MIB = 256
_INIT_NAMES = ("k-means++", "random")


class MiniBatchKMeans(
    ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator
):
    """Mini-batch k-means (scikit-learn's semantics) on any Array API library.

    Each step draws ``batch_size`` rows (with replacement, with probability proportional to
    ``sample_weight``), assigns them to the nearest centre and moves every centre to the
    weighted mean of all the rows it has absorbed so far; clusters whose weight falls below
    ``reassignment_ratio`` times the largest are moved to random rows of the batch.
    ``partial_fit`` makes one such step on the batch it is given.

    The centres live in the library and on the device of the data (or of ``init`` when it is
    an array of a library other than NumPy); data of another library or device is moved there
    a batch at a time, the next batch's copy overlapping the current step (torch on CUDA: pinned
    memory and a side stream; CuPy: an asynchronous copy on a stream). So a NumPy array, a
    memory-mapped ``.npy`` file or a Dask array larger than the device's memory can be clustered
    on a GPU: see the README.

    Parameters
    ----------
    n_clusters : int, default 8
        Number of clusters k.
    init : {"k-means++", "random"}, array of shape (n_clusters, n_features) or callable, \
default "k-means++"
        "k-means++" (greedy) or "random" rows, drawn from ``init_size`` random rows of X. An
        array gives the centres (and, when it is not a NumPy array, the library and device the
        fit runs in). A callable is called as ``init(X_subset, n_clusters, random_state)`` with
        a ``numpy.random.RandomState`` and returns the centres.
    max_iter : int, default 100
        Passes over the data (epochs): at most ``max_iter * n_samples // batch_size`` steps.
    batch_size : int, default 1024
        Rows per step.
    verbose : int, default 0
        Print the inertia of every initialisation, one line per step and why the fit stopped.
    compute_labels : bool, default True
        After ``fit`` (``partial_fit``), compute ``labels_`` and ``inertia_`` on all of X (the
        batch). Otherwise ``inertia_`` of ``fit`` is the smoothed batch inertia times the total
        weight, and ``labels_`` is not set.
    random_state : None, int, numpy Generator or RandomState
        Seeds the initialisation, the batches and the reassignments (drawn on the host, so one
        seed gives one clustering on every backend).
    tol : float, default 0.0
        Stop when the squared shift of the centres in a step is at most
        ``tol * mean(var(X, axis=0))``; 0 disables this test.
    max_no_improvement : int or None, default 10
        Stop after this many steps without a new lowest smoothed batch inertia; None disables
        this test.
    init_size : int, optional
        Rows drawn for the initialisation (default ``3 * batch_size``, at least
        ``3 * n_clusters``; at most n_samples).
    n_init : "auto" or int, default "auto"
        Initialisations tried (each on its own ``init_size`` rows); the one with the lowest
        inertia on a common validation set of ``init_size`` rows is used. "auto": 1 for
        "k-means++" and arrays, 3 for "random" and callables.
    reassignment_ratio : float, default 0.01
        Clusters lighter than this fraction of the heaviest are reassigned to random rows of
        the batch (checked every ``10 * n_clusters`` rows, and whenever a cluster has no
        weight); 0 disables reassignment.
    working_memory : int, optional
        MiB a chunk of rows may take in the hot operations (default 256); passes over all of X
        (labels, ``predict``, ``transform``) move it to the centres' device in such chunks.
    callback : callable, optional
        Called after every step with a :class:`MiniBatchInfo`.

    Attributes
    ----------
    cluster_centers_ : array of shape (n_clusters, n_features)
    labels_ : array of shape (n_samples,), int64
        In X's library (NumPy for memory maps, sparse matrices and Dask arrays).
    inertia_ : float
    n_iter_ : int
        Epochs started: ``ceil(n_steps_ * batch_size / n_samples)``.
    n_steps_ : int
        Steps made (by ``fit``, or by all the ``partial_fit`` calls).
    n_features_in_ : int
    feature_names_in_ : array of str, shape (n_features_in_,)
        Only when X had string column names (a pandas DataFrame).

    Examples
    --------
    >>> import numpy as np
    >>> from kmeans_xp import MiniBatchKMeans
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [4, 2], [4, 0], [4, 4],
    ...               [4, 5], [0, 1], [2, 2], [3, 2], [5, 5], [1, -1]])
    >>> km = MiniBatchKMeans(n_clusters=2, random_state=0, batch_size=6)
    >>> km = km.partial_fit(X[0:6, :]).partial_fit(X[6:12, :])
    >>> km.cluster_centers_.shape
    (2, 2)
    >>> km.predict(np.array([[0, 0], [4, 4]])).shape
    (2,)
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: str | Any | Callable = "k-means++",
        max_iter: int = 100,
        batch_size: int = 1024,
        verbose: int = 0,
        compute_labels: bool = True,
        random_state: Any = None,
        tol: float = 0.0,
        max_no_improvement: int | None = 10,
        init_size: int | None = None,
        n_init: str | int = "auto",
        reassignment_ratio: float = 0.01,
        working_memory: int | None = None,
        callback: Callable[[MiniBatchInfo], Any] | None = None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.compute_labels = compute_labels
        self.random_state = random_state
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init_size = init_size
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio
        self.working_memory = working_memory
        self.callback = callback

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True
        return tags

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> MiniBatchKMeans:
        """Compute the clustering of ``X`` by mini-batch steps.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            An array of any Array API library, a NumPy memory map, a Dask array, a SciPy
            sparse matrix, a list or a DataFrame. Rows not in the centres' library and device
            are moved there a batch at a time.
        y : ignored
        sample_weight : array of shape (n_samples,), optional
            Batches are drawn with probability proportional to it (and the rows of a batch
            then weigh 1); it also weighs the initialisation and ``inertia_``.

        Returns
        -------
        self : MiniBatchKMeans

        Examples
        --------
        >>> from kmeans_xp import MiniBatchKMeans, make_blobs
        >>> X, _ = make_blobs(2000, 2, centers=3, random_state=0)
        >>> km = MiniBatchKMeans(3, batch_size=256, random_state=0).fit(X)
        >>> km.cluster_centers_.shape, km.labels_.shape
        ((3, 2), (2000,))
        """
        self._check_params()
        X = self._validate_X(X, reset=True)
        n = int(X.shape[0])
        self._check_params_vs_input(n)
        target = self._target(X)
        w_host = _host_weights(sample_weight, n)
        rng = host_rng(self.random_state)
        rng_init, rng_batches, rng_reassign = rng.spawn(3)
        self._tol = self._tolerance(X, target) if self.tol > 0 else 0.0
        k, bs = int(self.n_clusters), self._batch_size
        kernels = kernels_for(target.xp)
        rows = self._rows_for(bs, target)

        valid = rng_init.integers(0, n, self._init_size)
        X_valid = rows_of(X, valid, target)
        w_valid = weights_in(w_host, valid, target)
        best, best_inertia = None, None
        for i in range(self._n_init):
            if self.verbose:
                print(f"Init {i + 1}/{self._n_init} with method {self._init_name()}")
            centers = self._initial_centers(X, w_host, target, rng_init)
            inertia = self._inertia(X_valid, w_valid, centers, kernels, rows)
            if self.verbose:
                print(f"Inertia for init {i + 1}/{self._n_init}: {inertia}")
            if best_inertia is None or inertia < best_inertia:
                best, best_inertia = centers, inertia

        xp, dev = target.xp, target.device
        centers = best
        counts = xp.zeros((k,), dtype=target.dtype, device=dev)
        self._schedule = _Schedule(np.zeros(k))
        stopper = EarlyStopping(
            batch_size=bs, n_samples=n, tol=self._tol, max_no_improvement=self.max_no_improvement
        )
        n_steps = (int(self.max_iter) * n) // bs
        unit = xp.ones((bs,), dtype=target.dtype, device=dev)
        draw = _batch_sampler(rng_batches, n, bs, w_host)
        step = 0
        with kernels.fit_context(X_valid, k), BatchStream(X, target, draw) as batches:
            for step in range(n_steps):
                Xb = batches.next()
                old = centers
                centers, counts, batch_inertia, moved = self._step(
                    Xb, unit, centers, counts, kernels, rows, rng_reassign
                )
                shift = self._shift(centers, old) if self._tol > 0 else 0.0
                self._report(step + 1, centers, counts, batch_inertia, moved)
                if stopper.stop(step, n_steps, shift, batch_inertia, self.verbose):
                    break

        self.cluster_centers_ = centers
        self._counts = counts
        self._n_features_out = k
        self.n_steps_ = step + 1
        self.n_iter_ = int(np.ceil((step + 1) * bs / n))
        if self.compute_labels:
            self.labels_, self.inertia_ = self._labels_inertia(X, w_host, target)
        else:
            ewa = stopper.ewa_inertia if stopper.ewa_inertia is not None else stopper.last_inertia
            self.inertia_ = float(ewa) * (n if w_host is None else float(w_host.sum()))
        return self

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> MiniBatchKMeans:
        """Update the centres by one step on the batch ``X``.

        The first call (on an unfitted model) initialises the centres from ``X`` (or ``init``)
        and decides their library and device; later batches of any library or device are moved
        there and cast to the centres' dtype.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            The batch (any source that :meth:`fit` takes).
        y : ignored
        sample_weight : array of shape (n_samples,), optional
            Weights of the batch's rows in the step.

        Returns
        -------
        self : MiniBatchKMeans

        Examples
        --------
        >>> import numpy as np
        >>> from kmeans_xp import MiniBatchKMeans, make_blobs
        >>> X, _ = make_blobs(600, 2, centers=3, random_state=0)
        >>> km = MiniBatchKMeans(3, random_state=0)
        >>> for start in range(0, 600, 200):
        ...     km = km.partial_fit(X[start:start + 200])
        >>> km.n_steps_
        3
        """
        has_centers = hasattr(self, "cluster_centers_")
        X = self._validate_X(X, reset=not has_centers)
        n = int(X.shape[0])
        if not hasattr(self, "_random_state"):
            self._random_state = host_rng(self.random_state).spawn(2)
        rng_init, rng_reassign = self._random_state
        self.n_steps_ = getattr(self, "n_steps_", 0)
        self._check_params()
        if not has_centers:
            self._check_params_vs_input(n)
        target = self._fitted_target() if has_centers else self._target(X)
        w_host = _host_weights(sample_weight, n)
        Xb = rows_of(X, (0, n), target)
        wb = weights_in(w_host, (0, n), target)
        kernels = kernels_for(target.xp)
        rows = self._rows_for(n, target)
        if not has_centers:
            self.cluster_centers_ = self._initial_centers(Xb, w_host, target, rng_init)
            self._counts = target.xp.zeros(
                (self.n_clusters,), dtype=target.dtype, device=target.device
            )
            self._schedule = _Schedule(np.zeros(self.n_clusters))
        with kernels.fit_context(Xb, int(self.n_clusters)):
            centers, counts, batch_inertia, moved = self._step(
                Xb, wb, self.cluster_centers_, self._counts, kernels, rows, rng_reassign
            )
        self.cluster_centers_, self._counts = centers, counts
        self.n_steps_ += 1
        self._report(self.n_steps_, centers, counts, batch_inertia, moved)
        if self.compute_labels:
            self.labels_, self.inertia_ = self._labels_inertia(X, w_host, target)
        self._n_features_out = int(self.n_clusters)
        return self

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit and return the label of every row (``predict(X)`` when ``compute_labels`` is
        False)."""
        self.fit(X, sample_weight=sample_weight)
        return self.labels_ if self.compute_labels else self.predict(X)

    def fit_transform(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit and return the distances of every row to every centre."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    # ------------------------------------------------------------ inference
    def predict(self, X: Any) -> Any:
        """Index of the nearest centre of every row, in X's library; the centres do not move.

        Rows are moved to the centres' library and device in chunks when they live elsewhere.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)

        Returns
        -------
        labels : array of shape (n_samples,), int64

        Examples
        --------
        >>> import numpy as np
        >>> from kmeans_xp import MiniBatchKMeans
        >>> km = MiniBatchKMeans(2, init=np.array([[0.0], [10.0]])).partial_fit([[0.0], [10.0]])
        >>> km.predict(np.array([[1.0], [9.0]])).tolist()
        [0, 1]
        """
        self._check_input_where(X, "predict")
        X = self._validate_X(X, reset=False)
        labels, _ = self._pass(X, self._fitted_target(), want="labels")
        return labels

    def transform(self, X: Any) -> Any:
        """Euclidean distance of every row to every centre, in X's library; the distance to
        the nearest centre comes from explicit differences, so a row on its centre is at
        distance exactly 0.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)

        Returns
        -------
        distances : array of shape (n_samples, n_clusters)

        Examples
        --------
        >>> import numpy as np
        >>> from kmeans_xp import MiniBatchKMeans
        >>> km = MiniBatchKMeans(2, init=np.array([[0.0], [10.0]])).partial_fit([[0.0], [10.0]])
        >>> km.transform(np.array([[1.0]])).tolist()
        [[1.0, 9.0]]
        """
        self._check_input_where(X, "transform")
        X = self._validate_X(X, reset=False)
        return self._pass(X, self._fitted_target(), want="distances")

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of the (weighted) inertia of ``X`` under the centres, a Python float.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        y : ignored
        sample_weight : array of shape (n_samples,), optional

        Returns
        -------
        score : float

        Examples
        --------
        >>> import numpy as np
        >>> from kmeans_xp import MiniBatchKMeans
        >>> km = MiniBatchKMeans(2, init=np.array([[0.0], [10.0]])).partial_fit([[0.0], [10.0]])
        >>> km.score(np.array([[1.0], [8.0]]))
        -5.0
        """
        self._check_input_where(X, "score")
        X = self._validate_X(X, reset=False)
        _, inertia = self._labels_inertia(
            X, _host_weights(sample_weight, X.shape[0]), self._fitted_target()
        )
        return -inertia

    def _check_input_where(self, X: Any, method: str) -> None:
        """Fitted; and under scikit-learn's ``array_api_dispatch``, X of the fit's library and
        device (scikit-learn's rule, as ``KMeans`` applies it); otherwise anything is moved."""
        check_is_fitted(self, "cluster_centers_")
        KMeans._check_same_namespace(self, X, method)

    # ------------------------------------------------------------ the steps
    def _step(self, Xb, wb, centers, counts, kernels, rows, rng):
        """One step and, when due, the reassignment; one transfer to the host."""
        due = self._random_reassign()
        centers, counts, inertia, _ = minibatch_step(
            Xb, wb, centers, counts, kernels=kernels, chunk_rows=rows
        )
        inertia, counts_host = to_host(inertia, counts)
        schedule = self._schedule
        schedule.counts = np.asarray(counts_host, dtype=np.float64)
        moved = 0
        if due and self.reassignment_ratio > 0:
            centers, new_counts, moved = reassign(
                Xb, centers, schedule.counts, self.reassignment_ratio, rng, verbose=self.verbose
            )
            if moved:
                schedule.counts = new_counts
                xp = array_namespace(centers)
                counts = from_numpy(new_counts, xp, device_of(centers), dtype=counts.dtype)
        return centers, counts, float(inertia), moved

    def _random_reassign(self) -> bool:
        """scikit-learn's schedule: every ``10 * n_clusters`` rows, and whenever a cluster has
        no weight."""
        schedule = self._schedule
        schedule.since_reassign += self._batch_size
        if (schedule.counts == 0).any() or schedule.since_reassign >= 10 * self.n_clusters:
            schedule.since_reassign = 0
            return True
        return False

    def _shift(self, new, old) -> float:
        xp = array_namespace(new)
        acc = accumulation_dtype(xp, device_of(new))
        diff = xp.astype(new - old, acc)
        (shift,) = to_host(xp.sum(diff * diff))
        return float(shift)

    def _report(self, step, centers, counts, batch_inertia, moved) -> None:
        if self.callback is not None:
            self.callback(MiniBatchInfo(step, centers, counts, batch_inertia, moved))

    # ------------------------------------------------------- passes over X
    def _pass(self, X: Any, target: Target, *, want: str, w_host: Any = None) -> Any:
        rows = self._rows_for(int(X.shape[0]), target)
        if want == "distances":
            return distances(X, self.cluster_centers_, target, rows)
        return labels_and_inertia(X, self.cluster_centers_, w_host, target, rows)

    def _labels_inertia(self, X, w_host, target) -> tuple[Any, float]:
        return self._pass(X, target, want="labels", w_host=w_host)

    def _inertia(self, X, w, centers, kernels, rows) -> float:
        xp = array_namespace(X)
        _, sqdist = kernels.assign(X, centers, chunk_rows=rows)
        acc = accumulation_dtype(xp, device_of(X))
        (inertia,) = to_host(xp.sum(xp.astype(sqdist, acc) * xp.astype(w, acc)))
        return float(inertia)

    def _tolerance(self, X, target) -> float:
        """``tol`` times the mean variance of the columns (scikit-learn's, unweighted)."""
        rows = self._rows_for(int(X.shape[0]), target)
        return mean_column_variance(X, target, rows) * self.tol

    # ------------------------------------------------------------ init
    def _init_name(self) -> str:
        return self.init if isinstance(self.init, str) else type(self.init).__name__

    def _initial_centers(self, X, w_host, target, rng) -> Any:
        """Centres from ``init`` on ``init_size`` random rows of X (scikit-learn's subset)."""
        k = int(self.n_clusters)
        n = int(X.shape[0])
        if not (isinstance(self.init, str) or callable(self.init)):
            return self._explicit_centers(self.init, target, X.shape[1])
        subset = rng.integers(0, n, self._init_size) if self._init_size < n else (0, n)
        Xs = rows_of(X, subset, target)
        ws = weights_in(w_host, subset, target)
        if self.init == "k-means++":
            centers, _ = _init.kmeans_plusplus(Xs, k, ws, rng)
        elif self.init == "random":
            centers, _ = _init.random_rows(Xs, k, ws, rng, unit_weight=w_host is None)
        else:
            legacy = np.random.RandomState(rng.integers(2**32 - 1))
            centers = self._explicit_centers(self.init(Xs, k, legacy), target, X.shape[1])
        return centers

    def _explicit_centers(self, given, target, n_features) -> Any:
        if is_sparse(given):
            raise TypeError(f"init must be a dense array; got a sparse {type(given).__name__}")
        centers = _as_namespace(given, target.xp, target.device, target.dtype, "init")
        k = int(self.n_clusters)
        if centers.shape[0] != k:
            raise ValueError(
                f"The shape of the initial centers {tuple(centers.shape)} does not match the "
                f"number of clusters {k}."
            )
        if centers.shape[1] != n_features:
            raise ValueError(
                f"The shape of the initial centers {tuple(centers.shape)} does not match the "
                f"number of features of the data {n_features}."
            )
        _check_finite(target.xp, centers, "init")
        return centers

    # --------------------------------------------------------- placement
    def _target(self, X) -> Target:
        """Where the centres live: an explicit init array of a library other than NumPy
        decides, else X (host sources: NumPy)."""
        init = self.init
        decides = (
            array_api_compat.is_array_api_obj(init)
            and not isinstance(init, np.ndarray)
            and not is_dask(init)
        )
        xp, device = target_of(init if decides else X)
        return Target(xp, device, source_dtype(X, xp, device))

    def _fitted_target(self) -> Target:
        centers = self.cluster_centers_
        return Target(array_namespace(centers), device_of(centers), centers.dtype)

    def _rows_for(self, n: int, target: Target) -> int:
        k, d = int(self.n_clusters), int(self.n_features_in_)
        itemsize = 8 if target.dtype == getattr(target.xp, "float64", None) else 4
        mib = DEFAULT_WORKING_MEMORY_MIB if self.working_memory is None else self.working_memory
        return chunk_rows(max(1, n), k, d, itemsize, int(mib * 2**20))

    # --------------------------------------------------------- validation
    def _validate_X(self, X: Any, *, reset: bool) -> Any:
        """X checked as scikit-learn checks it (host data, sparse included, through its own
        ``validate_data``; arrays of other libraries in their own namespace); records
        (``reset``) or checks ``n_features_in_`` and ``feature_names_in_``."""
        if HAVE_SKLEARN and (is_sparse(X) or _is_host_data(X)):
            return validate_data(
                self, X, reset=reset, accept_sparse="csr", dtype=[np.float64, np.float32]
            )
        if is_sparse(X):
            raise TypeError("sparse X needs scikit-learn installed (for its input checks)")
        checked = _check_X(X, type(self).__name__)
        validate_data(
            self, X if hasattr(X, "columns") else checked, reset=reset, skip_check_array=True
        )
        return checked

    def _check_params(self) -> None:
        k = self.n_clusters
        if not _is_integer(k) or k < 1:
            raise ValueError(f"n_clusters must be an integer >= 1; got {k!r}")
        for name in ("max_iter", "batch_size"):
            value = getattr(self, name)
            if not (_is_integer(value) and value >= 1):
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
        for name in ("tol", "reassignment_ratio"):
            _check_non_negative(name, getattr(self, name))
        m = self.max_no_improvement
        if m is not None and not (_is_integer(m) and m >= 0):
            raise ValueError(f"max_no_improvement must be None or an integer >= 0; got {m!r}")
        s = self.init_size
        if s is not None and not (_is_integer(s) and s >= 1):
            raise ValueError(f"init_size must be None or an integer >= 1; got {s!r}")
        _check_init_and_n_init(self.init, self.n_init, _INIT_NAMES)
        if not isinstance(self.compute_labels, (bool, np.bool_)):
            raise ValueError(f"compute_labels must be True or False; got {self.compute_labels!r}")

    def _check_params_vs_input(self, n_samples: int) -> None:
        """scikit-learn's derived settings: ``_batch_size``, ``_init_size`` and ``_n_init``."""
        k = int(self.n_clusters)
        if n_samples < k:
            raise ValueError(
                f"n_samples={n_samples} should be >= n_clusters={k}: there must be at least as "
                "many rows as clusters"
            )
        explicit = not isinstance(self.init, str) and not callable(self.init)
        if self.n_init == "auto":
            self._n_init = 1 if explicit or self.init == "k-means++" else 3
        else:
            self._n_init = int(self.n_init)
        if explicit and self._n_init != 1:
            warnings.warn(
                "Explicit initial center position passed: performing only one init in "
                f"{type(self).__name__} instead of n_init={self._n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
            self._n_init = 1
        self._batch_size = min(int(self.batch_size), n_samples)
        size = self.init_size
        if size is None:
            size = 3 * self._batch_size
            if size < k:
                size = 3 * k
        elif size < k:
            warnings.warn(
                f"init_size={size} should be larger than n_clusters={k}. Setting it to "
                "min(3*n_clusters, n_samples)",
                RuntimeWarning,
                stacklevel=3,
            )
            size = 3 * k
        self._init_size = min(int(size), n_samples)


# ------------------------------------------------------------------- helpers
@dataclass
class _Schedule:
    """The host's view of the steps, for the reassignment schedule: the counts after the last
    step (float64) and the rows stepped through since the last reassignment check. (Kept out
    of the estimator's own attributes, whose arrays are all of the centres' library.)"""

    counts: np.ndarray
    since_reassign: int = 0


def _is_host_data(X: Any) -> bool:
    return isinstance(X, np.ndarray) or not array_api_compat.is_array_api_obj(X)


def _host_weights(sample_weight: Any, n: int) -> np.ndarray | None:
    """``sample_weight`` checked, as float64 on the host (None: every row weighs 1)."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real):
        w = np.full(n, float(sample_weight))
    else:
        try:
            w = np.asarray(to_numpy(sample_weight), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"sample_weight must be an array of real numbers: {exc}") from None
    if w.shape != (n,):
        raise ValueError(
            f"sample_weight must have shape ({n},), one weight per row of X; got shape {w.shape}"
        )
    if not np.all(np.isfinite(w)):
        found = "NaN" if np.isnan(w).any() else "infinity"
        raise ValueError(f"Input sample_weight contains {found}: every weight must be finite")
    if (w < 0).any():
        raise ValueError("sample_weight must be >= 0; got negative weights")
    if not w.sum() > 0:
        raise ValueError("sample_weight must not be all zero; got a total weight of 0")
    return w.copy()


def _batch_sampler(rng: np.random.Generator, n: int, size: int, w: np.ndarray | None):
    """Draws of ``size`` row indices with replacement, with probability proportional to ``w``
    (scikit-learn's ``choice(n, size, p=w / w.sum())``, through cumulative weights made once);
    equal weights draw exactly what no weights draw."""
    if w is None or np.all(w == w[0]):
        return lambda: rng.integers(0, n, size)
    cumulative = np.cumsum(w)

    def draw() -> np.ndarray:
        picked = np.searchsorted(cumulative, rng.random(size) * cumulative[-1], side="right")
        return np.minimum(picked, n - 1)

    return draw
