"""The writer that cuts a PATCH body into parts and sends them while the body is still arriving.

Shared by the object stores (S3 parts, Azure blocks, GCS chunk objects): each gives it a `send` for
one numbered part and decides itself which parts count.

`PartWriter` keeps at most one part on local disk: bytes are appended to a spool file, and as soon as
it holds a whole part the part is read into memory and sent in the background while the spool fills
again. So one PATCH uses under one part of temporary disk and at most `in_flight` parts of memory,
whatever its size. Parts over `MEMORY_PART_LIMIT` (only uploads of hundreds of GiB get them) are sent
straight from the spool, one at a time: two parts of disk at most, no part in memory.

All PATCHes of a process share one `PartMemory` (`--s3-memory`): the bound per PATCH alone let 64
uploads at once hold 306 MB of parts (64 x 3 parts of 8 MiB could be 1.5 GB). A PATCH whose next
part does not fit waits, and stops reading its body meanwhile (TCP backpressure), until a send ends.

They share one `SpoolBudget` (`--store-spool`) too: 8 PATCHes that sent most of a part and then
trickled one byte every 2 s kept a 64 MiB temporary directory full, and a normal PATCH got 507 with
0 bytes stored. Spool is taken as bytes arrive (in `SPOOL_STEP`s, so a stalled PATCH holds only what
it was sent), and a PATCH whose next bytes do not fit waits, reading nothing, until another gives
spool back (a part sent, a PATCH ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections import deque
from collections.abc import Awaitable, Callable
from typing import IO

MiB = 1024 * 1024
MEMORY_PART_LIMIT = 64 * MiB
SPOOL_STEP = MiB  # spool is taken in these steps: fewer waits than per read, little held beyond the bytes

PartBody = bytes | IO[bytes]
SendPart = Callable[[int, PartBody], Awaitable[None]]


def _wake_all(waiting: list[asyncio.Future[None]]) -> None:
    for woken in waiting:
        if not woken.done():
            woken.set_result(None)


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
        _wake_all(waiting)  # each checks again whether it fits now


class SpoolBudget:
    """Bytes of local spool that all PATCHes of this process hold at once, at most `limit`.

    Waiters are served in order. One case is let past the limit: when every writer holding spool is
    itself waiting for more (each filled part of its part and none can finish one), the first waiter
    goes on, since otherwise nobody would ever give spool back. A writer that holds spool but is not
    waiting (a slow client) never causes that, so trickling PATCHes cannot push others over the limit.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0  # the most held at once, for tests and benchmarks
        self._holders: dict[int, int] = {}  # writer key -> bytes it holds
        self._queue: deque[tuple[int, int, asyncio.Future[None]]] = deque()

    def holding(self, key: int) -> int:
        return self._holders.get(key, 0)

    async def take(self, key: int, size: int) -> None:
        """Wait until `size` more bytes fit for the writer `key` (`id(writer)`)."""
        if not self._queue and self._fits(size):
            self._grant(key, size)
            return
        woken = asyncio.get_running_loop().create_future()
        entry = (key, size, woken)
        self._queue.append(entry)
        self._serve()
        try:
            await woken
        except BaseException:
            if woken.done() and not woken.cancelled():
                self.give(key, size)  # granted just as it was cancelled: hand it back
            else:
                with contextlib.suppress(ValueError):
                    self._queue.remove(entry)
                self._serve()
            raise

    def give(self, key: int, size: int) -> None:
        held = self._holders.get(key, 0) - size
        if held > 0:
            self._holders[key] = held
        else:
            self._holders.pop(key, None)
        self.held -= size
        self._serve()

    def _fits(self, size: int) -> bool:
        return self.held + size <= self.limit or not self.held

    def _stuck(self) -> bool:
        waiting = {key for key, _, _ in self._queue}
        return bool(self._holders) and all(key in waiting for key in self._holders)

    def _grant(self, key: int, size: int) -> None:
        self._holders[key] = self._holders.get(key, 0) + size
        self.held += size
        self.peak = max(self.peak, self.held)

    def _serve(self) -> None:
        while self._queue:
            key, size, woken = self._queue[0]
            if woken.done():
                self._queue.popleft()
                continue
            if not (self._fits(size) or self._stuck()):
                return
            self._queue.popleft()
            self._grant(key, size)
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
        spool: SpoolBudget | None = None,
    ) -> None:
        self._send = send
        self._memory = memory
        self._budget = spool
        self._reserved = 0  # spool taken from the budget: at least `filled`
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
            await self._reserve(self.filled + len(piece))
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

    async def _reserve(self, needed: int) -> None:
        if self._budget is None or needed <= self._reserved:
            return
        step = min(-(-(needed - self._reserved) // SPOOL_STEP) * SPOOL_STEP, self.part_size - self._reserved)
        await self._budget.take(id(self), step)
        self._reserved += step

    def _release(self) -> None:
        if self._budget is not None and self._reserved:
            self._budget.give(id(self), self._reserved)
        self._reserved = 0

    def _reset(self) -> None:
        self._spool.seek(0)
        self._spool.truncate()
        self.filled = 0
        self._release()

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
        self._release()
        with contextlib.suppress(OSError):
            self._spool.close()
