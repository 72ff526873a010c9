"""Benchmarks: kmeans_xp against its peers, in one process, on the same data (see README)."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from pathlib import Path


def result_name(kind: str, what: str) -> str:
    """``KIND_DATE_MACHINE_WHAT``, the name (without suffix) of a file in ``results/``.

    DATE is now in UTC to the minute (``2026-11-27T1804Z``), MACHINE the CPU model and its
    cores (``amd-epyc-2core``), WHAT what was measured (``quiet``, ``4000000x16_k64``).

    Examples
    --------
    >>> result_name("cpu", "quiet")  # doctest: +SKIP
    'cpu_2026-11-27T1804Z_amd-epyc-2core_quiet'
    """
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H%MZ")
    cpu = re.sub(r"[^a-z0-9]+", "-", cpu_model().lower()).strip("-")
    return f"{kind}_{date}_{cpu}-{os.cpu_count()}core_{what}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown-cpu"
