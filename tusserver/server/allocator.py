"""Memory tuning for `tusserver serve`: glibc malloc keeps request-body buffers in a reused heap, and
Python's cyclic garbage collector stops pausing the server to walk thousands of live connections.

uvloop and httptools hand every 64–256 KiB piece of a request body to Python as a new bytes object.
With glibc's defaults such sizes are served by `mmap` (above its dynamic threshold) or by growing and
trimming the top of the heap around them; either way almost every piece lands on pages the process
has never touched. Measured on a 1 GiB single-PATCH upload (bench/run.py's machine): about 348,000
minor page faults per GiB and half the server's CPU spent on them. With the mmap threshold fixed at
4 MiB and the trim threshold at 16 MiB the same upload takes about 500 faults per GiB, runs about
1.8x faster and needs about half the CPU per GiB.

The cost is at most `trim_threshold` bytes of freed memory that a process keeps for reuse instead of
returning at once. Operators who set MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ themselves
keep their values; `--no-tune-malloc` leaves glibc's defaults. Other C libraries (musl) are left as
they are.

`TrimWhenIdle` gives that kept memory back once the server has been idle for a moment (after collecting
the garbage cycles `tune_gc` lets wait, see `idle_cleanup`). A long run of
small uploads leaves the heap holding freed chunks between a few long-lived ones (rotated-token and
date caches, connection state), which glibc only returns from the top of the heap; `malloc_trim(0)`
also releases the whole free pages in the middle. Measured with bench/soak.py (30,000 small uploads):
heap 8.4 -> 12.2 MiB without it, 8.4 -> 9.3 MiB with it. Busy servers never trim (a burst of uploads
keeps its warm heap); an idle one costs one call, well under a millisecond, per idle spell.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import platform
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

GC_THRESHOLD = 50_000  # container objects allocated (net) before a young collection; CPython's default is 700
M_TRIM_THRESHOLD = -1  # glibc's <malloc.h> parameter numbers
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 16 * 1024 * 1024


def _glibc(name: str) -> Any | None:
    """A function of this process's glibc, or None on another C library (musl) or system."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


def tune_malloc() -> bool:
    """Set the thresholds in this process; True if it did. Call once per process, before serving."""
    mallopt = _glibc("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = False
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        done = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 or done
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        done = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 or done
    return done


def malloc_trimmer() -> Callable[[], object] | None:
    """glibc's `malloc_trim(0)`, or None where there is no glibc to ask."""
    trim = _glibc("malloc_trim")
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


def idle_cleanup(collect: bool, trim: Callable[[], object] | None) -> Callable[[], object] | None:
    """What `TrimWhenIdle` runs once the server is idle: a full cycle collection (with `tune_gc`), then the
    malloc trim; None when there is nothing to run.

    The collection is for what `tune_gc` defers: a request cut by a disconnect or a timeout ends in a
    cancelled task, whose exception, traceback and frames form cycles that keep the frames' locals (the
    response piece it was sending) alive until the next full collection. After 200 stalled downloads
    were closed 22 MiB of such pieces stayed, and at 1,000 the server kept 1,081 MB (issue #22): with a
    threshold of 50,000 that collection may not come for a long while, and the trim cannot return pages
    still in use. On an idle server one collection costs a few milliseconds.
    """
    if not collect:
        return trim
    if trim is None:
        return gc.collect

    def collect_and_trim() -> None:
        gc.collect()
        trim()

    return collect_and_trim


def tune_gc() -> None:
    """Collect once, freeze what start-up made, and collect the young generation 70x less often.

    Every open request keeps about 130 container objects alive (transport, parser, request, a stack of
    two dozen coroutines) and each body piece makes and drops a few more. With CPython's threshold of 700
    that churn ran about 80 young collections a second with 2,000 slow uploads open, and every few
    seconds a full one over all ~300,000 live objects: 0.2-1 s with the loop stopped while 2,000 sockets
    filled, after which the server read all of it at once (RSS 143 -> 219 MB after one 0.5 s pause). None
    of those collections freed an object: the request path makes no garbage cycles. With 50,000 young
    collections run only while the live set really grows, and full ones almost never. The cost: up to
    50,000 objects' worth of cyclic garbage (a few MiB) can wait longer for collection. Freezing moves
    start-up's objects (modules, classes, settings) out of every later collection's walk.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD)


class TrimWhenIdle:
    """ASGI wrapper: after `idle_s` with no HTTP request in flight (and some served since the last
    trim), hand the allocator's free pages back to the system once.

    A timer, not a check on every request end: a client sending PATCH after PATCH leaves gaps of
    milliseconds, and trimming in them would send each next body onto fresh pages again (the cost
    `tune_malloc` exists to avoid). Only a spell of `idle_s` without any request start or end counts.
    """

    def __init__(self, app: ASGIApp, trim: Callable[[], object], idle_s: float = 2.0) -> None:
        self.app = app
        self.trim = trim
        self.idle_s = idle_s
        self.active = 0
        self.dirty = False  # requests served since the last trim
        self.last_change = 0.0
        self.timer: asyncio.TimerHandle | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.active += 1
        self.dirty = True
        self.last_change = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
            self.last_change = time.monotonic()
            if self.active == 0 and self.timer is None:
                self.timer = asyncio.get_running_loop().call_later(self.idle_s, self._check)

    def _check(self) -> None:
        self.timer = None
        if self.active or not self.dirty:
            return  # a request is running: its end schedules the next check
        quiet_for = time.monotonic() - self.last_change
        if quiet_for < self.idle_s:
            self.timer = asyncio.get_running_loop().call_later(self.idle_s - quiet_for, self._check)
            return
        self.dirty = False
        self.trim()
