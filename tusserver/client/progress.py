"""Progress: a tqdm bar (bytes, rate, ETA) on a terminal, plain log lines otherwise, nothing with --quiet."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any


class Progress:
    def __init__(self, name: str, total: int, *, quiet: bool = False, label: str = "upload") -> None:
        self.name = name
        self.total = total
        self.done = 0
        self.quiet = quiet
        self._lock = threading.Lock()
        self._bar: Any = None
        self._last_log = 0.0
        self._started = time.monotonic()
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"{label} {name}")
        elif not quiet:
            print(f"{label} {name}: {total} bytes", file=sys.stderr, flush=True)

    def set(self, done: int) -> None:
        with self._lock:
            self.advance(done - self.done)

    def advance(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
        elif not self.quiet and time.monotonic() - self._last_log >= 2:
            self._last_log = time.monotonic()
            elapsed = max(time.monotonic() - self._started, 1e-6)
            rate = self.done / elapsed
            eta = (self.total - self.done) / rate if rate > 0 else 0
            percent = 100 * self.done / self.total if self.total else 100
            print(
                f"{self.name}: {self.done}/{self.total} bytes ({percent:.0f}%), {rate / 1e6:.1f} MB/s, ETA {eta:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
