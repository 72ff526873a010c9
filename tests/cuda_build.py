"""Compile the CuPy kernels' CUDA source as CuPy does (NVRTC, with the same name expressions), then
assemble the PTX with ptxas for each target, without a GPU: the compile check of the tests and of
CI, and a per-kernel resource report (registers, spills, stack).

NVRTC and ptxas come from the ``nvidia-cuda-nvrtc-cu12`` and ``nvidia-cuda-nvcc-cu12`` wheels
when installed, else from a CUDA toolkit on the library path and the PATH.

    python -m tests.cuda_build        # the report for sm_80 and sm_90; exit status 1 on a failure
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

ARCHS = ("sm_80", "sm_90")
# the two builds the module can make: with the float4 rows (sm_90) and without them
VARIANTS = {"default": (), "scalar rows": ("-DKMEANS_XP_SCALAR_ROWS",)}


def _wheel_dir(package: str) -> str | None:
    spec = importlib.util.find_spec(package) if importlib.util.find_spec("nvidia") else None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return locations[0] if locations else None


def find_nvrtc() -> str | None:
    """Path of libnvrtc: the wheel's, else the system's."""
    base = _wheel_dir("nvidia.cuda_nvrtc")
    if base:
        found = sorted(glob.glob(os.path.join(base, "lib", "libnvrtc.so.*")))
        found = [f for f in found if ".alt." not in f and "builtins" not in f]
        if found:
            return found[0]
    return ctypes.util.find_library("nvrtc")


def find_ptxas() -> str | None:
    """Path of ptxas: the wheel's, else the one on the PATH."""
    base = _wheel_dir("nvidia.cuda_nvcc")
    if base and os.access(os.path.join(base, "bin", "ptxas"), os.X_OK):
        return os.path.join(base, "bin", "ptxas")
    return shutil.which("ptxas")


class CompileError(RuntimeError):
    """NVRTC or ptxas failed, warned or spilled; the message holds the log."""


def nvrtc_ptx(
    source: str, names: tuple[str, ...], arch: str, options: tuple[str, ...] = ()
) -> tuple[str, dict[str, str]]:
    """PTX of ``source`` for ``arch`` (``sm_90`` -> ``-arch=compute_90``) and the mangled name of
    each of ``names`` (template instances, as CuPy's ``name_expressions``). Raises
    :class:`CompileError` on an error, and on any warning (a non-empty log)."""
    lib = ctypes.CDLL(find_nvrtc() or "libnvrtc.so")
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p

    def check(status: int, what: str) -> None:
        if status != 0:
            raise CompileError(f"{what}: {lib.nvrtcGetErrorString(status).decode()}")

    prog = ctypes.c_void_p()
    check(
        lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"kernels.cu", 0, None, None),
        "nvrtcCreateProgram",
    )
    try:
        for name in names:
            check(lib.nvrtcAddNameExpression(prog, name.encode()), "nvrtcAddNameExpression")
        # CuPy's own options for a RawModule: the virtual arch and flush-to-zero
        opts = [f"-arch=compute_{arch.split('_')[1]}", "-ftz=true", *options]
        argv = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
        status = lib.nvrtcCompileProgram(prog, len(opts), argv)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        text = log.value.decode(errors="replace").strip()
        if status != 0 or text:
            raise CompileError(f"NVRTC {arch} {' '.join(options)}:\n{text}")
        lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
        ptx = ctypes.create_string_buffer(size.value)
        check(lib.nvrtcGetPTX(prog, ptx), "nvrtcGetPTX")
        lowered = {}
        for name in names:
            out = ctypes.c_char_p()
            check(
                lib.nvrtcGetLoweredName(prog, name.encode(), ctypes.byref(out)),
                "nvrtcGetLoweredName",
            )
            lowered[name] = out.value.decode()
        return ptx.value.decode(), lowered
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


@dataclass(frozen=True)
class Resources:
    """What ptxas reports for one kernel."""

    registers: int
    stack_bytes: int
    spill_store_bytes: int
    spill_load_bytes: int


_ENTRY = re.compile(r"Compiling entry function '(\S+)' for '(\S+)'")
_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_REGS = re.compile(r"Used (\d+) registers")


def ptxas(ptx: str, arch: str) -> tuple[dict[str, Resources], str]:
    """Assemble ``ptx`` for ``arch`` with every warning an error (spills and local memory
    included); per mangled kernel name its resources, and ptxas's full report."""
    tool = find_ptxas()
    if tool is None:
        raise CompileError("ptxas not found")
    with tempfile.TemporaryDirectory() as tmp:
        src, out = os.path.join(tmp, "k.ptx"), os.path.join(tmp, "k.cubin")
        with open(src, "w") as f:
            f.write(ptx)
        run = subprocess.run(
            [tool, f"-arch={arch}", "-v", "--warn-on-spills", "--warn-on-local-memory-usage",
             "--warning-as-error", "-o", out, src],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    report = run.stdout + run.stderr
    if run.returncode != 0 or re.search(r"(?i)\b(warning|error)\b", report):
        raise CompileError(f"ptxas {arch}:\n{report}")
    found: dict[str, Resources] = {}
    name, frame = None, None
    for line in report.splitlines():
        if m := _ENTRY.search(line):
            name, frame = m.group(1), None
        elif (m := _FRAME.search(line)) and name:
            frame = tuple(int(g) for g in m.groups())
        elif (m := _REGS.search(line)) and name:
            stack, stores, loads = frame or (0, 0, 0)
            found[name] = Resources(int(m.group(1)), stack, stores, loads)
            name = None
    return found, report


def build(source: str, names: tuple[str, ...], arch: str, options: tuple[str, ...] = ()):
    """NVRTC then ptxas: per template instance (as named in ``names``) its resources."""
    ptx, lowered = nvrtc_ptx(source, names, arch, options)
    resources, report = ptxas(ptx, arch)
    missing = [n for n in names if lowered[n] not in resources]
    if missing:
        raise CompileError(f"no ptxas entry for {missing}:\n{report}")
    return {n: resources[lowered[n]] for n in names}


def report() -> list[str]:
    """One line per target, build and kernel: registers, stack and spills."""
    from kmeans_xp._kernels import cupy as native

    lines = []
    for arch in ARCHS:
        for variant, options in VARIANTS.items():
            for name, r in build(native.SOURCE, native._NAMES, arch, options).items():
                lines.append(
                    f"{arch} {variant:<11} {name:<22} {r.registers:3d} registers, "
                    f"{r.stack_bytes} B stack, {r.spill_store_bytes} B spill stores, "
                    f"{r.spill_load_bytes} B spill loads"
                )
    return lines


if __name__ == "__main__":
    try:
        print("\n".join(report()))
    except CompileError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
