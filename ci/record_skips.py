"""A pytest plugin that CI loads into the README's test run (through PYTEST_ADDOPTS): it lists
every test skipped because torch or JAX is missing, so that CI, once it has installed them,
reruns exactly those (``ci/extras_tests.sh``) rather than the whole suite.

The ids go to the file named by ``CI_SKIPPED_FILE``, one a line: a test's node id, or a
module's path when the whole module skipped. Skips for want of a CUDA device are left out:
they would skip again.
"""

from __future__ import annotations

import os
import re

LIBRARIES = re.compile(r"\b(torch|jax)\b")


def _reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (file, line, reason)
        return str(longrepr[2])
    return str(longrepr)


def _record(nodeid: str, reason: str) -> None:
    if LIBRARIES.search(reason) and "CUDA" not in reason:
        with open(os.environ["CI_SKIPPED_FILE"], "a", encoding="utf-8") as f:
            f.write(nodeid + "\n")


def pytest_runtest_logreport(report) -> None:
    if report.skipped and report.when in ("setup", "call"):
        _record(report.nodeid, _reason(report))


def pytest_collectreport(report) -> None:
    if report.skipped:
        _record(report.nodeid, _reason(report))
