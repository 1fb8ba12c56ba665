"""How an upload is cut into S3 parts, and the writer that sends them while the body is still arriving.

S3 multipart limits: at most 10,000 parts, each 5 MiB to 5 GiB except the last, which may be shorter.
`plan_part_size` picks one size for every part but the last, from the upload's length (or, for a
deferred length, the most it may grow to), so the whole upload always fits and stores that require
equal parts (Cloudflare R2) accept it.

`PartWriter` keeps at most one part on local disk: bytes are appended to a spool file, and as soon as
it holds a whole part the part is read into memory and sent in the background while the spool fills
again. So one PATCH uses under one part of temporary disk and at most `in_flight` parts of memory,
whatever its size. Parts over `MEMORY_PART_LIMIT` (only uploads of hundreds of GiB get them) are sent
straight from the spool, one at a time: two parts of disk at most, no part in memory.

All PATCHes of a process share one `PartMemory` (`--s3-memory`): the bound per PATCH alone let 64
uploads at once hold 306 MB of parts (64 x 3 parts of 8 MiB could be 1.5 GB). A PATCH whose next
part does not fit waits, and stops reading its body meanwhile (TCP backpressure), until a send ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Awaitable, Callable
from typing import IO

MiB = 1024 * 1024
GiB = 1024 * MiB
MIN_PART = 5 * MiB
MAX_PART = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT = MAX_PARTS * MAX_PART  # what one multipart upload can hold: the store's largest upload
PREFERRED_PART = 8 * MiB
MEMORY_PART_LIMIT = 64 * MiB

PartBody = bytes | IO[bytes]
SendPart = Callable[[int, PartBody], Awaitable[None]]


def plan_part_size(length: int | None, preferred: int = PREFERRED_PART, max_length: int | None = None) -> int:
    """The size of every part but the last, for `length` bytes (or up to `max_length` when deferred).

    The preferred size (clamped to 5 MiB..5 GiB) when 10,000 parts of it hold the upload; otherwise the
    smallest whole number of MiB that does. Raises ValueError beyond 10,000 parts of 5 GiB.
    """
    size = length if length is not None else (max_length or MAX_OBJECT)
    if size > MAX_OBJECT:
        raise ValueError(f"{size} bytes do not fit in {MAX_PARTS} parts of {MAX_PART} bytes")
    part = min(max(preferred, MIN_PART), MAX_PART)
    needed = -(-size // MAX_PARTS)
    if needed > part:
        part = min(-(-needed // MiB) * MiB, MAX_PART)
    return part


def parts_needed(length: int, part_size: int) -> int:
    return max(1, -(-length // part_size))


class PartMemory:
    """Bytes of parts that all PATCHes of this process hold in memory at once, at most `limit`.

    A part larger than the whole budget is let through alone (it waits until nothing else is held), so
    a small `--s3-memory` slows uploads down but never stops one. `give` is synchronous, so a send
    cancelled in its `finally` still hands its bytes back.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0  # the most held at once, for tests and benchmarks
        self._waiting: list[asyncio.Future[None]] = []

    async def take(self, size: int) -> int:
        """Wait until `size` bytes fit; the amount to `give` back."""
        size = min(size, self.limit)
        while self.held + size > self.limit:
            woken = asyncio.get_running_loop().create_future()
            self._waiting.append(woken)
            try:
                await woken
            finally:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(woken)
        self.held += size
        self.peak = max(self.peak, self.held)
        return size

    def give(self, size: int) -> None:
        self.held -= size
        waiting, self._waiting = self._waiting, []
        for woken in waiting:  # each checks again whether it fits now
            if not woken.done():
                woken.set_result(None)


class PartWriter:
    """Appends bytes to a one-part spool and sends each full part as part `first_number`, then the next…

    `in_flight` parts are sent at once. A failed send is raised by the next `add` or by `drain`, after
    which nothing more is sent; the parts already sent stay in S3 (the caller decides whether they count).
    `aclose` must always be called: it waits for the sends and removes the spool.
    """

    def __init__(
        self,
        send: SendPart,
        part_size: int,
        first_number: int,
        in_flight: int,
        spool_dir: str | None = None,
        memory: PartMemory | None = None,
    ) -> None:
        self._send = send
        self._memory = memory
        self.part_size = part_size
        self.number = first_number  # the number the part now filling will get
        self.filled = 0  # bytes in the spool
        self.total = 0  # bytes taken by `add`, sent or spooled
        self._spool: IO[bytes] = tempfile.TemporaryFile(dir=spool_dir, buffering=0)
        self._in_memory = part_size <= MEMORY_PART_LIMIT
        self._slots = asyncio.Semaphore(max(1, in_flight) if self._in_memory else 1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._failed: BaseException | None = None

    async def add(self, data: bytes) -> None:
        """Spool `data`, sending each part it completes. An OSError (ENOSPC) leaves `filled` exact."""
        view = memoryview(data)
        while view:
            self._check()
            room = self.part_size - self.filled
            piece = view[:room]
            while piece:
                written = self._spool.write(piece) or 0  # raw file: a short write on a filling disk is possible
                self.filled += written
                self.total += written
                piece = piece[written:]
            view = view[room:]
            if self.filled == self.part_size:
                await self._ship()

    async def _ship(self) -> None:
        await self._slots.acquire()
        number, self.number = self.number, self.number + 1
        self._spool.seek(0)
        if not self._in_memory:
            try:
                await self._send(number, self._spool)  # one at a time, from the disk: no part in memory
            finally:
                self._slots.release()
            self._reset()
            return
        held = 0
        if self._memory is not None:
            try:
                held = await self._memory.take(self.part_size)
            except BaseException:
                self._slots.release()
                raise
        body = self._spool.read() or b""
        self._reset()
        task = asyncio.create_task(self._send_one(number, body, held))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_one(self, number: int, body: bytes, held: int) -> None:
        try:
            await self._send(number, body)
        except BaseException as exc:
            if self._failed is None:
                self._failed = exc
            raise
        finally:
            del body
            self._slots.release()
            if self._memory is not None:
                self._memory.give(held)

    def _reset(self) -> None:
        self._spool.seek(0)
        self._spool.truncate()
        self.filled = 0

    def _check(self) -> None:
        if self._failed is not None:
            raise self._failed

    async def drain(self) -> None:
        """Wait for every part in flight; raise the first failure."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._check()

    def remainder(self) -> IO[bytes]:
        """The spooled bytes after the last whole part, positioned at their start."""
        self._spool.seek(0)
        return self._spool

    async def aclose(self) -> None:
        """Wait for sends still running (their parts will not count) and drop the spool.

        Not cancelled: a send runs in a thread that would go on after a cancel, and could land after the
        next PATCH (perhaps on another instance, once the lock is free) has sent the same part number.
        """
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(OSError):
            self._spool.close()
