"""The ``kmeans-xp`` command: the article's demo, k-means on your own files, and the elbow curve.

``kmeans-xp demo`` clusters the article's blobs, prints every iteration, writes an animated GIF
and compares with scikit-learn; ``kmeans-xp fit`` clusters a CSV or ``.npy`` file;
``kmeans-xp elbow`` prints and plots inertia and silhouette over a range of k.

Errors in what the user gave (a missing or malformed file, a bad option, an unavailable
backend, an output that cannot be written) are one line on stderr and exit status 2, found
before the fit wherever they can be; output files are written only once everything succeeded,
so a failed run leaves none behind (``_cli_write``). Long work shows a progress bar on stderr
when it is a terminal (``_cli_progress``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from . import __version__
from ._cli_progress import Progress, wanted
from ._cli_read import ReadError, open_npy, read_matrix
from ._cli_write import (
    OutputError,
    Target,
    check_directory,
    check_output,
    check_outputs,
    written_together,
)
from ._estimator import KMeans, kmeans_plusplus
from ._xp import from_numpy, to_numpy
from .datasets import make_blobs

PROG = "kmeans-xp"
EXIT_USAGE = 2

# The article's data and the demo's defaults. 'random' init with seed 0 runs 6 iterations
# before converging to the three blobs, enough frames to watch the centroids travel;
# 'k-means++' starts so close to the answer that it converges in 3.
DEMO_DATA = {"n_samples": 2000, "n_features": 2, "centers": 3, "cluster_std": 1.35}
DEMO_DATA_SEED = 11
DEMO_K = 3
DEMO_INIT = "random"
DEMO_SEED = 0
DEFAULT_SILHOUETTE_SAMPLE = 10_000
MAX_SEED = 2**32 - 1  # the silhouette's row sample takes a NumPy RandomState seed
# What `demo --out DIR` wrote last time, relative to DIR: the only files it ever deletes.
DEMO_MANIFEST = ".kmeans-xp-demo-files"
DEMO_FILE = re.compile(r"kmeans\.gif|frames/iter_[0-9]{3,}\.png")


class CLIError(Exception):
    """A problem with what the user gave: printed as one line, exit status 2."""


# --------------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kmeans-xp`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its usage message
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.run(args)
    except BrokenPipeError:  # the reader went away (``kmeans-xp demo | head``): stop quietly
        _silence_stdout()
        return 141
    except (CLIError, ReadError, OutputError, ValueError, OSError, ImportError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def _silence_stdout() -> None:
    """Point stdout at devnull so that Python's exit-time flush does not fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _error(message: str) -> None:
    line = " ".join(str(message).split()) or "failed"
    print(f"{PROG}: error: {line}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="k-means on NumPy, torch or CuPy: the article's demo, your own files, "
        "and the elbow curve.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="cluster the article's blobs, animate the iterations, compare with scikit-learn",
        description="Cluster the article's data (2,000 points, 3 blobs, cluster_std 1.35, "
        "make_blobs seed 11) with k=3, print every iteration, write DIR/kmeans.gif and "
        "DIR/frames/iter_NNN.png, and compare with scikit-learn from the same initial centres.",
    )
    demo.add_argument(
        "--out",
        default="kmeans-demo",
        metavar="DIR",
        help="directory for the pictures, created if needed (default ./kmeans-demo); the demo "
        "replaces only the files it wrote there before",
    )
    _add_backend(demo)
    demo.add_argument(
        "--init",
        choices=("random", "k-means++"),
        default=DEMO_INIT,
        help=f"initial centres (default {DEMO_INIT!r}: several iterations to watch)",
    )
    demo.add_argument("--seed", type=_seed, default=DEMO_SEED, help=f"default {DEMO_SEED}")
    demo.set_defaults(run=_run_demo)

    fit = sub.add_parser(
        "fit",
        help="cluster a CSV or .npy file",
        description="Cluster the rows of INPUT (CSV with an optional header, or .npy) into K "
        "clusters. Outputs are checked before the fit and written only when it succeeded.",
    )
    fit.add_argument("input", metavar="INPUT", help="CSV (header optional) or .npy file")
    fit.add_argument("-k", "--n-clusters", type=_positive_int, required=True, dest="k")
    _add_backend(fit)
    fit.add_argument("--labels", metavar="FILE", help="write the label of every row, one a line")
    fit.add_argument("--centers", metavar="FILE", help="write the K centres as rows of CSV")
    fit.add_argument("--plot", metavar="FILE", help="picture of the clusters (.png, .svg, .pdf)")
    _add_fit_options(fit)
    fit.add_argument("--verbose", "-v", action="store_true", help="print a line per iteration")
    _add_quiet(fit)
    _add_reader_options(fit)
    _add_mini_batch_options(fit)
    fit.set_defaults(run=_run_fit)

    elbow = sub.add_parser(
        "elbow",
        help="inertia and silhouette score over a range of k",
        description="Fit k-means for every k in a range and print (and plot) the inertia and "
        "the silhouette score, to help choose k. The silhouette is undefined for k=1.",
    )
    elbow.add_argument("input", metavar="INPUT", help="CSV (header optional) or .npy file")
    elbow.add_argument(
        "--k-range",
        default="1:10",
        type=_k_range,
        metavar="A:B[:STEP]",
        help="values of k, both ends included (default 1:10)",
    )
    elbow.add_argument("--plot", metavar="FILE", help="picture of both curves (.png, .svg, .pdf)")
    _add_backend(elbow)
    _add_fit_options(elbow)
    elbow.add_argument(
        "--silhouette-sample",
        type=_silhouette_sample,
        default=DEFAULT_SILHOUETTE_SAMPLE,
        metavar="N",
        help=f"score the silhouette on N >= 2 random rows when there are more (default "
        f"{DEFAULT_SILHOUETTE_SAMPLE}; 0 = all rows, O(n^2) work)",
    )
    _add_quiet(elbow)
    _add_reader_options(elbow)
    elbow.set_defaults(run=_run_elbow)
    return parser


