"""kmeans_xp.plot: History, GIF animation, cluster and elbow pictures; matplotlib stays optional."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kmeans_xp import KMeans, make_blobs

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from kmeans_xp import plot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(300, 2, centers=3, cluster_std=1.5, random_state=1)
    return X


def test_history_keeps_numpy_copies_of_every_iteration(backend, blobs):
    history = plot.History()
    km = KMeans(3, init="random", n_init=1, random_state=0, callback=history)
    km.fit(backend.asarray(blobs))
    assert len(history) == km.n_iter_ >= 1
    assert [info.iteration for info in history] == list(range(1, km.n_iter_ + 1))
    for info in history:
        assert isinstance(info.centers, np.ndarray) and info.centers.shape == (3, 2)
        assert isinstance(info.labels, np.ndarray) and info.labels.shape == (300,)
    np.testing.assert_allclose(history[-1].centers, backend.to_numpy(km.cluster_centers_))


def test_history_keeps_every_run_and_iterates_over_the_last(blobs):
    history = plot.History()
    KMeans(3, init="random", n_init=3, random_state=0, callback=history).fit(blobs)
    assert len(history.runs) == 3 and history.iterations is history.runs[-1]
    assert history[0].iteration == 1
    assert [info.iteration for info in history] == list(range(1, len(history) + 1))


def test_animate_writes_one_gif_frame_and_one_png_per_iteration(tmp_path, blobs):
    history = plot.History()
    KMeans(3, init="random", n_init=1, random_state=0, tol=0, callback=history).fit(blobs)
    gif = tmp_path / "fit.gif"
    written = plot.animate(blobs, history, gif, frames_dir=tmp_path / "frames", dpi=40)
    with Image.open(gif) as image:
        assert image.n_frames == len(history)
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == [f"iter_{i:03d}.png" for i in range(1, len(history) + 1)]
    assert [Path(p).name for p in written] == names


def test_animate_refuses_an_empty_history(tmp_path, blobs):
    with pytest.raises(ValueError, match="history is empty"):
        plot.animate(blobs, plot.History(), tmp_path / "x.gif")


@pytest.mark.parametrize("d", [1, 2, 4])
def test_plot_clusters_draws_any_number_of_features(tmp_path, d):
    X, _ = make_blobs(120, d, centers=3, random_state=0)
    km = KMeans(3, random_state=0).fit(X)
    ax = plot.plot_clusters(X, km.labels_, km.cluster_centers_, title="t")
    assert ax.get_title() == "t"
    points, centres = ax.collections  # the rows, then the centres (black x)
    assert points.get_offsets().shape == (120, 2)
    assert centres.get_offsets().shape == (3, 2)
    ax.figure.savefig(tmp_path / "fit.png")
    assert (tmp_path / "fit.png").stat().st_size > 0


def test_plot_elbow_leaves_undefined_silhouettes_out(tmp_path):
    fig = plot.plot_elbow([1, 2, 3], [30.0, 10.0, 8.0], [None, 0.7, 0.5], path=tmp_path / "e.png")
    assert len(fig.axes) == 2
    assert np.isnan(fig.axes[1].lines[0].get_ydata()[0])
    assert (tmp_path / "e.png").stat().st_size > 0


def test_missing_matplotlib_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"matplotlib.*kmeans-xp\[viz\]"):
        plot.plot_elbow([1], [1.0])


def test_importing_kmeans_xp_does_not_import_matplotlib():
    code = (
        "import sys, kmeans_xp, kmeans_xp.cli, kmeans_xp.metrics; "
        "print(any(m.split('.')[0] in ('matplotlib', 'PIL') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
