"""Progress of the ``kmeans-xp`` command's long work: a tqdm bar on stderr.

Shown only when stderr is a terminal, tqdm is installed (the ``demo`` extra brings it) and the
work has lasted longer than ``DELAY_S``: quick runs, pipes, logs and ``--quiet`` get nothing.
Without tqdm the command works the same, silently (``--verbose`` still prints every iteration).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from typing import Any

DELAY_S = 1.0  # work shorter than this shows no bar
REFRESH_S = 0.2  # the text after the bar is redrawn at most this often


def wanted(quiet: bool) -> bool:
    """Whether to show progress: not ``quiet``, stderr a terminal, tqdm installed."""
    if quiet:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    if isatty is None or not isatty():
        return False
    return importlib.util.find_spec("tqdm") is not None


class Progress:
    """A bar counting ``unit`` up to ``total`` (None: a counter), or nothing when disabled.

    ``step`` counts work done; ``status`` sets the text after the bar (k, iteration, inertia);
    ``echo`` prints a line to stdout without breaking the bar. tqdm adds the elapsed time.
    """

    def __init__(self, enabled: bool, *, total: int | None = None, unit: str = "it") -> None:
        self._bar: Any = None
        self._start = time.monotonic()
        self._last_status = 0.0
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                unit=f" {unit}",
                file=sys.stderr,
                delay=DELAY_S,
                leave=False,
                dynamic_ncols=True,
            )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def step(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def status(self, text: str) -> None:
        if self._bar is None:
            return
        now = time.monotonic()
        redraw = self._visible(now) and now - self._last_status >= REFRESH_S
        self._bar.set_postfix_str(text, refresh=redraw)
        if redraw:
            self._last_status = now

    def echo(self, line: str) -> None:
        visible = self._bar is not None and self._visible(time.monotonic())
        if visible:
            self._bar.clear()
        print(line, flush=visible)
        if visible:
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _visible(self, now: float) -> bool:
        return now - self._start >= DELAY_S