def _add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("numpy", "torch", "cupy"),
        default="numpy",
        help="array library to compute with (torch uses CUDA when it has it; default numpy)",
    )


def _add_fit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--init", choices=("k-means++", "random"), default="k-means++", help="default k-means++"
    )
    parser.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    parser.add_argument("--max-iter", type=_positive_int, default=300, help="default 300")
    parser.add_argument(
        "--tol", type=_non_negative_float, default=1e-4, help="relative tolerance (default 1e-4)"
    )


def _add_reader_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--delimiter",
        type=_delimiter,
        metavar="CHAR",
        help="CSV delimiter, one character or \\t (default: detected from the first line among "
        ", tab ; and spaces)",
    )
    header = parser.add_mutually_exclusive_group()
    header.add_argument(
        "--header",
        action="store_const",
        const=True,
        dest="header",
        help="the CSV's first line is a header (default: it is when none of its cells is a number)",
    )
    header.add_argument(
        "--no-header",
        action="store_const",
        const=False,
        dest="header",
        help="the CSV's first line is data",
    )


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress bar (one is shown on stderr, when it is a terminal, for work that "
        "lasts more than a second)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {MAX_SEED}; got {text!r}")
    return value


def _silhouette_sample(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value != 0 and value < 2:
        raise argparse.ArgumentTypeError(
            f"expected 0 (all rows) or a number of rows >= 2; got {text!r}"
        )
    return value


def _delimiter(text: str) -> str:
    value = "\t" if text == "\\t" else text
    if len(value) != 1 or value in '"\n\r' or value.isalnum() or value in ".+-":
        raise argparse.ArgumentTypeError(
            f"expected one character that cannot be part of a number (or \\t); got {text!r}"
        )
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0; got {text!r}") from None
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0; got {text!r}")
    return value


def _k_range(text: str) -> list[int]:
    parts = text.split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) == 2:
        numbers.append(1)
    if len(numbers) != 3 or numbers[0] < 1 or numbers[1] < numbers[0] or numbers[2] < 1:
        raise argparse.ArgumentTypeError(
            f"expected A:B or A:B:STEP with 1 <= A <= B and STEP >= 1; got {text!r}"
        )
    return list(range(numbers[0], numbers[1] + 1, numbers[2]))


# ------------------------------------------------------------------------------ backends
def _backend(name: str) -> tuple[Any, Any, str]:
    """(library module, device, description) for ``--backend``; CLIError when unavailable."""
    if name == "numpy":
        return np, None, "numpy (cpu)"
    if name == "torch":
        try:
            import torch
        except ImportError:
            raise CLIError(
                "--backend torch needs PyTorch, which is not installed "
                "(python -m pip install torch)"
            ) from None
        device = "cuda" if torch.cuda.is_available() else "cpu"
        return torch, torch.device(device), f"torch ({device})"
    if name == "cupy":
        try:
            import cupy
        except ImportError:
            raise CLIError(
                "--backend cupy needs CuPy, which is not installed (python -m pip install "
                '"kmeans-xp[gpu]")'
            ) from None
        try:  # importing cupy proves nothing: make the device run something
            works = int((cupy.arange(3) * 2).sum().get()) == 6
            device = cupy.cuda.Device().id
        except Exception as exc:  # CUDA driver/runtime errors have many types
            raise CLIError(f"--backend cupy: no CUDA device answers ({exc})") from None
        if not works:
            raise CLIError("--backend cupy: the CUDA device gave a wrong answer to 2 * [0, 1, 2]")
        return cupy, None, f"cupy (cuda:{device})"
    raise CLIError(f"unknown backend {name!r}")


# ---------------------------------------------------------------------------------- demo
def _run_demo(args: argparse.Namespace) -> int:
    from .plot import History, animate, require_viz

    _check_demo_out(args.out)
    module, device, described = _backend(args.backend)
    require_viz()
    X_host, blob = make_blobs(**DEMO_DATA, random_state=DEMO_DATA_SEED)
    X = from_numpy(X_host, module, device)
    # The initial centres are drawn here, once, and handed to kmeans_xp and scikit-learn alike.
    if args.init == "random":
        rows = np.random.default_rng(args.seed).permutation(X_host.shape[0])[:DEMO_K]
        init = X_host[rows]
    else:
        init = to_numpy(kmeans_plusplus(X, DEMO_K, random_state=args.seed)[0])

    print(
        f"kmeans_xp {__version__} demo: {DEMO_DATA['n_samples']:,} points, "
        f"{DEMO_DATA['n_features']} features, {DEMO_DATA['centers']} blobs (cluster_std "
        f"{DEMO_DATA['cluster_std']}, make_blobs seed {DEMO_DATA_SEED}); k={DEMO_K}, "
        f"init {args.init!r} (seed {args.seed}), backend {described}"
    )
    history = History()
    km = KMeans(DEMO_K, init=init, n_init=1, callback=history)
    with _reported_warnings():
        km.fit(X)

    print()
    print(f"{'iteration':>9}  {'inertia':>12}  {'changed':>7}  {'squared shift':>13}")
    for info in history:
        print(
            f"{info.iteration:>9}  {info.inertia:>12.2f}  {info.n_changed:>7}  "
            f"{info.center_shift:>13.4g}"
        )
    print(f"stopped after {km.n_iter_} iterations ({km.stop_reason_}); inertia {km.inertia_:.2f}")

    with tempfile.TemporaryDirectory(prefix="kmeans-xp-demo-") as scratch:
        frames = animate(
            X_host,
            history,
            os.path.join(scratch, "kmeans.gif"),
            frames_dir=os.path.join(scratch, "frames"),
        )
        made = ["kmeans.gif"] + ["frames/" + os.path.basename(f) for f in frames]
        _write_demo_files(args.out, scratch, made)
    gif = os.path.join(args.out, "kmeans.gif")
    frames_dir = os.path.join(args.out, "frames")
    print(
        f"wrote {gif} ({len(history)} frames) and {len(frames)} frames in "
        f"{frames_dir}{os.sep}iter_NNN.png"
    )
    print()
    _compare_with_sklearn(X_host, blob, init, km)
    return 0


