"""torch fast path against the portable kernels on torch tensors, CPU or CUDA.

    python benchmarks/torch_kernels.py                 # CPU, the cases below
    python benchmarks/torch_kernels.py --device cuda   # same on a GPU
    python benchmarks/torch_kernels.py --crossover     # segment sum: one-hot vs index_add_ by k

Times one Lloyd step (assign + segment sum, ``lloyd_step``) of each version on the same data and
centres, median of repeats after a warm-up, and prints the ratio. Chunks are sized as ``KMeans``
sizes them (256 MiB working memory).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from kmeans_xp._kernels import chunk_rows, portable
from kmeans_xp._kernels import torch as native

CASES = [(2_000, 2, 3), (100_000, 16, 16), (1_000_000, 2, 8), (200_000, 64, 256), (60_000, 784, 10)]
WORKING_MEMORY = 256 * 2**20


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_time(fn, device, repeats):
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _data(n, d, k, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn((n, d), generator=g).to(device)
    C = X[torch.randperm(n, generator=g)[:k]].clone()
    w = torch.ones((n,), device=device)
    return X, C, w


def steps(device, repeats):
    kernels = {"portable": portable, "torch": native}
    print(f"{'case':>20} {'portable ms':>12} {'torch ms':>9} {'speed-up':>8}")
    for n, d, k in CASES:
        X, C, w = _data(n, d, k, device)
        rows = chunk_rows(n, k, d, 4, WORKING_MEMORY)
        t = {}
        for name, module in kernels.items():
            args = (module.lloyd_step, X, C, w, rows)
            t[name] = _median_time(lambda a=args: a[0](*a[1:4], chunk_rows=a[4]), device, repeats)
        case = f"{n} x {d}, k={k}"
        ratio = t["portable"] / t["torch"]
        print(f"{case:>20} {t['portable'] * 1e3:12.2f} {t['torch'] * 1e3:9.2f} {ratio:8.2f}")


def crossover(device, repeats):
    n = 200_000
    print(f"Lloyd step of {n} rows, sums by one-hot product vs index_add_ (ms)")
    print(f"{'d':>4} {'k':>4} {'one-hot':>8} {'index_add_':>10}")
    for d in (2, 16, 128):
        X = torch.randn((n, d), device=device)
        w = torch.rand((n,), device=device)
        for k in (2, 4, 8, 16, 32, 64):
            C = X[torch.randperm(n, device=device)[:k]].clone()
            rows = chunk_rows(n, k, d, 4, WORKING_MEMORY)
            t = {}
            for name, small in (("onehot", 10**9), ("scatter", 0)):
                native.SMALL_K_CPU = native.SMALL_K_CUDA = small
                args = (X, C, w, rows)
                t[name] = _median_time(
                    lambda a=args: native.lloyd_step(*a[:3], chunk_rows=a[3]), device, repeats
                )
            print(f"{d:4d} {k:4d} {t['onehot'] * 1e3:8.2f} {t['scatter'] * 1e3:10.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--crossover", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    if args.crossover:
        crossover(device, args.repeats)
    else:
        steps(device, args.repeats)


if __name__ == "__main__":
    main()
