"""What the user sees on stderr: a tqdm bar on a terminal, a plain line every few seconds otherwise
(logs, CI, pipes), events in words ("resuming at", "retrying in"), and one summary line at the end.

The rate counts only the bytes sent by this run: bytes the server already had when a resumed run
started are shown as done but never make the rate look faster than the link.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

LOG_EVERY_S = 3.0


def human_size(count: float) -> str:
    """`12.0 MiB`: sizes in powers of 1024, as `--chunk-size 8M` reads them."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"  # pragma: no cover - loop returns at GiB


def human_rate(bytes_per_s: float) -> str:
    return f"{human_size(bytes_per_s)}/s"


class Progress:
    def __init__(
        self, name: str, total: int, *, quiet: bool = False, label: str = "upload", log_every_s: float = LOG_EVERY_S
    ) -> None:
        self.name = name
        self.total = total
        self.done = 0
        self.baseline = 0  # bytes the server already had when this run started
        self.quiet = quiet
        self.label = label
        self.log_every_s = log_every_s
        self._lock = threading.Lock()
        self._bar: Any = None
        self._started = time.monotonic()
        self._last_log = self._started
        tqdm = _tqdm() if not quiet and sys.stderr.isatty() else None
        if tqdm is not None:
            self._bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"{label} {name}")

    def say(self, message: str) -> None:
        """One line about an event (resume, retry, instant upload), above the bar on a terminal."""
        if self.quiet:
            return
        line = f"{self.name}: {message}"
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def resume_from(self, offset: int) -> None:
        """The server already holds `offset` bytes: shown as done, not counted in the rate."""
        with self._lock:
            if self._bar is not None:
                # Not update(): tqdm would count the stored bytes as sent now and show a rate the link
                # never had. A bar restarted at `offset` (tqdm's `initial`) rates only what follows.
                self._bar.reset(total=self.total)
                self._bar.initial = self._bar.n = self._bar.last_print_n = offset
                self._bar.refresh()
            self.baseline = self.done = offset
            self._started = self._last_log = time.monotonic()

    def set(self, done: int) -> None:
        with self._lock:
            self._move(done - self.done)

    def advance(self, count: int) -> None:
        with self._lock:
            self._move(count)

    def _move(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
        elif not self.quiet and time.monotonic() - self._last_log >= self.log_every_s:
            self._last_log = time.monotonic()
            percent = 100 * self.done / self.total if self.total else 100
            rate = self.rate()
            eta = f", ETA {(self.total - self.done) / rate:.0f} s" if rate > 0 else ""
            doing = "" if self.label == "upload" else f"{self.label} "
            print(
                f"{self.name}: {doing}{human_size(self.done)} of {human_size(self.total)} ({percent:.0f}%), "
                f"{human_rate(rate)}{eta}",
                file=sys.stderr,
                flush=True,
            )

    def elapsed(self) -> float:
        return max(time.monotonic() - self._started, 1e-6)

    def rate(self) -> float:
        return max(self.done - self.baseline, 0) / self.elapsed()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def summary(self, url: str | None = None) -> None:
        """The last line: what was stored, how long this run took and how fast it sent."""
        self.close()
        if self.quiet:
            return
        sent = max(self.total - self.baseline, 0)
        parts = [f"{human_size(self.total)} stored in {self.elapsed():.1f} s"]
        if self.baseline:
            parts.append(f"{human_size(sent)} sent by this run ({human_size(self.baseline)} were already there)")
        parts.append(human_rate(sent / self.elapsed()))
        print(f"{self.name}: " + ", ".join(parts) + (f" -> {url}" if url else ""), file=sys.stderr, flush=True)


def _tqdm() -> Any:
    """tqdm's bar class, or None without the [client] extra (then a terminal gets the plain lines too)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm
