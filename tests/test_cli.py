"""The kmeans-xp command: demo, fit and elbow, run in-process through ``main(argv)``."""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kmeans_xp import KMeans, _cli_progress, cli, make_blobs, metrics
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


@pytest.fixture
def no_fit(monkeypatch):
    """Any k-means fit fails the test: for errors that must come before the fit."""

    def fit(self, *args, **kwargs):
        raise AssertionError("the fit started")

    monkeypatch.setattr(KMeans, "fit", fit)


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


@needs_viz
def test_demo_deletes_only_the_files_its_earlier_run_wrote(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    mine = [out / "notes.txt", out / "frames" / "iter_099.png"]  # the user's, not the demo's
    mine[1].parent.mkdir()
    for path in mine:
        path.write_text("keep me")

    assert main(["demo", "--out", str(out)]) == 0  # 'random' init: 6 iterations
    first = sorted(p.name for p in (out / "frames").glob("iter_0[0-8]*.png"))
    assert main(["demo", "--out", str(out), "--init", "k-means++"]) == 0  # fewer iterations
    second = sorted(p.name for p in (out / "frames").glob("iter_0[0-8]*.png"))

    assert len(second) < len(first)
    assert second == first[: len(second)]  # the longer run's extra frames are gone
    assert [p.read_text() for p in mine] == ["keep me", "keep me"]
    capsys.readouterr()


def test_demo_out_that_is_a_file_fails_before_the_fit(tmp_path, capsys, no_fit):
    out = tmp_path / "results.txt"
    out.write_text("precious")
    assert main(["demo", "--out", str(out)]) == 2
    assert f"--out {out}: exists and is not a directory" in _one_error_line(capsys.readouterr().err)
    assert out.read_text() == "precious"


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


# --------------------------------------------------------------------------------- outputs
def _fit_labels(data: Path, output: str | Path) -> int:
    return main(["fit", str(data), "-k", "3", "--labels", str(output), "--quiet"])


def test_a_symlinked_output_is_written_through_and_stays_a_link(tmp_path, blobs, capsys):
    data = _write_csv(tmp_path / "data.csv", blobs)
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "labels.txt"
    target.write_text("old")
    link = tmp_path / "labels.txt"
    link.symlink_to(target)
    dangling = tmp_path / "new.txt"
    dangling.symlink_to(tmp_path / "real" / "new.txt")

    assert _fit_labels(data, link) == 0
    assert _fit_labels(data, dangling) == 0

    for path in (link, dangling):
        assert path.is_symlink()
        assert np.loadtxt(path, dtype=np.int64).shape == (150,)
    assert sorted(os.listdir(tmp_path / "real")) == ["labels.txt", "new.txt"]
    capsys.readouterr()


def test_a_fifo_output_is_written_to_and_stays_a_fifo(tmp_path, blobs, capsys):
    data = _write_csv(tmp_path / "data.csv", blobs)
    fifo = tmp_path / "labels.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()

    assert _fit_labels(data, fifo) == 0
    reader.join(timeout=60)

    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    labels = np.loadtxt(io.BytesIO(received[0]), dtype=np.int64)
    np.testing.assert_array_equal(labels, KMeans(3, random_state=0).fit(blobs).labels_)
    assert sorted(os.listdir(tmp_path)) == ["data.csv", "labels.fifo"]  # no temporary file
    capsys.readouterr()


def _node(path: Path, kind: int, major: int, minor: int) -> Path:
    try:
        os.mknod(path, kind | 0o666, os.makedev(major, minor))
    except PermissionError:
        pytest.skip("making device nodes needs root (CAP_MKNOD)")
    return path


def test_a_character_device_is_written_to_and_stays_a_device(tmp_path, blobs, capsys):
    data = _write_csv(tmp_path / "data.csv", blobs)
    null = _node(tmp_path / "null", stat.S_IFCHR, 1, 3)  # /dev/null's numbers

    assert _fit_labels(data, null) == 0

    assert stat.S_ISCHR(os.lstat(null).st_mode)
    assert os.lstat(null).st_rdev == os.makedev(1, 3)
    assert sorted(os.listdir(tmp_path)) == ["data.csv", "null"]
    capsys.readouterr()


def test_a_block_device_or_socket_is_refused_before_the_fit(tmp_path, blobs, capsys, no_fit):
    data = _write_csv(tmp_path / "data.csv", blobs)
    disk = _node(tmp_path / "disk", stat.S_IFBLK, 7, 0)  # a loop device's numbers
    assert _fit_labels(data, disk) == 2
    assert f"{disk}: not a regular file" in _one_error_line(capsys.readouterr().err)
    assert stat.S_ISBLK(os.lstat(disk).st_mode)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing/labels.txt", "{tmp}/missing/labels.txt: the directory {tmp}/missing does not"),
        ("data.csv/labels.txt", "{tmp}/data.csv/labels.txt: cannot write there"),
        ("dir", "{tmp}/dir: is a directory"),
    ],
    ids=["missing-directory", "under-a-regular-file", "a-directory"],
)
def test_an_unwritable_output_fails_before_the_fit(tmp_path, blobs, capsys, no_fit, where, message):
    data = _write_csv(tmp_path / "data.csv", blobs)
    (tmp_path / "dir").mkdir()
    assert _fit_labels(data, tmp_path / where) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"--labels {message.format(tmp=tmp_path)}" in line
    assert ".tmp" not in line and ".probe" not in line


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_directory_where_no_file_can_be_created_fails_before_the_fit(
    tmp_path, blobs, capsys, no_fit
):
    # /proc refuses new files even to root, who ignores permission bits: a real unwritable place
    data = _write_csv(tmp_path / "data.csv", blobs)
    assert _fit_labels(data, "/proc/kmeans-xp-labels.txt") == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "/proc/kmeans-xp-labels.txt: cannot create a file in /proc" in line


@pytest.mark.parametrize("alias", ["same", "symlink", "hardlink"])
def test_an_output_that_is_the_input_is_refused(tmp_path, blobs, capsys, no_fit, alias):
    data = _write_csv(tmp_path / "data.csv", blobs)
    before = data.read_bytes()
    output = tmp_path / "out.txt"
    if alias == "same":
        output = data
    elif alias == "symlink":
        output.symlink_to(data)
    else:
        os.link(data, output)
    assert _fit_labels(data, output) == 2
    assert "is the input file" in _one_error_line(capsys.readouterr().err)
    assert data.read_bytes() == before


def test_two_outputs_naming_one_file_are_refused(tmp_path, blobs, capsys, no_fit):
    data = _write_csv(tmp_path / "data.csv", blobs)
    out = tmp_path / "out.txt"
    argv = ["fit", str(data), "-k", "2", "--labels", str(out), "--centers", str(out)]
    assert main(argv) == 2
    assert "--labels and --centers name the same file" in _one_error_line(capsys.readouterr().err)


def test_an_existing_output_keeps_its_permissions(tmp_path, blobs, capsys):
    data = _write_csv(tmp_path / "data.csv", blobs)
    out = tmp_path / "labels.txt"
    out.write_text("old")
    out.chmod(0o640)
    assert _fit_labels(data, out) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert np.loadtxt(out).shape == (150,)
    capsys.readouterr()


# ------------------------------------------------------------------------------------ CSV
@pytest.mark.parametrize("cell", ["NA", "1.5.2", "0x10", "1_000", ""])
def test_a_malformed_cell_on_the_first_line_is_an_error_as_on_the_second(tmp_path, capsys, cell):
    first = tmp_path / "first.csv"
    first.write_text(f"{cell},20\n1,2\n3,4\n5,6\n")
    second = tmp_path / "second.csv"
    second.write_text(f"1,2\n{cell},20\n3,4\n5,6\n")
    what = repr(cell) if cell else "an empty cell"

    assert main(["fit", str(first), "-k", "2"]) == 2
    assert f"line 1, column 1 is {what}, not a number" in _one_error_line(capsys.readouterr().err)
    assert main(["fit", str(second), "-k", "2"]) == 2
    assert f"line 2, column 1 is {what}, not a number" in _one_error_line(capsys.readouterr().err)


def test_a_first_line_without_numbers_is_a_header(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n3,4\n10,10\n")
    X, names = cli.read_matrix(str(data))
    assert names == ["x", "y"] and X.shape == (3, 2)


def test_header_and_no_header_override_the_detection(tmp_path, capsys):
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("1,2\n3,4\n10,10\n")
    labels = tmp_path / "labels.txt"
    argv = ["fit", str(numbers), "-k", "2", "--labels", str(labels)]
    assert main([*argv, "--header"]) == 0
    assert np.loadtxt(labels).shape == (2,)  # the first line was taken as names
    assert main([*argv, "--no-header"]) == 0
    assert np.loadtxt(labels).shape == (3,)

    words = tmp_path / "words.csv"
    words.write_text("x,y\n1,2\n3,4\n")
    assert main(["fit", str(words), "-k", "2", "--no-header"]) == 2
    assert "line 1, column 1 is 'x', not a number" in _one_error_line(capsys.readouterr().err)
    assert main(["fit", str(words), "-k", "2", "--header", "--no-header"]) == 2  # exclusive


# ---------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--seed", "-1"),
        ("--seed", "x"),
        ("--max-iter", "0"),
        ("--tol", "-1"),
        ("--delimiter", "ab"),
        ("--silhouette-sample", "1"),
        ("--silhouette-sample", "-3"),
    ],
)
def test_a_bad_option_value_is_an_error_naming_the_option_before_any_fit(
    tmp_path, blobs, capsys, no_fit, option, value
):
    data = _write_csv(tmp_path / "data.csv", blobs)
    command = "elbow" if option == "--silhouette-sample" else "fit"
    argv = [command, str(data), *(["-k", "2"] if command == "fit" else []), f"{option}={value}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and repr(value) in err


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


def test_elbow_names_the_smallest_k_among_equal_best_scores(tmp_path, blobs, monkeypatch, capsys):
    data = _write_csv(tmp_path / "data.csv", blobs)
    monkeypatch.setattr(metrics, "silhouette_score", lambda *args, **kwargs: 0.5)
    assert main(["elbow", str(data), "--k-range", "2:5"]) == 0
    assert "highest silhouette: k=2 (0.5000)" in capsys.readouterr().out


# -------------------------------------------------------------------------------- progress
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def at_once(monkeypatch):
    """Progress shown at once, not only after a second."""
    pytest.importorskip("tqdm")
    monkeypatch.setattr(_cli_progress, "DELAY_S", 0.0)
    monkeypatch.setattr(_cli_progress, "REFRESH_S", 0.0)


@contextlib.contextmanager
def _stderr_on_a_terminal() -> Iterator[_Terminal]:
    # inside the test body: capsys sets sys.stderr again when the test's call begins
    terminal, saved = _Terminal(), sys.stderr
    sys.stderr = terminal
    try:
        yield terminal
    finally:
        sys.stderr = saved


def test_elbow_shows_k_inertia_and_elapsed_time_on_a_terminal(tmp_path, blobs, at_once, capsys):
    data = _write_csv(tmp_path / "data.csv", blobs)
    with _stderr_on_a_terminal() as terminal:
        assert main(["elbow", str(data), "--k-range", "1:4"]) == 0
    shown = terminal.getvalue()
    assert re.search(r"4/4 .*00:0\d", shown), shown  # every k counted, the elapsed time
    assert re.search(r"k=3: iteration \d+, inertia \d", shown), shown
    table = re.findall(r"^\s+(\d)\s+\S+\s+\S+\s+\d+$", capsys.readouterr().out, re.MULTILINE)
    assert table == ["1", "2", "3", "4"]  # the rows printed between redraws stay whole


def test_fit_shows_iterations_on_a_terminal_unless_quiet(tmp_path, blobs, at_once, capsys):
    data = _write_csv(tmp_path / "data.csv", blobs)
    with _stderr_on_a_terminal() as terminal:
        assert main(["fit", str(data), "-k", "3", "--tol", "0"]) == 0
    assert re.search(r"iteration \d+, inertia \d", terminal.getvalue()), terminal.getvalue()
    with _stderr_on_a_terminal() as terminal:
        assert main(["fit", str(data), "-k", "3", "--quiet"]) == 0
        assert main(["elbow", str(data), "--k-range", "1:3", "-q"]) == 0
    assert terminal.getvalue() == ""
    capsys.readouterr()


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path, blobs, monkeypatch, capsys):
    monkeypatch.setattr(_cli_progress, "DELAY_S", 0.0)
    data = _write_csv(tmp_path / "data.csv", blobs)
    assert main(["elbow", str(data), "--k-range", "1:3"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_progress_is_wanted_only_when_stderr_is_a_terminal():
    pytest.importorskip("tqdm")
    code = "from kmeans_xp._cli_progress import wanted; print(wanted(False), wanted(True))"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    leader, follower = os.openpty()
    try:
        on_terminal = subprocess.run(
            [sys.executable, "-c", code],
            stderr=follower,
            capture_output=False,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            check=True,
        )
    finally:
        os.close(follower)
        os.close(leader)
    piped = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert on_terminal.stdout.split() == ["True", "False"]
    assert piped.stdout.split() == ["False", "False"]


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
