"""Memory of a sparse fit: the process's peak resident memory beyond X's own.

    python -m benchmarks.sparse_memory [--n 1000000] [--d 100000] [--per-row 100] [--k 64]
                                       [--max-iter 1] [--out DIR]

Builds an n x d CSR matrix (float64, int32 indices) with ``per_row`` stored values a row
(100 of 100,000 columns: 0.1% density), sorted and distinct, then fits ``KMeans(k,
init="random", n_init=1, max_iter=max_iter)`` on it and records the peak resident memory
(``ru_maxrss``) after building X and after the fit, next to X's size and to what a dense
copy (n x d) and an n x k matrix would take. Results go to ``benchmarks/results/`` as JSON.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import resource
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import kmeans_xp

from .sparse import machine, machine_slug

RESULTS = Path(__file__).resolve().parent / "results"
MIB = 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def make_csr(n: int, d: int, per_row: int, seed: int = 0) -> sp.csr_array:
    """Column j of a row is drawn in the j-th of ``per_row`` equal bands of columns: sorted
    and distinct without a sort, and no temporary beyond the arrays themselves."""
    rng = np.random.default_rng(seed)
    band = d // per_row
    indices = rng.integers(0, band, size=(n, per_row), dtype=np.int32)
    indices += np.arange(0, band * per_row, band, dtype=np.int32)
    data = rng.random(n * per_row)
    # int32 offsets where they fit: mixed index types would make SciPy copy the indices
    offsets = np.int32 if n * per_row < np.iinfo(np.int32).max else np.int64
    indptr = np.arange(0, n * per_row + 1, per_row, dtype=offsets)
    return sp.csr_array((data, indices.reshape(-1), indptr), shape=(n, d))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=100_000)
    parser.add_argument("--per-row", type=int, default=100)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--max-iter", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    X = make_csr(args.n, args.d, args.per_row)
    x_mib = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / MIB
    before = peak_rss_mib()
    start = time.perf_counter()
    est = kmeans_xp.KMeans(args.k, init="random", n_init=1, max_iter=args.max_iter, random_state=0)
    est.fit(X)
    seconds = time.perf_counter() - start
    after = peak_rss_mib()
    result = {
        "case": {"n": args.n, "d": args.d, "nnz": int(X.nnz), "k": args.k, "dtype": "float64"},
        "machine": machine(),
        "X_mib": x_mib,
        "peak_rss_after_building_X_mib": before,
        "peak_rss_after_fit_mib": after,
        "fit_added_mib": after - before,
        "dense_X_would_take_mib": args.n * args.d * 8 / MIB,
        "n_by_k_would_take_mib": args.n * args.k * 8 / MIB,
        "k_by_d_mib": args.k * args.d * 8 / MIB,
        "fit_seconds": seconds,
        "iterations": est.n_iter_,
    }
    print(json.dumps(result, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    where = f"{machine_slug(result['machine'])}_{args.n}x{args.d}_nnz{X.nnz}_k{args.k}"
    name = f"sparse_memory_{stamp}_{where}.json"
    (args.out / name).write_text(json.dumps(result, indent=2) + "\n")
    print("written:", args.out / name)


if __name__ == "__main__":
    main()
