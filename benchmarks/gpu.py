"""GPU benchmark: kmeans_xp's time per Lloyd iteration on CuPy and torch CUDA inputs, next to a
plain torch Lloyd step (addmm + argmin + index_add_) and the SGEMM floor of the same shapes, all
measured in this run on the same data and the same initial centres, plus memory high-water marks
and the article's 2,000 x 2, k=3 warm whole fit.

Strict float32: CUPY_TF32=0 and torch's TF32 switched off before any product. Data is generated
on the GPU (torch) and shared with CuPy through DLPack, without a copy.

    python3 benchmarks/gpu.py --out DIR [--quick]

Run through benchmarks/gpu_check.sh on the GPU machine (see benchmarks/README.md). Writes
DIR/gpu_<card>.json again after every measurement and prints each case's table row as the case
ends, so that a run stopped at its time limit keeps what it measured; the whole table last.
"""

from __future__ import annotations

import os

os.environ.setdefault("CUPY_TF32", "0")  # read at CuPy's first float32 product

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")

import cupy  # noqa: E402

from kmeans_xp import KMeans  # noqa: E402
from kmeans_xp._kernels import chunk_rows, kernels_for  # noqa: E402
from kmeans_xp._kernels import torch as torch_native  # noqa: E402
from kmeans_xp._lloyd import lloyd  # noqa: E402
from kmeans_xp._xp import array_namespace  # noqa: E402
from kmeans_xp.datasets import make_blobs  # noqa: E402

# name, n, d, k, timed iterations; the largest last, as a time limit would cut it first
CASES = [
    ("5Mx128_k8", 5_000_000, 128, 8, 8),
    ("2Mx256_k4096", 2_000_000, 256, 4096, 5),
    ("20Mx128_k1024", 20_000_000, 128, 1024, 5),
]
QUICK_CASES = [("200kx64_k1024", 200_000, 64, 1024, 4), ("500kx32_k8", 500_000, 32, 8, 4)]
WORKING_MEMORY = 256 * 2**20  # KMeans's default
SWEEP_MIB = (32, 64, 128, 1024)  # other working-memory budgets tried for kmeans_xp on CuPy


def log(*args):
    print(*args, flush=True)


# ------------------------------------------------------------------------------ timing
def cuda_median(fn, repeats, warmup=1):
    """Median seconds of ``fn`` between CUDA events on the current stream, after warm-up."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times), times


def engine_iterations(X, C0, w, rows, iters):
    """kmeans_xp's Lloyd loop (the engine, as KMeans runs it): seconds per iteration from the
    callback's time stamps, which follow each iteration's host sync; a warm-up run first. Runs
    again from C0 when the loop converges early, until ``iters`` iterations were timed."""
    kernels = kernels_for(array_namespace(X))
    lloyd(X, C0, w, max_iter=2, tol=-1.0, kernels=kernels, chunk_rows=rows)
    deltas = []
    for _ in range(4):
        stamps = []
        start = time.perf_counter()
        lloyd(
            X,
            C0,
            w,
            max_iter=iters,
            tol=-1.0,
            kernels=kernels,
            chunk_rows=rows,
            callback=lambda info, s=stamps: s.append(time.perf_counter()),
        )
        deltas += np.diff([start, *stamps]).tolist()
        if len(deltas) >= iters:
            break
    return float(np.median(deltas)), deltas


def plain_torch_step(X, C, chunk):
    """The plain torch Lloyd step: addmm + argmin + index_add_ per chunk, then the means."""
    k = C.shape[0]
    c_sq = (C * C).sum(1)
    minus_2_ct = -2.0 * C.T
    sums = torch.zeros_like(C)
    counts = torch.zeros((k,), dtype=C.dtype, device=C.device)
    ones = torch.ones((chunk,), dtype=C.dtype, device=C.device)
    for start in range(0, X.shape[0], chunk):
        x = X[start : start + chunk]
        labels = torch.addmm(c_sq, x, minus_2_ct).argmin(1)
        sums.index_add_(0, labels, x)
        counts.index_add_(0, labels, ones[: x.shape[0]])
    return sums / counts.clamp_min(1)[:, None]


def sgemm_pass(X, C, chunk, buf):
    """X @ (-2 C).T over row chunks into one reused buffer: the distance product alone."""
    minus_2_ct = -2.0 * C.T
    for start in range(0, X.shape[0], chunk):
        x = X[start : start + chunk]
        torch.mm(x, minus_2_ct, out=buf[: x.shape[0]])


# ------------------------------------------------------------------------------ memory
class CupyPeak:
    """High-water mark of CuPy's memory pool over a block (bytes above the level at entry)."""

    def __enter__(self):
        self.pool = cupy.get_default_memory_pool()
        self.base = self.pool.used_bytes()
        self.peak = self.base

        def tracking(size):
            memory = self.pool.malloc(size)
            self.peak = max(self.peak, self.pool.used_bytes())
            return memory

        cupy.cuda.set_allocator(tracking)
        return self

    def __exit__(self, *exc):
        cupy.cuda.Device().synchronize()
        cupy.cuda.set_allocator(self.pool.malloc)
        self.extra = self.peak - self.base
        return False


