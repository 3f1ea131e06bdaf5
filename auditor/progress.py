"""Progress bars on stderr when a person is watching (a terminal, not CI); phase timings with --verbose."""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import contextmanager
from typing import Iterator, TextIO

log = logging.getLogger("auditor")


def interactive(stream: TextIO | None = None) -> bool:
    """A terminal and not CI: the only case where a progress bar helps rather than clutters logs."""
    stream = stream or sys.stderr
    if os.environ.get("CI") or os.environ.get("AUDITOR_NO_PROGRESS") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


class Progress:
    """A one-line bar: `runs  [#########.........]  450/1000`. Does nothing when not interactive."""

    def __init__(self, label: str, total: int, *, enabled: bool | None = None, stream: TextIO | None = None,
                 width: int = 30):
        self.label = label
        self.total = max(0, int(total))
        self.count = 0
        self.stream = stream or sys.stderr
        self.enabled = interactive(self.stream) if enabled is None else enabled
        self.width = width
        self._last_draw = 0.0

    def advance(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if self.enabled and (now - self._last_draw > 0.1 or self.count >= self.total):
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        done = self.count / self.total if self.total else 1.0
        filled = int(self.width * min(done, 1.0))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label:<10} [{bar}] {self.count}/{self.total}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        if self.enabled and self.total:
            self._draw()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def setup_logging(verbose: bool) -> None:
    """--verbose: INFO lines on stderr (phase timings); otherwise only warnings."""
    if log.handlers:
        log.setLevel(logging.INFO if verbose else logging.WARNING)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("audit: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False


class PhaseTimer:
    """Collects how long each phase took; logs each one at INFO (shown with --verbose)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.timings[name] = self.timings.get(name, 0.0) + elapsed
            log.info("%-12s %8.3f s", name, elapsed)
