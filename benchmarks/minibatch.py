"""MiniBatchKMeans benchmark: kmeans_xp against scikit-learn, side by side in one process.

    python -m benchmarks.minibatch [--n 200000] [--d 16] [--k 16] [--batch-size 1024]
                                   [--seeds 3] [--rounds 3] [--quality-seeds 10]
                                   [--threads N] [--tag TEXT]

Same data (Gaussian blobs, float64, ``make_blobs(n, d, centers=k, random_state=0)``) and the
same parameters for both (scikit-learn's defaults but ``n_clusters``, ``batch_size`` and
``random_state``). Figures:

- ``quality``: the inertia on the full data (``inertia_``, ``compute_labels=True``) of the
  default fit, mean over seeds 0..seeds-1 for each library, and the ratio of the means;
- ``fit``: the time of those whole default fits (initialisation, steps until scikit-learn's
  early stopping, final labels), summed over the seeds; best of ``rounds`` rounds in which
  the two libraries alternate;
- ``step``: time per step, from fits of exactly ``n // batch_size`` steps (``max_iter=1``,
  ``max_no_improvement=None``, ``compute_labels=False``), best of ``rounds``;
- ``quality``: the same inertia over ``quality_seeds`` seeds, untimed (mean and median);
- ``stream``: kmeans_xp's whole default fit (seed 0) of the same data read from a memory-mapped
  ``.npy`` file, and streamed from NumPy into torch (CPU) tensors, against the in-memory fit.

These machines are shared and stall at random: only the ratios of one run mean much. The
results are printed and written as JSON and markdown to ``benchmarks/results/``, named by date,
machine and case.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import kmeans_xp
from benchmarks.cpu import machine

RESULTS = Path(__file__).resolve().parent / "results"


def _params(k: int, batch_size: int, seed: int, **extra) -> dict:
    return {"n_clusters": k, "batch_size": batch_size, "random_state": seed, **extra}


def _ours(**params):
    return kmeans_xp.MiniBatchKMeans(**params)


def _sklearn(**params):
    from sklearn.cluster import MiniBatchKMeans

    return MiniBatchKMeans(**params)


CONTENDERS: dict[str, Callable] = {"kmeans_xp": _ours, "sklearn": _sklearn}


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _race(runs: dict[str, Callable[[], object]], rounds: int) -> dict[str, tuple[float, object]]:
    """Best time of each: one warm-up each, then ``rounds`` rounds in which they alternate (the
    order rotates)."""
    names = list(runs)
    for name in names:
        runs[name]()
    best: dict[str, tuple[float, object]] = {name: (float("inf"), None) for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            s, out = _timed(runs[name])
            if s < best[name][0]:
                best[name] = (s, out)
    return best


def run(
    n: int, d: int, k: int, batch_size: int, seeds: int, rounds: int, quality_seeds: int = 0
) -> dict:
    X, _ = kmeans_xp.make_blobs(n, d, centers=k, random_state=0)
    X = np.ascontiguousarray(X, dtype=np.float64)
    result: dict = {"case": {"n": n, "d": d, "k": k, "batch_size": batch_size, "seeds": seeds}}

    def whole_fits(make: Callable) -> Callable[[], list]:
        def go():
            fits = [make(**_params(k, batch_size, s)).fit(X) for s in range(seeds)]
            return [(f.inertia_, f.n_steps_) for f in fits]

        return go

    best = _race({name: whole_fits(make) for name, make in CONTENDERS.items()}, rounds)
    fit = {}
    for name, (s, out) in best.items():
        fit[name] = {
            "seconds": s,
            "inertia": [float(i) for i, _ in out],
            "n_steps": [int(t) for _, t in out],
            "mean_inertia": float(np.mean([i for i, _ in out])),
        }
    result["fit"] = fit
    result["fit_time_ratio"] = fit["kmeans_xp"]["seconds"] / fit["sklearn"]["seconds"]
    result["inertia_ratio"] = fit["kmeans_xp"]["mean_inertia"] / fit["sklearn"]["mean_inertia"]

    fixed = {"max_iter": 1, "max_no_improvement": None, "compute_labels": False}

    def fixed_steps(make: Callable) -> Callable[[], int]:
        return lambda: make(**_params(k, batch_size, 0, **fixed)).fit(X).n_steps_

    best = _race({name: fixed_steps(make) for name, make in CONTENDERS.items()}, rounds)
    step = {name: {"us_per_step": s / out * 1e6, "n_steps": out} for name, (s, out) in best.items()}
    result["step"] = step
    result["step_time_ratio"] = step["kmeans_xp"]["us_per_step"] / step["sklearn"]["us_per_step"]
    result["stream"] = stream(X, k, batch_size, rounds)
    if quality_seeds > seeds:
        result["quality"] = quality(X, k, batch_size, quality_seeds)
    return result


def quality(X: np.ndarray, k: int, batch_size: int, n_seeds: int) -> dict:
    """Full-data inertia of the default fit for seeds 0..n_seeds-1 (no timing): a seed now and
    then starts in a poor local optimum, in either library, and moves a 3-seed mean a lot."""
    out = {}
    for name, make in CONTENDERS.items():
        inertia = [float(make(**_params(k, batch_size, s)).fit(X).inertia_) for s in range(n_seeds)]
        out[name] = {
            "inertia": inertia,
            "mean": float(np.mean(inertia)),
            "median": float(np.median(inertia)),
        }
    out["mean_ratio"] = out["kmeans_xp"]["mean"] / out["sklearn"]["mean"]
    out["median_ratio"] = out["kmeans_xp"]["median"] / out["sklearn"]["median"]
    return out


def stream(X: np.ndarray, k: int, batch_size: int, rounds: int) -> dict:
    """kmeans_xp's default fit (seed 0) from memory, from a memory-mapped file, and from NumPy
    into torch CPU tensors (the host-to-device path, without a device)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npy")
        np.save(path, X)
        mm = np.load(path, mmap_mode="r")
        runs = {"in_memory": lambda: _ours(**_params(k, batch_size, 0)).fit(X)}
        runs["memory_map"] = lambda: _ours(**_params(k, batch_size, 0)).fit(mm)
        try:
            import torch

            # torch's CPU threads fight the other processes of a loaded 2-core machine (a
            # 1024 x 16 by 16 x 16 product took 20 ms): one thread times the streaming itself
            torch.set_num_threads(1)
            init = kmeans_xp.MiniBatchKMeans(**_params(k, batch_size, 0)).fit(X).cluster_centers_
            like = torch.asarray(init)  # centres in torch: batches are copied from NumPy
            runs["numpy_to_torch_cpu"] = lambda: _ours(
                **_params(k, batch_size, 0, init=like, n_init=1)
            ).fit(X)
        except ImportError:
            pass
        best = _race(runs, rounds)
    out = {}
    for name, (s, fitted) in best.items():
        rows = fitted.n_steps_ * batch_size
        out[name] = {"seconds": s, "n_steps": int(fitted.n_steps_), "rows_per_s": rows / s}
    return out