def _check_demo_out(out: str) -> None:
    """``--out`` is a directory, or can be created: checked before the fit."""
    if os.path.isdir(out):
        for name in ("kmeans.gif", DEMO_MANIFEST):
            _checked("--out", os.path.join(out, name))
        frames = os.path.join(out, "frames")
        if os.path.isdir(frames):
            _checked("--out", os.path.join(frames, "iter_001.png"))
        elif os.path.lexists(frames):
            raise CLIError(f"--out {out}: {frames} exists and is not a directory")
        return
    if os.path.lexists(out):
        raise CLIError(f"--out {out}: exists and is not a directory")
    ancestor = os.path.dirname(os.path.abspath(out))
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise CLIError(f"--out {out}: cannot create it: {ancestor} is not a directory")
    try:
        check_directory(out, ancestor)
    except OutputError as exc:
        raise CLIError(f"--out {exc}") from None


def _write_demo_files(out: str, scratch: str, made: list[str]) -> None:
    """Put the files ``made`` in ``scratch`` (relative names) into ``out``, then delete what the
    previous run listed in the manifest and this one did not write, and list this run's."""
    previous = _demo_manifest(out)
    os.makedirs(os.path.join(out, "frames"), exist_ok=True)
    targets = check_outputs([os.path.join(out, name) for name in [*made, DEMO_MANIFEST]])
    with written_together() as stage:
        for name, target in zip(made, targets):
            stage(target, lambda tmp, name=name: shutil.copyfile(os.path.join(scratch, name), tmp))
        stage(targets[-1], lambda tmp: _write_lines(tmp, made))
    for name in sorted(previous - set(made)):
        path = os.path.join(out, name)
        if os.path.isfile(path) and not os.path.islink(path):
            os.remove(path)


def _demo_manifest(out: str) -> set[str]:
    """The files an earlier demo wrote in ``out`` (only names the demo writes are trusted)."""
    try:
        with open(os.path.join(out, DEMO_MANIFEST), encoding="utf-8") as f:
            names = {line.strip() for line in f}
    except FileNotFoundError:
        return set()
    return {name for name in names if DEMO_FILE.fullmatch(name)}