def torch_peak(fn):
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


# ------------------------------------------------------------------------------ data
def blobs_on_gpu(n, d, k, seed):
    """Gaussian blobs made on the GPU in float32 (k centres in a box, unit noise), and k rows
    drawn as initial centres."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    centres = torch.empty((k, d), device="cuda").uniform_(-4.0, 4.0, generator=g)
    X = torch.empty((n, d), device="cuda")
    step = 1 << 20
    for start in range(0, n, step):
        m = min(step, n - start)
        which = torch.randint(0, k, (m,), device="cuda", generator=g)
        X[start : start + m] = centres[which] + torch.randn((m, d), device="cuda", generator=g)
    init = X[torch.randperm(n, device="cuda", generator=g)[:k]].clone()
    torch.cuda.synchronize()
    return X, init


# ------------------------------------------------------------------------------ cases
class Recorded(dict):
    """A case's results, the JSON written again at every new entry (``save``)."""

    def __init__(self, save, **items):
        super().__init__(**items)
        self.save = save

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.save()


def measured(res, key, fn):
    """res[key] = fn(), or the error as text: one failed measurement keeps the others."""
    try:
        res[key] = fn()
    except Exception as exc:
        res[key] = f"failed: {type(exc).__name__}: {exc}"
        cupy.get_default_memory_pool().free_all_blocks()
        torch.cuda.empty_cache()
    value = res[key]
    shown = f"{value * 1e3:.2f} ms" if isinstance(value, float) and value < 100 else value
    log(f"   {key}: {shown}")
    return value