def markdown(result: dict, info: dict) -> str:
    c = result["case"]
    lines = [
        f"# MiniBatchKMeans, {c['n']:,} x {c['d']} blobs, k={c['k']}, batch_size={c['batch_size']}",
        "",
        f"CPU: {info['cpu']} ({info['cores']} cores); load average before "
        f"{info['load_before']}, after {info['load_after']}; threads: {info['threads']}.",
        "",
        "| figure | kmeans_xp | scikit-learn | ratio |",
        "| --- | --- | --- | --- |",
    ]
    ours, ref = result["fit"]["kmeans_xp"], result["fit"]["sklearn"]
    lines.append(
        f"| mean full-data inertia over {c['seeds']} seeds | {ours['mean_inertia']:.6g} | "
        f"{ref['mean_inertia']:.6g} | {result['inertia_ratio']:.4f} |"
    )
    lines.append(
        f"| whole fits, {c['seeds']} seeds (s) | {ours['seconds']:.3f} | {ref['seconds']:.3f} "
        f"| {result['fit_time_ratio']:.3f} |"
    )
    s_ours, s_ref = result["step"]["kmeans_xp"], result["step"]["sklearn"]
    lines.append(
        f"| per step (us), {s_ours['n_steps']} steps | {s_ours['us_per_step']:.0f} | "
        f"{s_ref['us_per_step']:.0f} | {result['step_time_ratio']:.3f} |"
    )
    lines += [
        "",
        f"Steps per seed (kmeans_xp / scikit-learn): {ours['n_steps']} / {ref['n_steps']}.",
        f"Inertia per seed: {[round(v, 1) for v in ours['inertia']]} / "
        f"{[round(v, 1) for v in ref['inertia']]}.",
        "",
        "| kmeans_xp source (seed 0) | s | steps | rows per s |",
        "| --- | --- | --- | --- |",
    ]
    for name, row in result["stream"].items():
        lines.append(
            f"| {name} | {row['seconds']:.3f} | {row['n_steps']} | {row['rows_per_s']:,.0f} |"
        )
    q = result.get("quality")
    if q:
        lines += [
            "",
            f"Quality over {len(q['kmeans_xp']['inertia'])} seeds (no timing): mean ratio "
            f"{q['mean_ratio']:.4f}, median ratio {q['median_ratio']:.4f}.",
            f"kmeans_xp: {[round(v / 1e6, 4) for v in q['kmeans_xp']['inertia']]} (x 1e6)",
            f"sklearn:   {[round(v / 1e6, 4) for v in q['sklearn']['inertia']]} (x 1e6)",
        ]
    lines += ["", "The torch (CPU) row runs torch on one thread; the machine is shared."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--d", type=int, default=16)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--quality-seeds", type=int, default=10, help="seeds of the untimed inertia comparison"
    )
    parser.add_argument("--threads", type=int, help="limit BLAS and OpenMP to this many threads")
    parser.add_argument("--tag", default="", help="added to the result files' names")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    info = machine()
    info["threads"] = args.threads or "default"
    info["load_before"] = os.getloadavg()[0]
    result = run(
        args.n, args.d, args.k, args.batch_size, args.seeds, args.rounds, args.quality_seeds
    )
    info["load_after"] = os.getloadavg()[0]
    text = markdown(result, info)
    print(text)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    cpu = re.sub(r"[^a-z0-9]+", "-", info["cpu"].lower()).strip("-")
    what = f"{args.n // 1000}kx{args.d}_k{args.k}_b{args.batch_size}"
    name = f"minibatch_{stamp}_{cpu}-{info['cores']}core_{what}"
    if args.tag:
        name += f"_{args.tag}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps({"machine": info, **result}, indent=2) + "\n")
    (args.out / f"{name}.md").write_text(text)
    print(f"wrote {args.out / name}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
