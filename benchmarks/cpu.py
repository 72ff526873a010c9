"""CPU benchmark: kmeans_xp against scikit-learn and faiss-cpu, side by side.

    python -m benchmarks.cpu [--cases NAME ...] [--rounds 5] [--fit-rounds 3] [--out DIR] [--jax]
                             [--pause 2] [--cold-rounds 2] [--cold-process]

Every contender gets the same float32 data in one process. Two figures per case:

- ``iter``: time per Lloyd iteration, from a fit of exactly 10 iterations (``max_iter=10``,
  ``tol=0``, ``n_init=1``) from the same initial centres (rows of X drawn once), divided by the
  iterations the contender reports having run (checked to be 10 for every contender);
- ``fit``: a whole default fit (k-means++, ``n_init=1``, default ``tol``, run to convergence;
  faiss: its own defaults, random init and 25 iterations on a subsample).

Beside them, each case's hardware ``floor``, measured in the same run: the larger of one SGEMM
``X @ C.T`` of the case's shapes (float32, NumPy's BLAS) and one read of X (a sum over it), each
the best of several; the table gives kmeans_xp / floor and sklearn / floor per iteration.
``cold`` per-iteration figures run each contender once after an idle pause (``--pause`` seconds
asleep), the best of ``--cold-rounds`` such runs (0: none). ``--cold-process`` also times the
first fit of each case in new processes (imports, then the fit, three processes each), with the
default step and with the compiled loop off.

Where the fused step's compiled loop is built and the case takes it (few clusters and
features), the per-iteration race adds ``kmeans_xp_numpy``: kmeans_xp with the loop switched
off (``numpy_fused.ENABLED = False``), the NumPy-call path of the same step.

With ``--jax``, the per-iteration race also runs kmeans_xp on JAX arrays of the same data and
centres (``jax``), and XLA's floor for the assignment: a jitted ``argmin(X @ C.T)`` run
``max_iter`` times, each waited for (``xla_floor``: the whole product at once, as one program;
``xla_floor_chunked``: the same over 1024-row chunks with ``lax.map``, the form that keeps the
scores in cache). A table of their own gives their ratios to the NumPy path and to XLA's floors.

After one warm-up run of each, the contenders alternate over several rounds and the best time
of each is kept, with the spread of the rounds' best times (a second table): these machines are
shared and stall at random, so only the ratios of one run mean much. The tables are printed and
written as JSON (with the CPU, cores, BLAS threads and load) and as markdown to
``benchmarks/results/`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import kmeans_xp
from kmeans_xp._kernels import numpy_fused, numpy_step

from . import cpu_model, result_name

ITERATIONS = 10  # the per-iteration figure runs exactly this many Lloyd iterations
RESULTS = Path(__file__).resolve().parent / "results"

# name -> (n, d, k, cluster_std); the article's case is its exact data set
CASES = {
    "2000x2_k3": (2_000, 2, 3, 1.35),
    "100kx16_k16": (100_000, 16, 16, 6.0),
    "1Mx2_k8": (1_000_000, 2, 8, 4.0),
    "200kx64_k256": (200_000, 64, 256, 6.0),
    "60kx784_k10": (60_000, 784, 10, 12.0),
}


def make_data(name: str) -> tuple[np.ndarray, np.ndarray]:
    """float32 X (overlapping Gaussian blobs, so 10 iterations never converge early) and the
    shared initial centres: k distinct rows of X drawn once."""
    n, d, k, std = CASES[name]
    if name == "2000x2_k3":  # the article's data
        X, _ = kmeans_xp.make_blobs(2000, 2, centers=3, cluster_std=1.35, random_state=11)
    else:
        X, _ = kmeans_xp.make_blobs(n, d, centers=k, cluster_std=std, random_state=0)
    X = np.ascontiguousarray(X, dtype=np.float32)
    rows = np.random.default_rng(1).choice(n, size=k, replace=False)
    return X, np.ascontiguousarray(X[np.sort(rows)])


# ------------------------------------------------------------------ contenders
# each returns (iterations run, inertia) so the harness can check what was timed


def kmeans_xp_iter(X, init):
    est = kmeans_xp.KMeans(init.shape[0], init=init, n_init=1, max_iter=ITERATIONS, tol=0.0)
    est.fit(X)
    return est.n_iter_, est.inertia_


def kmeans_xp_numpy_iter(X, init):
    """kmeans_xp with the fused loop off: the NumPy-call path of the same step."""
    numpy_fused.ENABLED = False
    try:
        return kmeans_xp_iter(X, init)
    finally:
        numpy_fused.ENABLED = True


def kmeans_xp_fit(X, k, seed):
    est = kmeans_xp.KMeans(k, random_state=seed).fit(X)
    return est.n_iter_, est.inertia_


def sklearn_iter(X, init):
    from sklearn.cluster import KMeans

    est = KMeans(
        init.shape[0], init=init, n_init=1, max_iter=ITERATIONS, tol=0.0, algorithm="lloyd"
    )
    est.fit(X)
    return est.n_iter_, est.inertia_


def sklearn_fit(X, k, seed):
    from sklearn.cluster import KMeans

    est = KMeans(k, n_init=1, random_state=seed).fit(X)
    return est.n_iter_, est.inertia_


def faiss_iter(X, init):
    import faiss

    km = faiss.Kmeans(
        X.shape[1],
        init.shape[0],
        niter=ITERATIONS,
        nredo=1,
        min_points_per_centroid=1,
        max_points_per_centroid=X.shape[0],  # no subsampling: the same rows as the others
    )
    km.train(X, init_centroids=init)
    return len(km.obj), float(km.obj[-1])


def faiss_fit(X, k, seed):
    import faiss

    km = faiss.Kmeans(X.shape[1], k, seed=seed)
    km.train(X)
    return len(km.obj), float(km.obj[-1])


# JAX contenders (``--jax``): the arrays are made once, outside the timed runs
def jax_iter(Xj, init_j):
    est = kmeans_xp.KMeans(init_j.shape[0], init=init_j, n_init=1, max_iter=ITERATIONS, tol=0.0)
    est.fit(Xj)
    return est.n_iter_, est.inertia_


def _xla_floor(chunk: int | None):
    import jax
    import jax.numpy as jnp

    def labels(X, C):
        return jnp.argmin(X @ C.T, axis=1)

    if chunk is None:
        return jax.jit(labels)

    def chunked(X, C):
        full = X.shape[0] // chunk * chunk
        head = jax.lax.map(lambda rows: labels(rows, C), X[:full].reshape(-1, chunk, X.shape[1]))
        return jnp.concatenate([head.reshape(-1), labels(X[full:], C)])

    return jax.jit(chunked)


def xla_floor_iter(floor, Xj, init_j):
    """``ITERATIONS`` assignments by ``floor``, each waited for (a Lloyd loop syncs once per
    iteration too)."""
    for _ in range(ITERATIONS):
        floor(Xj, init_j).block_until_ready()
    return ITERATIONS, 0.0


def _jax_contenders(X: np.ndarray, init: np.ndarray) -> dict[str, Callable]:
    import jax.numpy as jnp

    Xj, init_j = jnp.asarray(X), jnp.asarray(init)
    whole, chunked = _xla_floor(None), _xla_floor(1024)
    return {
        "jax": lambda: jax_iter(Xj, init_j),
        "xla_floor": lambda: xla_floor_iter(whole, Xj, init_j),
        "xla_floor_chunked": lambda: xla_floor_iter(chunked, Xj, init_j),
    }


def _has_faiss() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------- timing
def _timed(fn: Callable[[], tuple[int, float]]) -> tuple[float, int, float]:
    start = time.perf_counter()
    n_iter, inertia = fn()
    return time.perf_counter() - start, int(n_iter), float(inertia)


def _race(
    contenders: dict[str, Callable], rounds: int, min_round_s: float, warm_up: bool = True
) -> dict:
    """Best time of each contender: one warm-up each, then ``rounds`` rounds in which they
    alternate (the order rotates); a round repeats a contender until ``min_round_s`` passed.

    Runs of one contender follow each other, not another library's: OpenMP threads (those of
    scikit-learn and faiss) keep spinning for a while after a run and slow whatever runs next
    (kmeans_xp at 100k x 16: 24.5 ms right after a faiss fit, 19.8 ms after its own; taking
    turns run by run made its per-iteration ratio swing from 0.93 to 1.28)."""
    names = list(contenders)
    best = {name: {"s": float("inf")} for name in names}
    round_best = {name: [] for name in names}
    for name in names if warm_up else ():
        _timed(contenders[name])
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            spent, this_round = 0.0, float("inf")
            while True:
                s, n_iter, inertia = _timed(contenders[name])
                spent += s
                this_round = min(this_round, s)
                if s < best[name]["s"]:
                    best[name] = {"s": s, "n_iter": n_iter, "inertia": inertia}
                if spent >= min_round_s:
                    break
            round_best[name].append(this_round)
    for name in names:  # how far apart the rounds were: a wide spread means a noisy machine
        best[name]["rounds_s"] = sorted(round_best[name])
    return best


def floor(X: np.ndarray, init: np.ndarray, repeats: int = 15) -> dict:
    """The case's hardware floor for one Lloyd iteration.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32
        The case's data.
    init : ndarray of shape (k, d), float32
        The case's initial centres.
    repeats : int
        Runs of each measurement; the best is kept.

    Returns
    -------
    dict
        ``s``, the larger of ``sgemm_s`` (one ``X @ C.T`` into a preallocated output, BLAS with
        its current threads) and ``read_s`` (one sum over X).
    """
    out = np.empty((X.shape[0], init.shape[0]), dtype=X.dtype)
    Ct = np.ascontiguousarray(init.T)

    def best(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    sgemm = best(lambda: np.matmul(X, Ct, out=out))
    read = best(lambda: np.add.reduce(X, axis=None))
    return {"s": max(sgemm, read), "sgemm_s": sgemm, "read_s": read}


def _cold(contenders: dict[str, Callable], pause: float, rounds: int) -> dict:
    """Each contender run once after ``pause`` seconds asleep, ``rounds`` times.

    Parameters
    ----------
    contenders : dict of str to callable
        The per-iteration contenders, each returning ``(n_iter, inertia)``.
    pause : float
        Seconds asleep before each run (caches cooled by whatever else ran, clocks down).
    rounds : int
        Cold runs of each contender.

    Returns
    -------
    dict
        Per contender: the best time ``s``, every time ``runs_s``, ``s_per_iter``, ``n_iter``
        and ``inertia``.
    """
    times = {name: [] for name in contenders}
    info = {}
    for _ in range(rounds):
        for name, fn in contenders.items():
            time.sleep(pause)
            s, n_iter, inertia = _timed(fn)
            times[name].append(s)
            info[name] = {"n_iter": n_iter, "inertia": inertia}
    return {
        name: {**info[name], "s": min(t), "runs_s": t, "s_per_iter": min(t) / info[name]["n_iter"]}
        for name, t in times.items()
    }


_COLD_SCRIPT = """
import time
start = time.perf_counter()
import numpy as np
import kmeans_xp
imported = time.perf_counter()
X, _ = kmeans_xp.make_blobs({n}, {d}, centers={k}, cluster_std={std}, random_state={seed})
X = np.ascontiguousarray(X, dtype=np.float32)
ready = time.perf_counter()
est = kmeans_xp.KMeans({k}, n_init=1, random_state=0).fit(X)
print(time.perf_counter() - ready, imported - start, est.n_iter_)
"""


def cold_process(names: list[str], repeats: int = 3) -> dict:
    """The first fit of each case in new processes, with the library's default step and, where
    the compiled loop is built, with it switched off (``KMEANS_XP_FUSED=0``).

    Parameters
    ----------
    names : list of str
        Cases (keys of ``CASES``); each gets the same data as in ``make_data``.
    repeats : int
        New processes per case and variant; they run with the default threads (``--threads``
        stops at this process).

    Returns
    -------
    dict
        Per case and variant (``default``, ``numpy_calls``), one dict per process: ``fit_s``
        (from the data being ready to the fit's end, k-means++ and ``n_init=1``),
        ``imports_s`` (NumPy and kmeans_xp), ``process_s`` (the whole process, interpreter
        start included) and ``n_iter``.
    """
    variants = {"default": {}}
    if numpy_fused._fused_step is not None:
        variants["numpy_calls"] = {"KMEANS_XP_FUSED": "0"}
    results = {}
    for name in names:
        n, d, k, std = CASES[name]
        seed = 11 if name == "2000x2_k3" else 0  # as make_data: the article's data set
        script = _COLD_SCRIPT.format(n=n, d=d, k=k, std=std, seed=seed)
        results[name] = {}
        for variant, changes in variants.items():
            env = {key: v for key, v in os.environ.items() if key != "KMEANS_XP_FUSED"}
            env.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
            env.update(changes)
            runs = []
            for _ in range(repeats):
                started = time.perf_counter()
                out = subprocess.run(
                    [sys.executable, "-c", script],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                wall = time.perf_counter() - started
                fit_s, imports_s, n_iter = out.stdout.split()
                runs.append(
                    {
                        "fit_s": float(fit_s),
                        "imports_s": float(imports_s),
                        "process_s": wall,
                        "n_iter": int(n_iter),
                    }
                )
            results[name][variant] = runs
    return results


def _seeds(fit: Callable, X: np.ndarray, k: int, n_seeds: int) -> Callable:
    """A whole-fit contender over seeds 0..n_seeds-1: total iterations and mean inertia."""

    def run():
        results = [fit(X, k, seed) for seed in range(n_seeds)]
        return sum(r[0] for r in results), float(np.mean([r[1] for r in results]))

    return run


def _limit_threads(n: int, use_faiss: bool) -> None:
    from threadpoolctl import threadpool_limits

    from kmeans_xp._kernels import numpy_threads

    numpy_threads.THREADS = n
    threadpool_limits(n)  # BLAS and OpenMP (scikit-learn), for the rest of the process
    if use_faiss:
        import faiss

        faiss.omp_set_num_threads(n)


def run_case(
    name: str,
    rounds: int,
    fit_rounds: int,
    fit_seeds: int,
    use_faiss: bool,
    use_jax: bool,
    pause: float = 2.0,
    cold_rounds: int = 2,
) -> dict:
    """Time one case: the per-iteration race, the floor, the cold runs and the whole-fit race.

    Parameters
    ----------
    name : str
        A key of ``CASES``.
    rounds, fit_rounds : int
        Rounds of the per-iteration and of the whole-fit race.
    fit_seeds : int
        Seeds per whole-fit timing.
    use_faiss, use_jax : bool
        Whether faiss-cpu, and kmeans_xp on JAX arrays with XLA's floors, take part.
    pause : float
        Seconds asleep before each cold run.
    cold_rounds : int
        Cold runs of each per-iteration contender (0: none).

    Returns
    -------
    dict
        The shapes and the blocks ``floor``, ``iter``, ``cold`` and ``fit``.
    """
    X, init = make_data(name)
    n, d, k, _ = CASES[name]
    iter_contenders = {
        "kmeans_xp": lambda: kmeans_xp_iter(X, init),
        "sklearn": lambda: sklearn_iter(X, init),
    }
    fit_contenders = {
        "kmeans_xp": _seeds(kmeans_xp_fit, X, k, fit_seeds),
        "sklearn": _seeds(sklearn_fit, X, k, fit_seeds),
    }
    if numpy_fused.applies(X) and numpy_step.Layout(X, k, n).by_cluster:
        iter_contenders["kmeans_xp_numpy"] = lambda: kmeans_xp_numpy_iter(X, init)
    if use_faiss:
        iter_contenders["faiss"] = lambda: faiss_iter(X, init)
        fit_contenders["faiss"] = _seeds(faiss_fit, X, k, fit_seeds)
    if use_jax:
        iter_contenders.update(_jax_contenders(X, init))
    small = n * d * k < 1_000_000
    # every round runs each contender for 0.2 s at least: the best of a few dozen short fits
    # (a fit of 10 iterations takes from 1 ms to 1 s here), one run of a long one
    per_iter = _race(iter_contenders, rounds, 0.2)
    for result in per_iter.values():
        result["s_per_iter"] = result["s"] / result["n_iter"]
    case_floor = floor(X, init)
    cold = _cold(iter_contenders, pause, cold_rounds) if cold_rounds else {}
    # the per-iteration race warmed every library up; whole fits of the larger cases are long
    fit = _race(fit_contenders, fit_rounds, 0.2 if small else 0.0, warm_up=small)
    its = {c: r["n_iter"] for c, r in per_iter.items()}
    return {
        "n": n,
        "d": d,
        "k": k,
        "iterations_checked": all(v == ITERATIONS for v in its.values()),
        "floor": case_floor,
        "iter": per_iter,
        "cold": cold,
        "fit": fit,
    }


# ---------------------------------------------------------------------- report
def machine() -> dict:
    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "kmeans_xp": kmeans_xp.__version__,
        # the fused step's compiled loop: the instruction set it runs, or why it does not
        "fused_step": (
            "not built"
            if numpy_fused._fused_step is None
            else numpy_fused._fused_step.INSTRUCTIONS
            if numpy_fused.ENABLED
            else "switched off"
        ),
        "env": {
            key: os.environ.get(key)
            for key in (
                "OPENBLAS_CORETYPE",
                "OPENBLAS_L2_SIZE",
                "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS",
                "MKL_NUM_THREADS",
                "KMEANS_XP_FUSED",
            )
        },
    }
    try:
        import sklearn

        info["sklearn"] = sklearn.__version__
    except ImportError:
        pass
    try:
        import faiss

        info["faiss"] = faiss.__version__
    except ImportError:
        pass
    try:
        import jax

        info["jax"] = jax.__version__
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {
                key: pool.get(key)
                for key in (
                    "user_api",
                    "internal_api",
                    "prefix",
                    "num_threads",
                    "version",
                    "architecture",
                )
            }
            for pool in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def table(results: dict, peers: list[str]) -> str:
    """Markdown table of times in ms and ratios.

    Parameters
    ----------
    results : dict
        Case name to ``run_case``'s result.
    peers : list of str
        The contenders beside kmeans_xp (``sklearn``, ``faiss``).

    Returns
    -------
    str
        One row per figure: per iteration, per iteration cold (run after an idle pause) and
        whole fit; kmeans_xp / peer (below 1: kmeans_xp is faster) and, per iteration, the
        case's floor with kmeans_xp / floor and sklearn / floor.
    """
    head = ["case", "figure", "kmeans_xp ms"]
    for peer in peers:
        head += [f"{peer} ms", f"xp/{peer}"]
    head += ["floor ms", "xp/floor", "sklearn/floor", "iterations"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    figures = (
        ("per iteration", "iter", "s_per_iter"),
        ("per iteration, cold", "cold", "s_per_iter"),
        ("whole fit", "fit", "s"),
    )
    for name, case in results.items():
        for figure, block_name, key in figures:
            block = case[block_name]
            if "kmeans_xp" not in block:  # no cold runs
                continue
            ours = block["kmeans_xp"][key]
            row = [name, figure, f"{ours * 1e3:.3g}"]
            for peer in peers:
                if peer in block:
                    theirs = block[peer][key]
                    row += [f"{theirs * 1e3:.3g}", f"{ours / theirs:.2f}"]
                else:
                    row += ["-", "-"]
            if key == "s_per_iter":
                fl = case["floor"]["s"]
                row += [f"{fl * 1e3:.3g}", f"{ours / fl:.2f}"]
                row.append(f"{block['sklearn'][key] / fl:.2f}")
            else:
                row += ["-", "-", "-"]
            row.append(
                " / ".join(str(block[c]["n_iter"]) for c in ["kmeans_xp", *peers] if c in block)
            )
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def spread_table(results: dict) -> str:
    """Markdown table of how much the timings moved.

    Parameters
    ----------
    results : dict
        Case name to ``run_case``'s result.

    Returns
    -------
    str
        Per case and per-iteration contender: the rounds' best times per iteration (min /
        median / max, ms) and every cold run's.
    """
    lines = [
        "| case | contender | per iteration, rounds min/median/max ms | cold runs ms |",
        "|---|---|---|---|",
    ]
    for name, case in results.items():
        for contender, result in case["iter"].items():
            rounds = [t / result["n_iter"] * 1e3 for t in result["rounds_s"]]
            spread = f"{min(rounds):.3g} / {float(np.median(rounds)):.3g} / {max(rounds):.3g}"
            cold = case["cold"].get(contender)
            cold_runs = [t / cold["n_iter"] * 1e3 for t in cold["runs_s"]] if cold else []
            cold_text = ", ".join(f"{t:.3g}" for t in cold_runs) or "-"
            lines.append(f"| {name} | {contender} | {spread} | {cold_text} |")
    return "\n".join(lines)


def cold_process_table(results: dict) -> str:
    """Markdown table of ``cold_process``: per case and variant, each new process's first fit
    and imports.

    Parameters
    ----------
    results : dict
        ``cold_process``'s result.

    Returns
    -------
    str
        One row per case and variant, times in ms.
    """
    lines = [
        "| case in a new process | step | first fit ms (each run) | imports ms | process ms |",
        "|---|---|---|---|---|",
    ]
    for name, variants in results.items():
        for variant, runs in variants.items():
            cells = [
                ", ".join(f"{r[key] * 1e3:.0f}" for r in runs)
                for key in ("fit_s", "imports_s", "process_s")
            ]
            lines.append(f"| {name} | {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def jax_table(results: dict) -> str:
    """Markdown table of the ``--jax`` contenders: ms per iteration and ratios."""
    head = ["case", "numpy ms", "jax ms", "jax/numpy", "xla floor ms", "jax/xla floor"]
    head += ["xla chunked floor ms", "jax/xla chunked floor"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, case in results.items():
        t = {c: r["s_per_iter"] for c, r in case["iter"].items()}
        if "jax" not in t:
            continue
        jax_s = t["jax"]
        row = [name, f"{t['kmeans_xp'] * 1e3:.3g}", f"{jax_s * 1e3:.3g}"]
        row.append(f"{jax_s / t['kmeans_xp']:.2f}")
        for floor in ("xla_floor", "xla_floor_chunked"):
            row += [f"{t[floor] * 1e3:.3g}", f"{jax_s / t[floor]:.2f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cpu",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the per-iteration race")
    parser.add_argument("--fit-rounds", type=int, default=2, help="rounds of the whole-fit race")
    parser.add_argument("--no-faiss", action="store_true", help="leave faiss-cpu out")
    parser.add_argument(
        "--jax", action="store_true", help="also time JAX arrays and XLA's floor per iteration"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for every contender (BLAS, OpenMP, kmeans_xp's pool); default: all cores",
    )
    parser.add_argument(
        "--fit-seeds", type=int, default=2, help="seeds per whole-fit timing (their total time)"
    )
    parser.add_argument(
        "--pause", type=float, default=2.0, help="seconds asleep before each cold run"
    )
    parser.add_argument(
        "--cold-rounds", type=int, default=2, help="cold runs of each contender (0: none)"
    )
    parser.add_argument(
        "--cold-process",
        action="store_true",
        help="also time the first fit of each case in new processes",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for JSON and markdown")
    parser.add_argument(
        "--tag",
        default="default",
        help="what was measured: the last part of the result file names "
        "(cpu_DATE_MACHINE_TAG.json and .md; default 'default')",
    )
    parser.add_argument("--note", default="", help="free text stored with the results")
    args = parser.parse_args(argv)

    peers = ["sklearn"] + (["faiss"] if _has_faiss() and not args.no_faiss else [])
    if args.threads is not None:
        _limit_threads(args.threads, "faiss" in peers)
    started = time.perf_counter()
    load_before = os.getloadavg()
    results = {}
    for name in args.cases:
        results[name] = run_case(
            name,
            args.rounds,
            args.fit_rounds,
            args.fit_seeds,
            "faiss" in peers,
            args.jax,
            args.pause,
            args.cold_rounds,
        )
        for line in table({name: results[name]}, peers).splitlines()[2:]:
            print(line, flush=True)
    cold_processes = cold_process(args.cases) if args.cold_process else None

    text = table(results, peers) + "\n\nSpreads:\n\n" + spread_table(results)
    if args.jax:
        text += "\n\nJAX, per iteration:\n\n" + jax_table(results)
    if cold_processes:
        text += "\n\nFirst fit in a new process:\n\n" + cold_process_table(cold_processes)
    elapsed = time.perf_counter() - started
    print()
    print(text)
    ratios = {
        name: {
            "iter_vs_sklearn": case["iter"]["kmeans_xp"]["s_per_iter"]
            / case["iter"]["sklearn"]["s_per_iter"],
            "fit_vs_sklearn": case["fit"]["kmeans_xp"]["s"] / case["fit"]["sklearn"]["s"],
            "iter_vs_floor": case["iter"]["kmeans_xp"]["s_per_iter"] / case["floor"]["s"],
            "sklearn_iter_vs_floor": case["iter"]["sklearn"]["s_per_iter"] / case["floor"]["s"],
        }
        for name, case in results.items()
    }
    record = {
        "command": " ".join(
            ["python -m benchmarks.cpu", *(argv if argv is not None else sys.argv[1:])]
        ),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "note": args.note,
        "machine": machine(),
        "rounds": args.rounds,
        "fit_rounds": args.fit_rounds,
        "fit_seeds": args.fit_seeds,
        "threads": args.threads,
        "pause": args.pause,
        "cold_rounds": args.cold_rounds,
        "ratios": ratios,
        "cases": results,
        "cold_process": cold_processes,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = result_name("cpu", args.tag)
    (args.out / f"{stem}.json").write_text(json.dumps(record, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(
        f"# CPU benchmark {record['date_utc']}\n\n`{record['command']}`\n\n"
        f"{record['machine']['cpu']}, {record['machine']['cores']} cores; "
        f"fused step's compiled loop: {record['machine']['fused_step']}; "
        f"load average before/after: {load_before} / {record['load_average_after']}; "
        f"took {elapsed:.0f} s.\n\n{args.note}\n\n{text}\n"
    )
    print(f"\n{elapsed:.0f} s; written to {args.out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
