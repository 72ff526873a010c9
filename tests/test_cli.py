"""The kmeans-xp command: demo, fit and elbow, run in-process through ``main(argv)``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kmeans_xp import KMeans, cli, make_blobs
from kmeans_xp.cli import main

ROOT = Path(__file__).resolve().parents[1]
needs_viz = pytest.mark.skipif(
    any(__import__("importlib").util.find_spec(m) is None for m in ("matplotlib", "PIL")),
    reason="the viz extra (matplotlib, pillow) is not installed",
)


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(150, 3, centers=3, cluster_std=0.6, random_state=5)
    return X


def _write_csv(path: Path, X: np.ndarray, header: str | None = "a,b,c") -> Path:
    lines = [] if header is None else [header]
    lines += [",".join(repr(float(v)) for v in row) for row in X]
    path.write_text("\n".join(lines) + "\n")
    return path


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("kmeans-xp: error: ")
    return lines[0]


# ------------------------------------------------------------------------------------ demo
@needs_viz
def test_demo_writes_one_gif_frame_per_iteration_and_compares_with_sklearn(tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    out = tmp_path / "demo"
    stale = out / "frames" / "iter_099.png"  # left by an earlier, longer run
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")

    assert main(["demo", "--out", str(out)]) == 0

    printed = capsys.readouterr().out
    rows = re.findall(r"^\s+(\d+)\s+([\d.]+)\s+(\d+)\s+\S+$", printed, flags=re.MULTILINE)
    n_iter = len(rows)
    assert n_iter >= 3
    assert [int(r[0]) for r in rows] == list(range(1, n_iter + 1))
    assert int(rows[0][2]) == 2000  # every point gets its first cluster
    with Image.open(out / "kmeans.gif") as gif:
        assert gif.n_frames == n_iter
    frames = sorted(p.name for p in (out / "frames").iterdir())
    assert frames == [f"iter_{i:03d}.png" for i in range(1, n_iter + 1)]
    assert (out / "kmeans.gif").stat().st_size < 1_000_000
    if __import__("importlib").util.find_spec("sklearn") is not None:
        ari = re.search(r"adjusted Rand index of the labels: ([\d.]+)", printed)
        assert ari is not None and float(ari.group(1)) == pytest.approx(1.0)


def test_demo_comparison_says_when_sklearn_is_absent(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    cli._compare_with_sklearn(np.zeros((3, 2)), np.zeros(3), np.zeros((3, 2)), None)
    assert "scikit-learn is not installed" in capsys.readouterr().out


@pytest.mark.parametrize("library", ["torch", "cupy"])
def test_unavailable_backend_is_one_line_and_exit_2(monkeypatch, tmp_path, capsys, library):
    monkeypatch.setitem(sys.modules, library, None)
    assert main(["demo", "--out", str(tmp_path / "d"), "--backend", library]) == 2
    assert library in _one_error_line(capsys.readouterr().err).lower()
    assert not (tmp_path / "d" / "kmeans.gif").exists()


# ------------------------------------------------------------------------------------- fit
def test_fit_csv_writes_labels_and_centres_of_a_direct_fit(tmp_path, blobs, capsys):
    data = _write_csv(tmp_path / "data.csv", blobs)
    labels, centres = tmp_path / "labels.txt", tmp_path / "centres.csv"
    argv = ["fit", str(data), "-k", "3", "--labels", str(labels), "--centers", str(centres)]
    assert main([*argv, "--seed", "4"]) == 0

    expected = KMeans(3, random_state=4).fit(blobs)
    got_labels = np.loadtxt(labels, dtype=np.int64)
    got_centres = np.loadtxt(centres, delimiter=",", ndmin=2)
    np.testing.assert_array_equal(got_labels, expected.labels_)
    np.testing.assert_array_equal(got_centres, expected.cluster_centers_)  # written exactly
    assert "k=3: inertia" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["centres.csv", "data.csv", "labels.txt"]


def test_fit_headerless_csv_npy_and_whitespace_give_the_same_labels(tmp_path, blobs):
    results = []
    _write_csv(tmp_path / "plain.csv", blobs, header=None)
    np.save(tmp_path / "data.npy", blobs)
    (tmp_path / "spaces.txt").write_text(
        "\n".join(" ".join(repr(float(v)) for v in r) for r in blobs)
    )
    for name in ("plain.csv", "data.npy", "spaces.txt"):
        out = tmp_path / f"{name}.labels"
        assert main(["fit", str(tmp_path / name), "-k", "3", "--labels", str(out)]) == 0
        results.append(np.loadtxt(out, dtype=np.int64))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
    assert results[0].shape == (150,)


def test_fit_reads_quoted_cells_and_names_the_header(tmp_path, capsys):
    data = tmp_path / "q.csv"
    data.write_text('"x","y"\n"1.5",2\n3,4\n10,10\n')
    assert main(["fit", str(data), "-k", "2", "--centers", str(tmp_path / "c.csv"), "-v"]) == 0
    assert "read 3 rows x 2 columns" in capsys.readouterr().out
    centres = np.loadtxt(tmp_path / "c.csv", delimiter=",")
    np.testing.assert_allclose(sorted(centres[:, 0]), [2.25, 10.0])


def test_fit_verbose_prints_a_line_per_iteration(tmp_path, blobs, capsys):
    data = _write_csv(tmp_path / "data.csv", blobs)
    assert main(["fit", str(data), "-k", "3", "--verbose", "--tol", "0"]) == 0
    out = capsys.readouterr().out
    assert "(header: a, b, c)" in out
    lines = re.findall(r"^Iteration (\d+), inertia", out, flags=re.MULTILINE)
    assert lines and lines == [str(i) for i in range(1, len(lines) + 1)]


@needs_viz
def test_fit_plot(tmp_path, blobs):
    data = _write_csv(tmp_path / "data.csv", blobs)
    assert main(["fit", str(data), "-k", "3", "--plot", str(tmp_path / "fit.png")]) == 0
    assert (tmp_path / "fit.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("content", "k", "message"),
    [
        ("a,b\n1,2\n3,4,5\n", 1, "line 3 has 3 values, expected 2"),
        ("1,2\n3,oops\n", 1, "line 2, column 2 is 'oops'"),
        ("1,2\n3,\n", 1, "line 2, column 2 is an empty cell"),
        ("1,2\nnan,4\n", 1, "line 2, column 1 is 'nan'"),
        ("1,2\n3,4\n", 3, "-k 3 is larger than the number of rows"),
        ("", 1, "no data"),
        ("x,y\n", 1, "no rows of data"),
        (None, 1, "no such file"),
        (b"\x93NUMPY garbage", 1, "not a readable .npy file"),
    ],
    ids=[
        "ragged",
        "non-numeric",
        "empty-cell",
        "nan",
        "k>rows",
        "empty",
        "header-only",
        "missing",
        "bad-npy",
    ],
)
def test_fit_errors_are_one_line_exit_2_and_leave_no_output(tmp_path, capsys, content, k, message):
    path = tmp_path / ("data.npy" if isinstance(content, bytes) else "data.csv")
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    before = set(os.listdir(tmp_path))
    outputs = ["--labels", str(tmp_path / "l.txt"), "--centers", str(tmp_path / "c.csv")]
    assert main(["fit", str(path), "-k", str(k), *outputs]) == 2
    assert message in _one_error_line(capsys.readouterr().err)
    assert set(os.listdir(tmp_path)) == before  # no output, no temporary file


def test_a_failure_while_writing_leaves_no_output(tmp_path, blobs, monkeypatch, capsys):
    data = _write_csv(tmp_path / "data.csv", blobs)

    def broken(tmp, rows):
        raise OSError("disk full")

    monkeypatch.setattr(cli, "_write_csv", broken)
    argv = ["fit", str(data), "-k", "2", "--labels", str(tmp_path / "l.txt")]
    assert main([*argv, "--centers", str(tmp_path / "c.csv")]) == 2
    assert "disk full" in _one_error_line(capsys.readouterr().err)
    assert os.listdir(tmp_path) == ["data.csv"]


def test_an_output_in_a_missing_directory_fails_before_the_fit(tmp_path, blobs, capsys):
    data = _write_csv(tmp_path / "data.csv", blobs)
    assert main(["fit", str(data), "-k", "2", "--labels", str(tmp_path / "no" / "l.txt")]) == 2
    assert "does not exist" in _one_error_line(capsys.readouterr().err)


# ----------------------------------------------------------------------------------- elbow
@needs_viz
def test_elbow_prints_inertia_and_silhouette_and_plots(tmp_path, blobs, capsys):
    sk_metrics = pytest.importorskip("sklearn.metrics")
    data = _write_csv(tmp_path / "data.csv", blobs)
    png = tmp_path / "elbow.png"
    assert main(["elbow", str(data), "--k-range", "1:4", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    rows = {
        int(m.group(1)): (float(m.group(2)), m.group(3))
        for m in re.finditer(r"^\s+(\d+)\s+(\S+)\s+(\S+)\s+\d+$", out, flags=re.MULTILINE)
    }
    assert sorted(rows) == [1, 2, 3, 4]
    assert rows[1][1] == "undefined"
    for k in (2, 3, 4):
        km = KMeans(k, random_state=0).fit(blobs)
        assert rows[k][0] == pytest.approx(km.inertia_, rel=1e-5)
        expected = sk_metrics.silhouette_score(blobs, km.labels_)
        assert float(rows[k][1]) == pytest.approx(expected, abs=1e-4)
    assert "highest silhouette: k=3" in out
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("k_range", ["5:2", "0:3", "a:b", "3"])
def test_elbow_rejects_bad_k_ranges(tmp_path, blobs, k_range):
    data = _write_csv(tmp_path / "data.csv", blobs)
    with pytest.raises(SystemExit):  # argparse's usage error, from the parser directly
        cli._parser().parse_args(["elbow", str(data), "--k-range", k_range])
    assert main(["elbow", str(data), "--k-range", k_range]) == 2


def test_elbow_k_beyond_the_rows_is_an_error(tmp_path, capsys):
    data = _write_csv(tmp_path / "d.csv", np.arange(8.0).reshape(4, 2), header=None)
    assert main(["elbow", str(data), "--k-range", "1:5"]) == 2
    assert "more than the 4 rows" in _one_error_line(capsys.readouterr().err)


# ---------------------------------------------------------------------------- entry point
def test_python_dash_m_runs_the_command(tmp_path, blobs):
    data = _write_csv(tmp_path / "data.csv", blobs)
    labels = tmp_path / "labels.txt"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "kmeans_xp"]
    done = subprocess.run(
        [*command, "fit", str(data), "-k", "3", "--labels", str(labels)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert np.loadtxt(labels).shape == (150,)


def test_a_closed_pipe_ends_quietly(monkeypatch, capsys, tmp_path):
    def reader_went_away(args):
        raise BrokenPipeError

    monkeypatch.setattr(cli, "_run_fit", reader_went_away)
    assert main(["fit", str(tmp_path / "x.csv"), "-k", "2"]) == 141
    assert capsys.readouterr().err == ""