def _write_lines(path: str, lines: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


def _compare_with_sklearn(X: np.ndarray, blob: np.ndarray, init: np.ndarray, km: KMeans) -> None:
    try:
        import sklearn
        from sklearn.cluster import KMeans as SKKMeans
        from sklearn.metrics import adjusted_rand_score
    except ImportError:
        print(
            "scikit-learn is not installed: skipping the comparison "
            "(python -m pip install scikit-learn)"
        )
        return
    ref = SKKMeans(DEMO_K, init=init, n_init=1).fit(X)
    ours = to_numpy(km.cluster_centers_)
    labels = to_numpy(km.labels_)
    print(f"scikit-learn {sklearn.__version__}, from the same initial centres:")
    print(f"{'cluster':>7}  {'kmeans_xp centre':>22}  {'scikit-learn centre':>22}")
    for c in range(DEMO_K):
        mine = ", ".join(f"{v:9.5f}" for v in ours[c])
        theirs = ", ".join(f"{v:9.5f}" for v in ref.cluster_centers_[c])
        print(f"{c:>7}  {mine:>22}  {theirs:>22}")
    print(f"largest centre difference: {np.abs(ours - ref.cluster_centers_).max():.3g}")
    print(f"inertia: kmeans_xp {km.inertia_:.4f}, scikit-learn {ref.inertia_:.4f}")
    print(
        f"iterations: kmeans_xp {km.n_iter_}, scikit-learn {ref.n_iter_}; "
        f"adjusted Rand index of the labels: {adjusted_rand_score(ref.labels_, labels):.6f}"
    )
    print(f"adjusted Rand index against the true blobs: {adjusted_rand_score(blob, labels):.4f}")


# ----------------------------------------------------------------------------------- fit
def _run_fit(args: argparse.Namespace) -> int:
    if args.mini_batch:
        return _run_fit_mini_batch(args)
    named = {"--labels": args.labels, "--centers": args.centers, "--plot": args.plot}
    targets = _checked_outputs(named, args.input)
    if args.plot:
        _check_plot_format(args.plot)
    module, device, described = _backend(args.backend)
    X_host, header = read_matrix(args.input, delimiter=args.delimiter, header=args.header)
    n, d = X_host.shape
    if args.k > n:
        raise CLIError(f"-k {args.k} is larger than the number of rows in {args.input} ({n})")
    if args.verbose:
        print(f"read {n:,} rows x {d} columns from {args.input}" + _header_note(header))
        print(f"backend {described}")
    with Progress(wanted(args.quiet or args.verbose), unit="iteration") as progress:
        km = KMeans(
            args.k,
            init=args.init,
            max_iter=args.max_iter,
            tol=args.tol,
            random_state=args.seed,
            verbose=int(args.verbose),
            callback=_IterationProgress(progress),
        )
        with _reported_warnings():
            km.fit(from_numpy(X_host, module, device))
    labels = to_numpy(km.labels_).astype(np.int64)
    centers = np.asarray(to_numpy(km.cluster_centers_), dtype=np.float64)

    with written_together() as stage:
        if args.labels:
            stage(targets["--labels"], lambda tmp: np.savetxt(tmp, labels, fmt="%d"))
        if args.centers:
            stage(targets["--centers"], lambda tmp: _write_csv(tmp, centers))
        if args.plot:
            stage(targets["--plot"], lambda tmp: _save_fit_plot(tmp, args.plot, X_host, labels, km))
    sizes = np.bincount(labels, minlength=args.k)
    print(
        f"k={args.k}: inertia {km.inertia_:.6g} after {km.n_iter_} iterations "
        f"({km.stop_reason_}); cluster sizes {', '.join(str(s) for s in sizes)}"
    )
    if not args.centers:
        print("centres:")
        for row in centers:
            print("  " + ", ".join(f"{v:.6g}" for v in row))
    for name, path in (("labels", args.labels), ("centres", args.centers), ("plot", args.plot)):
        if path:
            print(f"wrote {name} to {path}")
    return 0


class _IterationProgress:
    """A KMeans callback that shows each iteration (its run, when there are several, and its
    inertia) on a Progress bar; ``counted``: the bar counts iterations (else it counts
    something else, and only the text changes)."""

    def __init__(self, progress: Progress, prefix: str = "", counted: bool = True) -> None:
        self.progress = progress
        self.prefix = prefix
        self.counted = counted
        self.run = 0

    def __call__(self, info: Any) -> None:
        if info.iteration == 1:
            self.run += 1
        run = f"run {self.run}, " if self.run > 1 else ""
        if self.counted:
            self.progress.step()
        self.progress.status(
            f"{self.prefix}{run}iteration {info.iteration}, inertia {info.inertia:.6g}"
        )


def _save_fit_plot(tmp: str, path: str, X: np.ndarray, labels: np.ndarray, km: KMeans) -> None:
    from .plot import plot_clusters

    ax = plot_clusters(
        X, labels, km.cluster_centers_, title=f"k={km.n_clusters}   inertia {km.inertia_:,.6g}"
    )
    ax.figure.tight_layout()
    ax.figure.savefig(tmp, format=_suffix(path), dpi=100)


# --------------------------------------------------------------------------------- elbow
def _run_elbow(args: argparse.Namespace) -> int:
    from .metrics import silhouette_score

    targets = _checked_outputs({"--plot": args.plot}, args.input)
    if args.plot:
        _check_plot_format(args.plot)
    module, device, described = _backend(args.backend)
    X_host, header = read_matrix(args.input, delimiter=args.delimiter, header=args.header)
    n, d = X_host.shape
    ks = args.k_range
    if ks[-1] > n:
        raise CLIError(f"--k-range goes up to k={ks[-1]}, more than the {n} rows of {args.input}")
    X = from_numpy(X_host, module, device)
    sample = args.silhouette_sample if 0 < args.silhouette_sample < n else None
    print(
        f"{n:,} rows x {d} columns from {args.input}{_header_note(header)}; backend {described}"
        + (f"; silhouette on {sample:,} random rows" if sample else "")
    )
    print(f"{'k':>4}  {'inertia':>14}  {'silhouette':>10}  iterations")
    inertias: list[float] = []
    scores: list[float | None] = []
    with Progress(wanted(args.quiet), total=len(ks), unit="k") as progress:
        for k in ks:
            km = KMeans(
                k,
                init=args.init,
                max_iter=args.max_iter,
                tol=args.tol,
                random_state=args.seed,
                callback=_IterationProgress(progress, prefix=f"k={k}: ", counted=False),
            )
            with _reported_warnings():
                km.fit(X)
            found = int(np.unique(to_numpy(km.labels_)).shape[0])
            if 2 <= found <= n - 1:
                progress.status(f"k={k}: silhouette")
                score = silhouette_score(X, km.labels_, sample_size=sample, random_state=args.seed)
                shown = f"{score:10.4f}"
            else:
                score = None
                shown = f"{'undefined':>10}"
            inertias.append(float(km.inertia_))
            scores.append(score)
            progress.step()
            progress.echo(f"{k:>4}  {km.inertia_:>14.6g}  {shown}  {km.n_iter_}")
    if 1 in ks:
        print("the silhouette is undefined for k=1 (it compares a point's own cluster with others)")
    best = _best_k(ks, scores)
    if best is not None:
        print(f"highest silhouette: k={best[0]} ({best[1]:.4f})")
    if args.plot:
        from .plot import plot_elbow

        with written_together() as stage:
            stage(
                targets["--plot"],
                lambda tmp: plot_elbow(ks, inertias, scores).savefig(
                    tmp, format=_suffix(args.plot)
                ),
            )
        print(f"wrote the plot to {args.plot}")
    return 0


def _best_k(ks: Sequence[int], scores: Sequence[float | None]) -> tuple[int, float] | None:
    """The k of the highest silhouette, the smallest such k on a tie, and its score."""
    defined = [(k, s) for k, s in zip(ks, scores) if s is not None]
    if not defined:
        return None
    top = max(s for _, s in defined)
    return min(k for k, s in defined if s == top), top


# ------------------------------------------------------------------------ mini-batch fit
def _add_mini_batch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mini-batch",
        action="store_true",
        help="fit MiniBatchKMeans (scikit-learn's mini-batch k-means): a .npy file is read "
        "memory-mapped, a batch of rows at a time, so it may be larger than memory; "
        "--max-iter counts passes over the data, and the fit stops early as scikit-learn's "
        "does (--tol is not used)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=1024,
        help="rows per mini-batch step (default 1024)",
    )