def run_case(res, name, n, d, k, iters):
    """The case's measurements, into ``res`` (a :class:`Recorded`) one by one."""
    log(f"== {name}: n={n} d={d} k={k}")
    t0 = time.perf_counter()
    Xt, C0t = blobs_on_gpu(n, d, k, seed=0)
    wt = torch.ones((n,), device="cuda")
    Xc, C0c, wc = (cupy.from_dlpack(a) for a in (Xt, C0t, wt))  # same memory
    torch.cuda.empty_cache()
    log(f"   data on the GPU in {time.perf_counter() - t0:.1f} s")
    cupy_kernels = kernels_for(array_namespace(Xc))
    torch_kernels = kernels_for(array_namespace(Xt))
    # the chunks KMeans would take for each input type (each backend's step_bytes_per_row)
    rows = chunk_rows(
        n, k, d, 4, WORKING_MEMORY, cupy_kernels.free_memory(Xc), cupy_kernels.step_bytes_per_row
    )
    torch_rows = chunk_rows(
        n, k, d, 4, WORKING_MEMORY, torch_kernels.free_memory(Xt), torch_kernels.step_bytes_per_row
    )
    plain_chunk = max(1, min(n, 2**28 // (4 * k)))  # a 256 MiB distance block
    res.update(n=n, d=d, k=k, x_bytes=n * d * 4, gemm_flops=2.0 * n * d * k)
    res.update(chunk_rows=rows, torch_chunk_rows=torch_rows, plain_chunk_rows=plain_chunk)

    t = time.perf_counter()
    measured(res, "xp_cupy_s", lambda: engine_iterations(Xc, C0c, wc, rows, iters)[0])
    log(f"   (cupy with compile and warm-up: {time.perf_counter() - t:.1f} s)")
    from kmeans_xp._kernels import cupy as cupy_native

    cupy_native.VECTOR_ROWS = False  # the kernels' scalar path, to see what float4 rows bring
    try:
        measured(res, "xp_cupy_scalar_rows_s", lambda: engine_iterations(Xc, C0c, wc, rows, 3)[0])
    finally:
        cupy_native.VECTOR_ROWS = True
    measured(res, "xp_torch_s", lambda: engine_iterations(Xt, C0t, wt, torch_rows, iters)[0])
    torch_native.CUDA_VIA_CUPY = False  # torch's own operations, without the CuPy kernels
    try:
        measured(
            res, "xp_torch_native_s", lambda: engine_iterations(Xt, C0t, wt, torch_rows, iters)[0]
        )
    finally:
        torch_native.CUDA_VIA_CUPY = True
    measured(
        res,
        "plain_torch_s",
        lambda: cuda_median(lambda: plain_torch_step(Xt, C0t, plain_chunk), iters)[0],
    )

    def floor(chunk):
        buf = torch.empty((min(chunk, n), k), device="cuda")
        return cuda_median(lambda: sgemm_pass(Xt, C0t, chunk, buf), 3)[0]

    floors = {
        f"sgemm_chunk{c}_s": measured(res, f"sgemm_chunk{c}_s", lambda c=c: floor(c))
        for c in sorted({rows, plain_chunk})
    }
    ok = [v for v in floors.values() if isinstance(v, float)]
    if ok:
        res["sgemm_floor_s"] = min(ok)
        res["sgemm_tflops"] = res["gemm_flops"] / res["sgemm_floor_s"] / 1e12
        log(
            f"   SGEMM floor {res['sgemm_floor_s'] * 1e3:.2f} ms, {res['sgemm_tflops']:.1f} TFLOP/s"
        )

    # where kmeans_xp's time goes on CuPy: the assign alone (the step adds the sums to it)
    measured(
        res,
        "xp_cupy_assign_s",
        lambda: cuda_median(lambda: cupy_kernels.assign(Xc, C0c, chunk_rows=rows), 3)[0],
    )
    for mib in SWEEP_MIB:
        r = chunk_rows(n, k, d, 4, mib * 2**20, cupy_kernels.free_memory(Xc))
        res[f"chunk_rows_{mib}mib"] = r
        measured(res, f"xp_cupy_{mib}mib_s", lambda r=r: engine_iterations(Xc, C0c, wc, r, 3)[0])

    def loop_peak_cupy():
        with CupyPeak() as peak:
            lloyd(Xc, C0c, wc, max_iter=2, tol=-1.0, kernels=cupy_kernels, chunk_rows=rows)
        return peak.extra

    def fit_peak_cupy():  # the whole fit: validation, tol (and a centred copy of X only
        # when its mean is far from 0 beside its spread: not for these blobs), the loop
        with CupyPeak() as peak:
            KMeans(k, init=C0c, n_init=1, max_iter=2, tol=0.0).fit(Xc)
        return peak.extra

    loop = lambda: lloyd(  # noqa: E731
        Xt, C0t, wt, max_iter=2, tol=-1.0, kernels=torch_kernels, chunk_rows=torch_rows
    )
    measured(res, "xp_cupy_loop_peak_bytes", loop_peak_cupy)

    def loop_peak_torch():  # torch's allocator, plus CuPy's pool for the CuPy kernels' buffers
        with CupyPeak() as peak:
            in_torch = torch_peak(loop)
        return in_torch + peak.extra

    measured(res, "xp_torch_loop_peak_bytes", loop_peak_torch)
    measured(res, "xp_cupy_fit_peak_bytes", fit_peak_cupy)

    def fit_default_init_peak_cupy():  # the whole fit with the default initialisation
        with CupyPeak() as peak:
            KMeans(k, n_init=1, max_iter=2, tol=0.0, random_state=0).fit(Xc)
        return peak.extra

    measured(res, "xp_cupy_fit_default_init_peak_bytes", fit_default_init_peak_cupy)
    # the case's arrays go with this frame; main() then empties both pools


def article_case(repeats=20):
    """The article's data: 2,000 x 2, 3 blobs; a whole KMeans fit, warm, timed with a sync."""
    X, _ = make_blobs(2000, 2, centers=3, cluster_std=1.35, random_state=11)
    X = X.astype(np.float32)
    out = {}
    for lib, Xg, sync in (
        ("cupy", cupy.asarray(X), cupy.cuda.Device().synchronize),
        ("torch", torch.asarray(X, device="cuda"), torch.cuda.synchronize),
    ):
        for _ in range(3):
            est = KMeans(3, random_state=0).fit(Xg)
        sync()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            est = KMeans(3, random_state=0).fit(Xg)
            sync()
            times.append(time.perf_counter() - start)
        out[lib] = {"fit_s": statistics.median(times), "n_iter": int(est.n_iter_)}
        log(f"   article fit {lib}: {out[lib]['fit_s'] * 1e3:.2f} ms, {est.n_iter_} iterations")
    return out


def _ms(value):
    return value * 1e3 if isinstance(value, float) else float("nan")


def _cells(r):
    cupy_s, torch_s = _ms(r.get("xp_cupy_s")), _ms(r.get("xp_torch_s"))
    plain, floor = _ms(r.get("plain_torch_s")), _ms(r.get("sgemm_floor_s"))
    peak = r.get("xp_cupy_loop_peak_bytes")
    peak = peak / 2**20 if isinstance(peak, int) else float("nan")
    return [
        f"{cupy_s:8.2f}",
        f"{torch_s:8.2f}",
        f"{_ms(r.get('xp_torch_native_s')):9.2f}",
        f"{plain:8.2f}",
        f"{floor:8.2f}",
        f"{cupy_s / floor:10.2f}",
        f"{plain / cupy_s:10.2f}",
        f"{plain / torch_s:14.2f}",
        f"{peak:8.0f}",
    ]


def _table_head():
    return (
        f"{'case':>14} {'xp cupy':>8} {'xp torch':>8} {'torch-nat':>9} {'plain':>8} {'sgemm':>8} "
        f"{'cupy/sgemm':>10} {'plain/cupy':>10} {'plain/xp-torch':>14} {'loop MiB':>8}"
    )


def _row(name, r):
    if "error" in r:
        return f"{name:>14} {r['error'][:80]}"
    return f"{name:>14} " + " ".join(_cells(r))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".")
    parser.add_argument("--quick", action="store_true", help="small cases (a smoke run)")
    parser.add_argument("--only", default=None, help="regex on case names")
    args = parser.parse_args()
    assert not torch.backends.cuda.matmul.allow_tf32 and os.environ["CUPY_TF32"] == "0"

    card = torch.cuda.get_device_name()
    meta = {
        "gpu": card,
        "date_utc": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
        "torch": torch.__version__,
        "cupy": cupy.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "tf32": False,
        "working_memory_mib": WORKING_MEMORY // 2**20,
    }
    log(json.dumps(meta))
    results = {"meta": meta, "cases": {}}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    path = Path(args.out) / f"gpu_{re.sub(r'[^A-Za-z0-9]+', '_', card).strip('_')}.json"
    t0 = time.perf_counter()
    from kmeans_xp._kernels import cupy as cupy_native

    def save():
        meta["cupy_kernels_scalar_fallback"] = cupy_native.SCALAR_FALLBACK  # None: float4 built
        meta["torch_cupy_route_errors"] = dict(torch_native.CUPY_ROUTE_ERRORS)  # {}: it worked
        results["wall_s"] = time.perf_counter() - t0
        path.write_text(json.dumps(results, indent=1))

    log("== article: 2000 x 2, k=3 (warm whole fit)")
    try:
        results["article_2000x2_k3"] = article_case()
    except Exception as exc:
        log(f"   article case failed: {type(exc).__name__}: {exc}")
        results["article_2000x2_k3"] = {"error": f"{type(exc).__name__}: {exc}"}
    save()
    for name, n, d, k, iters in QUICK_CASES if args.quick else CASES:
        if args.only and not re.search(args.only, name):
            continue
        results["cases"][name] = res = Recorded(save)
        try:
            run_case(res, name, n, d, k, iters)
        except Exception as exc:  # keep the other cases
            log(f"   {name} failed: {type(exc).__name__}: {exc}")
            res["error"] = f"{type(exc).__name__}: {exc}"
        cupy.get_default_memory_pool().free_all_blocks()
        torch.cuda.empty_cache()
        save()
        log(_table_head())
        log(_row(name, res))
    save()

    log(f"\n{card}, strict float32, per Lloyd iteration (ms); ratios as the issue states them")
    log(_table_head())
    for name, r in results["cases"].items():
        log(_row(name, r))
    art = results["article_2000x2_k3"]
    fits = {lib: _ms(art.get(lib, {}).get("fit_s")) for lib in ("cupy", "torch")}
    log(
        f"article 2000x2 k=3 warm fit: cupy {fits['cupy']:.2f} ms, torch {fits['torch']:.2f} ms "
        "(target < 10 ms)"
    )
    log("targets: k>=1024 cupy/sgemm <= 1.2 and plain/cupy >= 1.1; k=8 plain/cupy >= 1.5")
    log(f"written: {path}")


if __name__ == "__main__":
    main()
