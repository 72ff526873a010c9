"""Synthetic data on any namespace and device, with no scikit-learn needed."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._xp import compat_namespace, from_numpy, index_dtype


def make_blobs(
    n_samples: int = 100,
    n_features: int = 2,
    *,
    centers: int | Any = None,
    cluster_std: float | Any = 1.0,
    center_box: tuple[float, float] = (-10.0, 10.0),
    shuffle: bool = True,
    random_state: int | np.random.RandomState | None = None,
    xp: Any = None,
    device: Any = None,
    dtype: Any = None,
) -> tuple[Any, Any]:
    """Isotropic Gaussian blobs: ``X`` (n_samples x n_features) and the blob of each row ``y``.

    Draws the same numbers as ``sklearn.datasets.make_blobs`` for the same integer seed, so the
    article's data (``make_blobs(2000, 2, centers=3, cluster_std=1.35, random_state=11)``) is
    identical with or without scikit-learn. The draws are made on the host with NumPy and
    returned as arrays of ``xp`` (default NumPy) on ``device``; ``dtype`` defaults to float64
    (float32 on namespaces without it), ``y`` is int64.

    Parameters
    ----------
    n_samples : int
        Total number of points, split as evenly as possible among the blobs.
    n_features : int
        Number of coordinates of each point (ignored when ``centers`` is an array).
    centers : int or array of shape (n_centers, n_features), default 3
        How many blobs (their centres drawn uniformly in ``center_box``), or the centres.
    cluster_std : float or sequence of floats
        Standard deviation of each blob.
    center_box : (float, float), default (-10.0, 10.0)
        Bounds of the box the centres are drawn in, when ``centers`` is an int.
    shuffle : bool, default True
        Shuffle the rows (otherwise they come blob by blob).
    random_state : None, int or numpy RandomState
        Seeds the draws; an int gives scikit-learn's numbers.
    xp : array namespace or module, optional
        Library of the arrays returned (``torch``, ``cupy``, ``jax.numpy``, ...); NumPy
        arrays when omitted.
    device : optional
        Device of the arrays returned, as ``xp`` names it.
    dtype : optional
        dtype of ``X``.

    Returns
    -------
    X : array of shape (n_samples, n_features)
        The points.
    y : array of shape (n_samples,)
        The blob each point was drawn from (int64, or the namespace's index type where it has
        no int64).

    Examples
    --------
    >>> import numpy as np
    >>> from kmeans_xp import make_blobs
    >>> X, y = make_blobs(n_samples=300, centers=3, random_state=0)
    >>> X.shape, X.dtype, y.shape
    ((300, 2), dtype('float64'), (300,))
    >>> np.bincount(y)
    array([100, 100, 100])
    >>> X, y = make_blobs(10, centers=[[0.0, 0.0], [5.0, 5.0]], cluster_std=0.1, random_state=0)
    >>> np.round(X[y == 1].mean(axis=0))
    array([5., 5.])
    """
    if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}")
    rng = (
        random_state
        if isinstance(random_state, np.random.RandomState)
        else np.random.RandomState(random_state)
    )
    if centers is None:
        centers = 3
    if isinstance(centers, numbers.Integral):
        if centers < 1:
            raise ValueError(f"centers must be a positive integer or an array; got {centers!r}")
        centers = rng.uniform(center_box[0], center_box[1], size=(int(centers), n_features))
    else:
        centers = np.asarray(centers, dtype=np.float64)
        if centers.ndim != 2:
            raise ValueError(
                f"centers must be an int or a 2-D array; got an array of shape {centers.shape}"
            )
        n_features = centers.shape[1]
    n_centers = centers.shape[0]
    stds = np.broadcast_to(np.asarray(cluster_std, dtype=np.float64), (n_centers,))
    per_center = [n_samples // n_centers] * n_centers
    for i in range(n_samples % n_centers):
        per_center[i] += 1

    X = np.empty((n_samples, n_features), dtype=np.float64)
    y = np.empty((n_samples,), dtype=np.int64)
    start = 0
    for i, (count, std) in enumerate(zip(per_center, stds)):
        X[start : start + count] = rng.normal(loc=centers[i], scale=std, size=(count, n_features))
        y[start : start + count] = i
        start += count
    if shuffle:
        order = np.arange(n_samples)
        rng.shuffle(order)
        X, y = X[order], y[order]

    if xp is None:
        return (X if dtype is None else X.astype(dtype)), y
    xp = compat_namespace(xp)
    if dtype is None:
        dtype = _default_float(xp, device)
    y = from_numpy(y, xp, device, dtype=index_dtype(xp, device))
    return from_numpy(X, xp, device, dtype=dtype), y


def _default_float(xp: Any, device: Any) -> Any:
    try:
        dtypes = xp.__array_namespace_info__().dtypes(device=device, kind="real floating")
    except AttributeError:
        return xp.float64
    return xp.float64 if "float64" in dtypes else xp.float32
