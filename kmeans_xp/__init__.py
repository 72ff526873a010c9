"""kmeans_xp: k-means written once against the Python Array API standard.

The same Lloyd engine runs on NumPy, array-api-strict, torch, CuPy, JAX and Dask arrays and
returns results in the caller's own array type, on the caller's device.
"""

from ._estimator import KMeans, k_means, kmeans, kmeans_plusplus
from ._lloyd import IterationInfo
from ._minibatch import MiniBatchKMeans
from ._minibatch_step import MiniBatchInfo
from ._streaming import iter_batches
from .datasets import make_blobs
from .metrics import silhouette_score

__version__ = "0.1.0"

__all__ = [
    "IterationInfo",
    "KMeans",
    "MiniBatchInfo",
    "MiniBatchKMeans",
    "__version__",
    "iter_batches",
    "k_means",
    "kmeans",
    "kmeans_plusplus",
    "make_blobs",
    "silhouette_score",
]
