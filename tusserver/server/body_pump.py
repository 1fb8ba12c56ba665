"""A request body moved from the socket into the upload's file by one worker thread, outside the event loop.

Why: on the event-loop path every byte is copied four times (kernel to uvloop's buffer, into a bytes
object, by the HTTP parser into another, kernel into the page cache) and passes through a dozen Python
calls per piece; one stream reached about half of what a plain socket-to-file receiver does on the same
machine (docs/benchmarks.md, issue #17). Here, once the request head is parsed and the app has opened
the file, a thread takes the rest of the body straight from the socket:

- no checksum to compute: `splice` socket -> pipe -> file, so the bytes never enter user space;
- with hashers (Upload-Checksum, a running Repr-Digest): the same splice, and a second thread reads
  each piece back from the page cache (still in the CPU cache) and hashes it, so the hash, the one
  cost a checksum adds, runs on the other core beside the transfer.

The pump never reads past `count` bytes, so a pipelined next request stays in the socket for the
parser. What it moved is written before it returns, whatever ends it: the body complete, the client
gone (EOF or reset), silence for `timeout_s` (the read timeout the event-loop path enforces too), or
`Stopper.stop()` from the loop (another request wants the upload's lock, or shutdown). Errors writing
the file (a full disk) propagate with everything before them written; the caller reads the file's size.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import errno
import fcntl
import functools
import os
import queue
import select
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..hashing.algorithms import Hasher

# What fits the per-core L2 cache next to the kernel's working set: 256 KiB pipes cost 0.65 CPU-s per
# GiB on the bench machine, 64 KiB 0.87, 1 MiB 1.46 (bench/limit.py, interleaved rounds).
PIPE_BYTES = 256 * 1024
BUFFER_BYTES = 256 * 1024
HASH_READ_BYTES = 256 * 1024  # what the hashing thread reads back from the page cache at a time
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_GONE = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT, errno.ENOTCONN})
_READABLE = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP


# Whether this system has what direct transfers need (Linux: splice, and eventfd for every Stopper).
AVAILABLE = hasattr(os, "splice") and hasattr(os, "eventfd") and hasattr(select, "poll")


class Ended(enum.Enum):
    COMPLETE = "complete"  # `count` bytes moved
    EOF = "eof"  # the client closed or reset the connection
    TIMEOUT = "timeout"  # nothing arrived for `timeout_s`
    STOPPED = "stopped"  # `Stopper.stop()` was called
    # Never returned by `pump`; its callers report these:
    LIMIT = "limit"  # the upload had no room for the rest of the body
    CANCELLED = "cancelled"  # the request's task was cancelled (server shutdown); the pump was stopped


# How often a body's progress reaches its listeners: per read (16-256 KiB) a listener would cost more than
# the read on the fast paths; every MiB or half second is still live for a dashboard or a kill-at-N test.
PROGRESS_BYTES = 1024 * 1024
PROGRESS_S = 0.5


class Progress:
    """The bytes of one request body as they arrive, told to listeners in batches, always on the event loop.

    Every body path reports here: the body thread (`pump`) after each piece is in the file, the loop's sink
    after each write, and `receive()` after each chunk. Listeners (the metrics counter, the access log, a
    progress hook) get the size of each batch; `total` is what they were told so far. The first bytes are
    told at once (a client that sends a little and stalls is seen), then at most every `PROGRESS_BYTES` or
    `PROGRESS_S`; `flush` (on the loop, when the body or the request ended) tells the rest, so the
    listeners' sum is exact at the end.
    `add` runs on one thread at a time: a body thread while it has the body, the loop otherwise.
    """

    __slots__ = ("_listeners", "_loop", "_loop_thread", "_pending", "_due", "_armed", "_lock", "total")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._listeners: list[Callable[[int], None]] = []
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._pending = 0
        self._due = 0.0
        self._armed = False  # a timer will tell bytes left pending by a body that went quiet
        self._lock = threading.Lock()  # `add` on a body thread against the loop's timer and `flush`
        self.total = 0

    def listen(self, listener: Callable[[int], None]) -> None:
        self._listeners.append(listener)

    def add(self, size: int) -> None:
        with self._lock:
            self._pending += size
            due = self._pending >= PROGRESS_BYTES or time.monotonic() >= self._due
            arm = not due and not self._armed
            self._armed = self._armed or arm
        if due:
            self.flush()
        elif arm:
            # Without it, bytes under PROGRESS_BYTES that arrive just before a client pauses would be told
            # only when the next byte comes (or the body ends): a stalled upload's progress would lag.
            if threading.get_ident() == self._loop_thread:
                self._loop.call_later(PROGRESS_S, self._timer)
            else:
                self._loop.call_soon_threadsafe(self._loop.call_later, PROGRESS_S, self._timer)

    def _timer(self) -> None:
        self._armed = False
        self.flush()

    def flush(self) -> None:
        with self._lock:
            size, self._pending = self._pending, 0
            self._due = time.monotonic() + PROGRESS_S
        if not size:
            return
        if threading.get_ident() == self._loop_thread:
            self._tell(size)
        else:  # scheduled before the body thread's future completes, so told before the transfer returns
            self._loop.call_soon_threadsafe(self._tell, size)

    def _tell(self, size: int) -> None:
        self.total += size
        for listener in self._listeners:
            listener(size)


@dataclass(frozen=True)
class Pumped:
    moved: int  # bytes taken from the socket and written to the file
    ended: Ended


class Stopper:
    """Asks a running pump to stop, from any thread; it wakes a pump that waits in `poll`."""

    def __init__(self) -> None:
        self.stopped = False
        self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.on_stop: Callable[[], None] | None = None  # a transfer run on the event loop stops through this

    def stop(self) -> None:
        if not self.stopped and self.fd >= 0:
            self.stopped = True
            os.eventfd_write(self.fd, 1)
            if self.on_stop is not None:
                self.on_stop()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def pump(
    sock: int,
    fd: int,
    position: int,
    count: int,
    hashers: Sequence[Hasher],
    stopper: Stopper,
    timeout_s: float,
    hash_pool: concurrent.futures.Executor | None = None,
    progress: Progress | None = None,
) -> Pumped:
    """Move up to `count` bytes from socket `sock` (non-blocking) to file `fd` at `position`.

    With hashers, a second thread reads each spliced piece back from the page cache and hashes it, so
    `fd` must be open for reading. Measured alternatives (8 MiB PATCHes with sha256): one thread doing
    readv + hash + pwrite ~520 MB/s; readv + pwrite with the hash in a second thread ~530 MB/s, the
    reading thread busy ~10.5 ms per 8 MiB with its two copies. Splicing leaves this thread the one
    kernel copy into the page cache, and the hashing thread reads back bytes still in the CPU cache.

    `hash_pool` runs the hashing thread: it must have a thread free whenever a pump may run (the
    caller's body threads own one each, see `http_protocol._BodyThreads`), or the transfer, its bytes
    written, waits for another transfer's hashing to end, holding its upload's lock (issue #22).
    """
    waiter = select.poll()
    waiter.register(sock, _READABLE)
    waiter.register(stopper.fd, select.POLLIN)
    timeout_ms = int(timeout_s * 1000)
    told = progress.add if progress is not None else None
    if not hashers:
        return _splice(sock, fd, position, count, stopper, waiter, timeout_ms, None, told)
    pieces: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
    hashing = (hash_pool or _hash_threads()).submit(hash_from_file, fd, hashers, pieces)
    try:
        return _splice(
            sock, fd, position, count, stopper, waiter, timeout_ms, lambda at, size: pieces.put((at, size)), told
        )
    finally:
        pieces.put(None)
        hashing.result()  # every byte written is hashed before the caller reads a digest; raises what it raised


def _wait(sock: int, stopper: Stopper, waiter: select.poll, timeout_ms: int) -> Ended | None:
    """Block until the socket is readable; why not, when it never became so."""
    events = waiter.poll(timeout_ms)
    if stopper.stopped:
        return Ended.STOPPED
    if not events:
        return Ended.TIMEOUT
    return None  # readable, or an error or hang-up the next read reports


def _splice(
    sock: int,
    fd: int,
    position: int,
    count: int,
    stopper: Stopper,
    waiter: select.poll,
    timeout_ms: int,
    written: Callable[[int, int], None] | None = None,
    told: Callable[[int], None] | None = None,
) -> Pumped:
    """socket -> pipe -> file; `written(position, size)` and `told(size)` after each piece is in the file."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        try:
            fcntl.fcntl(write_end, _F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass  # the default 64 KiB pipe works too, with more calls
        moved = 0
        flags = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
        while moved < count:
            if stopper.stopped:
                return Pumped(moved, Ended.STOPPED)
            try:
                got = os.splice(sock, write_end, min(count - moved, PIPE_BYTES), flags=flags)
            except BlockingIOError:
                why = _wait(sock, stopper, waiter, timeout_ms)
                if why is not None:
                    return Pumped(moved, why)
                continue
            except OSError as exc:
                if exc.errno in _GONE:
                    return Pumped(moved, Ended.EOF)
                raise
            if got == 0:
                return Pumped(moved, Ended.EOF)
            start, end = moved, moved + got
            while moved < end:  # the pipe holds `got` bytes: into the file, at their place
                moved += os.splice(read_end, fd, end - moved, offset_dst=position + moved, flags=os.SPLICE_F_MOVE)
            if written is not None:
                written(position + start, got)
            if told is not None:
                told(got)
        return Pumped(moved, Ended.COMPLETE)
    finally:
        os.close(read_end)
        os.close(write_end)


def hash_from_file(fd: int, hashers: Sequence[Hasher], pieces: queue.SimpleQueue[tuple[int, int] | None]) -> None:
    """Hash the pieces in the order they were written, until None; on a failure stop (`pump` raises it at
    the end). bench/limit.py's no-HTTP receiver runs this same loop, so its limit is this design's."""
    buffer = memoryview(bytearray(HASH_READ_BYTES))
    while (piece := pieces.get()) is not None:
        at, size = piece
        while size:
            got = os.preadv(fd, [buffer[: min(size, HASH_READ_BYTES)]], at)
            if got == 0:
                raise OSError(f"the data file ended at {at} while hashing")
            for hasher in hashers:
                hasher.update(buffer[:got])  # type: ignore[arg-type]  # every Hasher takes any bytes-like object
            at += got
            size -= got


@functools.cache
def _hash_threads() -> concurrent.futures.ThreadPoolExecutor:
    """For a caller without its own pool: one pump at a time (a second one waits for the first)."""
    return concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tusserver-hash")
