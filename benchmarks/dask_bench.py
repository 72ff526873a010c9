"""Dask benchmark: kmeans_xp on a 2-worker dask.distributed cluster, against dask-ml's KMeans on
the same data, and against kmeans_xp on NumPy in one process.

    python -m benchmarks.dask_bench [--n 4000000] [--d 16] [--k 64] [--max-iter 20] [--out DIR]

The data are float32 Gaussian blobs (k centres, overlapping), in row blocks persisted once on
the workers (two worker processes, one thread each). Two figures per contender:

- ``fit``: a default fit (kmeans_xp: k-means|| on Dask, k-means++ on NumPy; dask-ml: its
  k-means|| with oversampling factor 2), ``max_iter`` iterations at most, default ``tol``;
  wall time including the initialisation, and the inertia of the centres it returns;
- ``iter``: exactly ``ITERATIONS`` Lloyd iterations (``tol=0``) from the same initial centres
  (k rows of X drawn once), as time per iteration.

Every inertia is recomputed by one function (float64, on the host), so the ratios compare
centres, not each library's bookkeeping. dask-ml is skipped cleanly when it is not installed.
The machines these run on are shared: the load average is recorded before and after, and only
ratios from the same run mean much. The table is printed and written as JSON, with the machine,
to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import kmeans_xp
from kmeans_xp._kernels import portable

from . import result_name

ITERATIONS = 10
RESULTS = Path(__file__).resolve().parent / "results"


def make_data(n: int, d: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 blobs and k distinct rows of them (the shared initial centres)."""
    X, _ = kmeans_xp.make_blobs(n, d, centers=k, cluster_std=6.0, random_state=seed)
    X = np.ascontiguousarray(X, dtype=np.float32)
    rows = np.sort(np.random.default_rng(seed + 1).choice(n, size=k, replace=False))
    return X, np.ascontiguousarray(X[rows])


def inertia(X: np.ndarray, centers: np.ndarray) -> float:
    """Sum of squared distances to the nearest centre, in float64, the same for everyone."""
    C = np.asarray(centers, dtype=np.float64)
    total = 0.0
    for start in range(0, X.shape[0], 500_000):
        rows = X[start : start + 500_000].astype(np.float64)
        _, sqdist = portable.assign(rows, C, chunk_rows=rows.shape[0])
        total += float(sqdist.sum())
    return total


def _timed(fit):
    start = time.perf_counter()
    model = fit()
    return model, time.perf_counter() - start


def _host(a) -> np.ndarray:
    return np.asarray(a.compute() if hasattr(a, "compute") else a)


def run(n: int, d: int, k: int, max_iter: int, blocks: int) -> dict:
    import dask.array as da
    import distributed

    try:
        import dask_ml.cluster as dask_ml_cluster
    except ImportError:
        dask_ml_cluster = None

    X, init = make_data(n, d, k)
    results: dict[str, dict] = {}

    def record(name, kind, model, seconds, n_iter):
        centers = _host(model.cluster_centers_)
        entry = results.setdefault(name, {})
        entry[kind] = {
            "seconds": seconds,
            "n_iter": int(n_iter),
            "inertia": inertia(X, centers),
            "s_per_iter": seconds / max(int(n_iter), 1),
        }
        print(f"  {name:<16} {kind:<5} {seconds:8.2f} s  {int(n_iter):3d} iterations", flush=True)

    def estimator(name: str, kind: str):
        iters = max_iter if kind == "fit" else ITERATIONS
        if name == "dask-ml":
            if kind == "fit":
                options = dict(init="k-means||", oversampling_factor=2, random_state=0)
            else:
                options = dict(init=init, tol=0.0, random_state=0)
            return dask_ml_cluster.KMeans(n_clusters=k, max_iter=iters, **options)
        options = dict(random_state=0) if kind == "fit" else dict(init=init, tol=0.0)
        return kmeans_xp.KMeans(k, max_iter=iters, **options)

    def measure(name: str, data) -> None:
        for kind in ("fit", "iter"):
            est = estimator(name, kind)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # dask-ml's notes on its init and chunks
                model, seconds = _timed(lambda est=est: est.fit(data))
            record(name, kind, model, seconds, model.n_iter_)

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        # the blocks are sent to the workers once (not embedded in a graph) and stay there
        pieces = np.array_split(X, blocks)
        parts = client.scatter(pieces)
        Xd = da.concatenate(
            [da.from_delayed(p, piece.shape, X.dtype) for p, piece in zip(parts, pieces)]
        ).persist()
        distributed.wait(Xd)
        measure("kmeans_xp dask", Xd)
        if dask_ml_cluster is not None:
            measure("dask-ml", Xd)
        workers = len(client.scheduler_info()["workers"])
    measure("kmeans_xp numpy", X)
    return {"results": results, "workers": workers, "dask_ml": dask_ml_cluster is not None}


def machine() -> dict:
    import dask
    import distributed

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "kmeans_xp": kmeans_xp.__version__,
    }
    try:
        import dask_ml

        info["dask_ml"] = dask_ml.__version__
    except ImportError:
        info["dask_ml"] = None
    return info


def table(report: dict) -> str:
    results = report["results"]
    base = results["kmeans_xp dask"]
    lines = [
        "| contender | fit time (s) | iterations | inertia | inertia / kmeans_xp dask "
        "| fit time / kmeans_xp dask | s per iteration (same init) "
        "| per-iteration / kmeans_xp dask |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in results.items():
        fit, per = entry["fit"], entry["iter"]
        lines.append(
            f"| {name} | {fit['seconds']:.2f} | {fit['n_iter']} | {fit['inertia']:.6g} "
            f"| {fit['inertia'] / base['fit']['inertia']:.4f} "
            f"| {fit['seconds'] / base['fit']['seconds']:.2f} | {per['s_per_iter']:.3f} "
            f"| {per['s_per_iter'] / base['iter']['s_per_iter']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4_000_000)
    parser.add_argument("--d", type=int, default=16)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--max-iter", type=int, default=20)
    parser.add_argument("--blocks", type=int, default=8, help="row blocks of the Dask array")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    started = time.perf_counter()
    print(f"{args.n} x {args.d} float32, k={args.k}, 2-worker LocalCluster", flush=True)
    outcome = run(args.n, args.d, args.k, args.max_iter, args.blocks)
    report = {
        "benchmark": "dask_bench",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.dask_bench", *(argv or sys.argv[1:])]),
        "case": {
            "n": args.n,
            "d": args.d,
            "k": args.k,
            "dtype": "float32",
            "max_iter": args.max_iter,
            "row_blocks": args.blocks,
            "same_init_iterations": ITERATIONS,
        },
        "cluster": "distributed.LocalCluster, 2 worker processes x 1 thread",
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "wall_seconds": time.perf_counter() - started,
        **outcome,
    }
    text = table(report)
    print(text)
    if not outcome["dask_ml"]:
        print("dask-ml is not installed: its rows are skipped (pip install dask-ml)")
    args.out.mkdir(parents=True, exist_ok=True)
    what = f"{args.n}x{args.d}_k{args.k}_maxiter{args.max_iter}"
    path = args.out / f"{result_name('dask', what)}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"written {path}")
    return report


if __name__ == "__main__":
    main()
