"""Pictures of a fit: clusters, an animated GIF of the iterations, the elbow curve.

Needs the ``viz`` extra (matplotlib and Pillow), imported only when a function here is called,
so ``import kmeans_xp`` never imports matplotlib. Figures are drawn on matplotlib's Agg canvas
without pyplot: nothing here changes the caller's matplotlib backend, opens a window or needs
the network.

Typical use::

    from kmeans_xp import KMeans
    from kmeans_xp.plot import History, animate, plot_clusters

    history = History()
    km = KMeans(3, init="random", n_init=1, random_state=0, callback=history).fit(X)
    animate(X, history, "kmeans.gif")
    plot_clusters(X, km.labels_, km.cluster_centers_).figure.savefig("fit.png")
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ._lloyd import IterationInfo
from ._xp import to_numpy

__all__ = ["History", "animate", "plot_clusters", "plot_elbow", "require_viz"]

_VIZ_HINT = 'install the viz extra: python -m pip install "kmeans-xp[viz]"'


def require_viz() -> None:
    """Raise ImportError, saying what to install, unless matplotlib and Pillow import."""
    missing = []
    for module in ("matplotlib", "PIL"):
        try:
            __import__(module)
        except ImportError:
            missing.append("Pillow" if module == "PIL" else module)
    if missing:
        raise ImportError(f"kmeans_xp.plot needs {' and '.join(missing)}: {_VIZ_HINT}")


class History:
    """A ``callback`` for :class:`~kmeans_xp.KMeans` that keeps every :class:`IterationInfo`,
    with its arrays copied to NumPy (so the history outlives GPU memory and can be plotted).

    A fit with ``n_init > 1`` calls the callback for every initialisation: a new run starts
    whenever ``iteration`` goes back to 1. ``runs`` holds every run and ``iterations`` (what
    iterating over the History gives) the latest one, so pass ``n_init=1`` to animate the run
    that the estimator kept.

    Examples
    --------
    >>> from kmeans_xp import KMeans, make_blobs
    >>> from kmeans_xp.plot import History
    >>> X, _ = make_blobs(n_samples=200, centers=3, random_state=0)
    >>> history = History()
    >>> km = KMeans(3, n_init=1, random_state=0, callback=history).fit(X)
    >>> len(history) == km.n_iter_, history[-1].centers.shape
    (True, (3, 2))
    """

    def __init__(self) -> None:
        self.runs: list[list[IterationInfo]] = []

    @property
    def iterations(self) -> list[IterationInfo]:
        return self.runs[-1] if self.runs else []

    def __call__(self, info: IterationInfo) -> None:
        if info.iteration == 1 or not self.runs:
            self.runs.append([])
        self.runs[-1].append(
            replace(info, centers=np.asarray(to_numpy(info.centers)), labels=_labels(info.labels))
        )

    def __len__(self) -> int:
        return len(self.iterations)

    def __iter__(self):
        return iter(self.iterations)

    def __getitem__(self, index: int) -> IterationInfo:
        return self.iterations[index]


def plot_clusters(
    X: Any,
    labels: Any,
    centers: Any = None,
    *,
    ax: Any = None,
    title: str | None = None,
    limits: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> Any:
    """Scatter the rows of ``X`` coloured by ``labels``, with ``centers`` as black x markers.

    Arrays of any library are accepted (copied to the host). Data with more than two features is
    drawn on its first two principal components (centres projected the same way); one feature
    is drawn against zero.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        The rows to draw.
    labels : array of shape (n_samples,)
        Cluster of every row; it sets the colours.
    centers : array of shape (n_clusters, n_features), optional
        Centres to mark.
    ax : matplotlib Axes, optional
        Where to draw; a new Figure (not managed by pyplot) when None.
    title : str, optional
        Title of the axes.
    limits : ((xmin, xmax), (ymin, ymax)), optional
        Fixed axis limits (as :func:`animate` keeps them across frames).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on; save the picture with ``ax.figure.savefig(path)``.

    Examples
    --------
    >>> from kmeans_xp import KMeans, make_blobs
    >>> from kmeans_xp.plot import plot_clusters
    >>> X, _ = make_blobs(n_samples=200, centers=3, random_state=0)
    >>> km = KMeans(3, random_state=0).fit(X)
    >>> ax = plot_clusters(X, km.labels_, km.cluster_centers_, title="k = 3")
    >>> ax.get_title()
    'k = 3'
    """
    require_viz()
    points = _as_2d(X)
    labels = _labels(labels)
    centers = None if centers is None else np.asarray(to_numpy(centers), dtype=np.float64)
    points, centers, axis_names = _project(points, centers)
    if ax is None:
        ax = _new_figure(figsize=(5.5, 4.5)).subplots()
    ax.scatter(
        points[:, 0],
        points[:, 1],
        c=_colours(labels),
        s=7,
        alpha=0.65,
        linewidths=0,
        rasterized=True,
    )
    if centers is not None:
        ax.scatter(
            centers[:, 0], centers[:, 1], marker="x", c="black", s=110, linewidths=2.5, zorder=3
        )
    if limits is not None:
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    if title is not None:
        ax.set_title(title)
    return ax


def animate(
    X: Any,
    history: Iterable[IterationInfo],
    path: str | os.PathLike,
    *,
    frames_dir: str | os.PathLike | None = None,
    duration_ms: int = 700,
    final_hold_ms: int = 2000,
    dpi: int = 80,
    figsize: tuple[float, float] = (5.5, 4.5),
) -> list[str]:
    """Write an animated GIF with one frame per iteration of ``history`` to ``path``.

    Each frame shows the rows of ``X`` coloured by that iteration's labels, the updated centres
    as black x markers, and the iteration and inertia in the title; the axes stay fixed across
    frames. ``history`` is a :class:`History` or any sequence of :class:`IterationInfo`. With
    ``frames_dir``, every frame is also saved there as ``iter_NNN.png``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        The rows that were fitted (the centres in ``history`` are in their coordinates).
    history : History or sequence of IterationInfo
        What the fit's ``callback`` received.
    path : str or path-like
        Where the GIF is written.
    frames_dir : str or path-like, optional
        Folder for one PNG per frame.
    duration_ms, final_hold_ms : int
        How long each frame, and the last one, is shown.
    dpi : int
        Resolution of the frames.
    figsize : (float, float)
        Size of a frame in inches.

    Returns
    -------
    list of str
        Paths of the PNG frames written (empty without ``frames_dir``).

    Examples
    --------
    >>> import os, tempfile
    >>> from kmeans_xp import KMeans, make_blobs
    >>> from kmeans_xp.plot import History, animate
    >>> X, _ = make_blobs(n_samples=200, centers=3, random_state=0)
    >>> history = History()
    >>> km = KMeans(3, init="random", n_init=1, random_state=0, callback=history).fit(X)
    >>> folder = tempfile.mkdtemp()
    >>> frames = animate(X, history, os.path.join(folder, "kmeans.gif"), frames_dir=folder)
    >>> len(frames) == km.n_iter_, os.path.exists(os.path.join(folder, "kmeans.gif"))
    (True, True)
    >>> import shutil; shutil.rmtree(folder)
    """
    require_viz()
    from PIL import Image

    infos = list(history)
    if not infos:
        raise ValueError("history is empty: fit with callback=History() before animating")
    points = _as_2d(X)
    limits = _limits(_project(points, None)[0])
    frames: list[Image.Image] = []
    written: list[str] = []
    if frames_dir is not None:
        os.makedirs(frames_dir, exist_ok=True)
    for info in infos:
        fig = _new_figure(figsize=figsize, dpi=dpi)
        ax = fig.subplots()
        plot_clusters(
            points,
            info.labels,
            info.centers,
            ax=ax,
            limits=limits,
            title=f"iteration {info.iteration}   inertia {info.inertia:,.1f}",
        )
        fig.tight_layout()
        fig.canvas.draw()
        image = Image.frombuffer(
            "RGBA", fig.canvas.get_width_height(), fig.canvas.buffer_rgba(), "raw", "RGBA", 0, 1
        ).convert("RGB")
        frames.append(image)
        if frames_dir is not None:
            frame_path = os.path.join(frames_dir, f"iter_{info.iteration:03d}.png")
            image.save(frame_path)
            written.append(frame_path)
    palette = [f.convert("P", palette=Image.Palette.ADAPTIVE, colors=64) for f in frames]
    durations = [duration_ms] * (len(palette) - 1) + [final_hold_ms]
    palette[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=palette[1:],
        duration=durations,
        loop=0,
        optimize=False,
        disposal=1,
    )
    return written


def plot_elbow(
    ks: Sequence[int],
    inertias: Sequence[float],
    silhouettes: Sequence[float | None] | None = None,
    *,
    path: str | os.PathLike | None = None,
) -> Any:
    """Inertia over k (left) and, when given, the silhouette score over k (right).

    Parameters
    ----------
    ks : sequence of int
        The numbers of clusters tried.
    inertias : sequence of float
        The inertia of the fit for each k.
    silhouettes : sequence of float or None, optional
        The silhouette score for each k (``None`` or NaN where it is undefined, as for k = 1);
        without it only the inertia is drawn.
    path : str or path-like, optional
        Where to save the figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (not managed by pyplot).

    Examples
    --------
    >>> from kmeans_xp import KMeans, make_blobs, silhouette_score
    >>> from kmeans_xp.plot import plot_elbow
    >>> X, _ = make_blobs(n_samples=200, centers=3, random_state=0)
    >>> ks = [1, 2, 3, 4]
    >>> fits = [KMeans(k, random_state=0).fit(X) for k in ks]
    >>> scores = [None] + [silhouette_score(X, f.labels_) for f in fits[1:]]
    >>> fig = plot_elbow(ks, [f.inertia_ for f in fits], scores)
    >>> len(fig.axes)
    2
    """
    require_viz()
    panels = 1 if silhouettes is None else 2
    fig = _new_figure(figsize=(4.5 * panels, 3.6), dpi=100)
    axes = np.atleast_1d(fig.subplots(1, panels))
    ks = [int(k) for k in ks]
    axes[0].plot(ks, list(inertias), "o-", color="tab:blue")
    axes[0].set_xlabel("k (clusters)")
    axes[0].set_ylabel("inertia")
    axes[0].set_title("inertia over k")
    if silhouettes is not None:
        values = [np.nan if s is None else float(s) for s in silhouettes]
        axes[1].plot(ks, values, "o-", color="tab:orange")
        axes[1].set_xlabel("k (clusters)")
        axes[1].set_ylabel("silhouette score")
        axes[1].set_title("silhouette over k (higher is better)")
    for ax in axes:
        ax.set_xticks(ks)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig


# ------------------------------------------------------------------------ helpers
def _new_figure(**kwargs: Any) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _labels(labels: Any) -> np.ndarray:
    return np.asarray(to_numpy(labels)).reshape(-1).astype(np.int64)


def _as_2d(X: Any) -> np.ndarray:
    points = np.asarray(to_numpy(X), dtype=np.float64)
    if points.ndim == 1:
        points = points[:, None]
    if points.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {points.shape}")
    return points


def _project(points: np.ndarray, centers: np.ndarray | None):
    """Points (and centres) in two plotting coordinates and the names of the two axes."""
    d = points.shape[1]
    if d == 2:
        return points, centers, ("feature 0", "feature 1")
    if d == 1:
        pad = np.zeros((points.shape[0], 1))
        cpad = None if centers is None else np.hstack([centers, np.zeros((centers.shape[0], 1))])
        return np.hstack([points, pad]), cpad, ("feature 0", "")
    mean = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - mean, full_matrices=False)
    basis = vt[:2].T
    projected = (points - mean) @ basis
    cproj = None if centers is None else (centers - mean) @ basis
    return projected, cproj, ("principal component 1", "principal component 2")


def _limits(points: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    lo, hi = points.min(axis=0), points.max(axis=0)
    margin = 0.05 * np.maximum(hi - lo, 1e-12)
    return (
        (float(lo[0] - margin[0]), float(hi[0] + margin[0])),
        (float(lo[1] - margin[1]), float(hi[1] + margin[1])),
    )


def _colours(labels: np.ndarray) -> np.ndarray:
    """One tab10 colour per label (RGBA rows), the same for a label in every frame."""
    from matplotlib import colormaps

    return colormaps["tab10"](labels % 10)
