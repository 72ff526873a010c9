"""Streaming host data to a device: rows per second of MiniBatchKMeans fed from a memory map.

    python -m benchmarks.minibatch_stream [--library torch|cupy] [--device cuda] [--n 4000000]
                                          [--d 64] [--k 256] [--batch-size 65536] [--rounds 3]

A float32 ``.npy`` file of n x d blobs is written to a temporary directory and opened
memory-mapped; the centres live on the device. Two figures, each the best of ``rounds``:

- ``pass``: one ordered pass, ``partial_fit`` on every batch of ``iter_batches`` (the next
  batch read and copied while the current step runs), against the same pass with
  ``ahead=False`` (each batch read and copied only when asked for): the overlap's gain;
- ``fit``: a whole ``fit`` of the memory map (random batches, scikit-learn's early stopping,
  ``compute_labels=False``), rows stepped through per second.

With ``--device cpu`` (torch) it runs anywhere and times the streaming machinery only. Results
are printed and written as JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

import kmeans_xp
from benchmarks.cpu import machine

RESULTS = Path(__file__).resolve().parent / "results"


def _library(name: str, device: str):
    """(an empty array on the device, a function that waits for the device)."""
    if name == "torch":
        import torch

        dev = torch.device(device)
        if dev.type == "cpu":  # its threads would fight the worker thread for the cores
            torch.set_num_threads(1)
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        return torch.empty(0, device=dev), sync
    import cupy

    return cupy.empty(0), cupy.cuda.Device().synchronize


def _best(fn, rounds: int) -> tuple[float, object]:
    fn()  # warm-up: allocators, pinned pools, kernels
    best = (float("inf"), None)
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn()
        best = min(best, (time.perf_counter() - start, out), key=lambda t: t[0])
    return best


def run(args) -> dict:
    like, sync = _library(args.library, args.device)
    X, _ = kmeans_xp.make_blobs(args.n, args.d, centers=args.k, random_state=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npy")
        np.save(path, np.asarray(X, dtype=np.float32))
        del X
        mm = np.load(path, mmap_mode="r")
        sample = mm[np.sort(np.random.default_rng(0).choice(args.n, 4 * args.batch_size))]
        init, _ = kmeans_xp.kmeans_plusplus(
            kmeans_xp.iter_batches(sample, len(sample), like=like).__next__(),
            args.k,
            random_state=0,
        )

        def one_pass(ahead: bool):
            def go():
                km = kmeans_xp.MiniBatchKMeans(args.k, init=init, compute_labels=False)
                for batch in kmeans_xp.iter_batches(mm, args.batch_size, like=like, ahead=ahead):
                    km.partial_fit(batch)
                sync()
                return km.n_steps_

            return go

        def whole_fit():
            km = kmeans_xp.MiniBatchKMeans(
                args.k, init=init, batch_size=args.batch_size, compute_labels=False
            ).fit(mm)
            sync()
            return km.n_steps_

        out = {}
        for name, fn in (
            ("pass_ahead", one_pass(True)),
            ("pass_one_at_a_time", one_pass(False)),
            ("fit", whole_fit),
        ):
            s, steps = _best(fn, args.rounds)
            rows = args.n if name.startswith("pass") else steps * args.batch_size
            out[name] = {"seconds": s, "steps": int(steps), "rows_per_s": rows / s}
        out["overlap_gain"] = out["pass_one_at_a_time"]["seconds"] / out["pass_ahead"]["seconds"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", choices=("torch", "cupy"), default="torch")
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--n", type=int, default=4_000_000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--k", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=65_536)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    info = machine()
    case = {key: value for key, value in vars(args).items() if key != "out"}
    result = {"case": case, "stream": run(args)}
    for name, row in result["stream"].items():
        print(name, row)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    cpu = re.sub(r"[^a-z0-9]+", "-", info["cpu"].lower()).strip("-")
    where = f"{args.library}-{args.device}"
    name = f"minibatch_stream_{stamp}_{cpu}_{where}_{args.n // 1000}kx{args.d}_k{args.k}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps({"machine": info, **result}, indent=2))
    print(f"wrote {args.out / name}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