def _run_fit_mini_batch(args: argparse.Namespace) -> int:
    from ._minibatch import MiniBatchKMeans

    if args.plot:
        raise CLIError("--plot is not available with --mini-batch")
    targets = _checked_outputs({"--labels": args.labels, "--centers": args.centers}, args.input)
    module, device, described = _backend(args.backend)
    if args.input.lower().endswith(".npy") and os.path.isfile(args.input):
        X, header = open_npy(args.input), None
    else:
        X, header = read_matrix(args.input, delimiter=args.delimiter, header=args.header)
    n, d = X.shape
    if args.k > n:
        raise CLIError(f"-k {args.k} is larger than the number of rows in {args.input} ({n})")
    if args.verbose:
        print(f"read {n:,} rows x {d} columns from {args.input}" + _header_note(header))
        print(f"backend {described}; batches of {args.batch_size} rows")
    km = MiniBatchKMeans(
        args.k,
        init=args.init,
        max_iter=args.max_iter,
        batch_size=args.batch_size,
        random_state=args.seed,
        verbose=int(args.verbose),
    )
    if module is not np:  # centres on the device; batches of the file are copied there
        km.set_params(init=_device_init(X, args, module, device), n_init=1)
    with _reported_warnings():
        km.fit(X)
    labels = to_numpy(km.labels_).astype(np.int64)
    centers = np.asarray(to_numpy(km.cluster_centers_), dtype=np.float64)
    with written_together() as stage:
        if args.labels:
            stage(targets["--labels"], lambda tmp: np.savetxt(tmp, labels, fmt="%d"))
        if args.centers:
            stage(targets["--centers"], lambda tmp: _write_csv(tmp, centers))
    sizes = np.bincount(labels, minlength=args.k)
    print(
        f"k={args.k}: inertia {km.inertia_:.6g} after {km.n_steps_} steps of "
        f"{km._batch_size} rows ({km.n_iter_} passes); cluster sizes "
        + ", ".join(str(s) for s in sizes)
    )
    if not args.centers:
        print("centres:")
        for row in centers:
            print("  " + ", ".join(f"{v:.6g}" for v in row))
    for name, path in (("labels", args.labels), ("centres", args.centers)):
        if path:
            print(f"wrote {name} to {path}")
    return 0


def _device_init(X: np.ndarray, args: argparse.Namespace, module: Any, device: Any) -> Any:
    """Initial centres on the backend's device: k-means++ (or random rows) on as many random
    rows as MiniBatchKMeans draws for its initialisation (3 batches, at least 3 k)."""
    rng = np.random.default_rng(args.seed)
    size = min(X.shape[0], max(3 * min(args.batch_size, X.shape[0]), 3 * args.k))
    rows = np.sort(rng.choice(X.shape[0], size=size, replace=False))
    sample = from_numpy(np.asarray(X[rows], dtype=np.float64), module, device)
    if args.init == "random":
        return sample[np.sort(rng.choice(size, size=args.k, replace=False))]
    centers, _ = kmeans_plusplus(sample, args.k, random_state=args.seed)
    return centers


def _header_note(header: list[str] | None) -> str:
    return "" if header is None else f" (header: {', '.join(header)})"


# ------------------------------------------------------------------------------- writing
def _checked(option: str, path: str, inputs: Sequence[str] = ()) -> Target:
    """check_output, its message led by the option that named the path."""
    try:
        return check_output(path, inputs=inputs)
    except OutputError as exc:
        raise CLIError(f"{option} {exc}") from None


def _checked_outputs(named: dict[str, str | None], input_path: str) -> dict[str, Target]:
    """Every output the options name, checked before any work (see ``_cli_write``)."""
    given = {option: path for option, path in named.items() if path}
    targets = {option: _checked(option, path, [input_path]) for option, path in given.items()}
    seen: dict[str, str] = {}
    for option, target in targets.items():
        key = os.path.realpath(target.path)
        if key in seen:
            raise CLIError(f"{seen[key]} and {option} name the same file: {target.given}")
        seen[key] = option
    return targets


def _check_plot_format(path: str) -> None:
    from .plot import require_viz

    require_viz()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    supported = FigureCanvasAgg(Figure()).get_supported_filetypes()
    if _suffix(path) not in supported:
        raise CLIError(
            f"{path}: cannot draw a {_suffix(path)!r} file; "
            f"use one of {', '.join(sorted(supported))}"
        )


def _suffix(path: str) -> str:
    return os.path.splitext(path)[1].lstrip(".").lower() or "png"


def _write_csv(path: str, rows: np.ndarray) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(",".join(repr(float(v)) for v in row) + "\n")


@contextlib.contextmanager
def _reported_warnings() -> Iterator[None]:
    """Warnings raised by the fit, as one ``kmeans-xp: warning:`` line each on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        print(f"{PROG}: warning: {' '.join(str(w.message).split())}", file=sys.stderr)
