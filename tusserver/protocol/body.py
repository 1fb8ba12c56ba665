"""The request body as a capped, interruptible stream of chunks.

Three things end the stream early without losing what arrived: the client disconnecting, another
request asking for this upload's lock (`interrupt`), and more bytes than the upload has room for.
The writer downstream sees a plain end of stream and stores everything it was given; a body cut by
`interrupt` is then answered 400 (`released`), so the client never takes it for a stored one.

A store writing to a local file may instead ask for the whole body at once with `into_file`: the HTTP
protocol then moves it socket -> file in a worker thread, hashing it there when there are hashers, or
with no thread free writes each read into the file itself (http_protocol.DirectBody), under the same
three rules.

Whichever path the bytes take, they are told to the request's `Progress` (direct_body.body_progress) as
they arrive, so metrics and progress listeners see a long body move, not only its end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from starlette.requests import ClientDisconnect, Request

from ..hashing.algorithms import Hasher
from ..server.body_pump import Ended, Progress, Stopper
from ..server.direct_body import body_progress, direct_source, take_buffered

_HASH_BATCH_BYTES = 1024 * 1024


class BodyReader:
    def __init__(self, request: Request, limit: int, hashers: list[Hasher] | None = None) -> None:
        self._request = request
        self.limit = limit
        self.hashers = hashers or []
        self.received = 0
        self.disconnected = False
        self.interrupted = False
        self.released = False  # cut by `interrupt`: another request wants the upload
        self.stopped = False  # cut by `stop`: a post-receive hook said StopUpload
        self.overflow = False
        self._task: asyncio.Task[object] | None = None
        self._in_receive = False
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._hashing: asyncio.Future[None] | None = None
        self._stopper: Stopper | None = None  # set while a direct transfer runs
        self.progress = body_progress(request.scope)  # None when nobody listens

    def listen(self, listener: Callable[[int], None]) -> None:
        """Tell `listener` (on the loop) each batch of this body's bytes as they arrive, whichever path they
        take, and the rest when the body ends: a progress hook hangs off this (`server.body_pump.Progress`)."""
        if self.progress is None:
            self.progress = Progress(asyncio.get_running_loop())
        self.progress.listen(listener)

    def interrupt(self) -> None:
        """Stop reading (called by the locker when another request wants this upload)."""
        self.released = True
        self._cut()

    def stop(self) -> None:
        """Stop reading because a post-receive hook said `StopUpload`: what arrived is kept."""
        self.stopped = True
        self._cut()

    def _cut(self) -> None:
        self.interrupted = True
        if self._stopper is not None:
            self._stopper.stop()
        if self._in_receive and self._task is not None:
            self._task.cancel()

    @property
    def complete(self) -> bool:
        """Whether the body arrived whole (not cut by a disconnect or an interrupt)."""
        return not (self.disconnected or self.interrupted)

    def chunks(self) -> AsyncIterator[bytes]:
        """The body's chunks; a `BodyChunks` (which a store may take whole) when the HTTP layer offers that."""
        if direct_source(self._request.scope) is None:
            return self._chunks()
        return BodyChunks(self)

    async def into_file(self, fd: int, position: int) -> int | None:
        """Write the whole body into `fd` at `position` without it passing through here; None if not offered."""
        direct = direct_source(self._request.scope)
        if direct is None or self.received or self.interrupted:
            return None
        stopper = self._stopper = Stopper()
        try:
            pumped = await direct.into_file(fd, position, self.limit, self.hashers, stopper, self.progress)
        finally:
            self._stopper = None
            stopper.close()
            if self.progress is not None:
                self.progress.flush()
        if pumped is None:
            return None
        self.received += pumped.moved
        ended = pumped.ended
        if ended is Ended.LIMIT:
            self.overflow = True
        elif ended in (Ended.EOF, Ended.TIMEOUT):
            self.disconnected = True
        elif ended is Ended.STOPPED:
            self.interrupted = True
        elif ended is Ended.CANCELLED:
            # As in `_receive`: graceful shutdown cut a stalled client; keep (and report) what arrived.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            self.interrupted = True
        return pumped.moved

    async def _chunks(self) -> AsyncGenerator[bytes, None]:
        self._task = asyncio.current_task()
        try:
            async for chunk in self._receive():
                if self.hashers:
                    await self._hash(chunk)
                yield chunk
        finally:
            if self.progress is not None:
                self.progress.flush()
            if self.hashers:
                await self._drain()

    async def _receive(self) -> AsyncIterator[bytes]:
        stream = self._request.stream().__aiter__()
        while not self.interrupted:
            self._in_receive = True
            try:
                chunk = await stream.__anext__()
            except StopAsyncIteration:
                return
            except ClientDisconnect:
                self.disconnected = True
                return
            except asyncio.CancelledError:
                if self._task is None:
                    raise
                # Our own interrupt, or the server's graceful-shutdown timeout cutting a stalled client:
                # either way stop reading and let the writer keep (and report) what already arrived.
                self._task.uncancel()
                self.interrupted = True
                break
            finally:
                self._in_receive = False
            for piece in self._capped(chunk):
                yield piece
            if self.overflow:
                return
        # Cut short: the bytes the server already read are kept too, not only those handed over so far
        # (a client that sent its body and vanished, then a HEAD asking for the lock, lost them).
        for piece in self._capped(take_buffered(self._request.scope)):
            yield piece

    def _capped(self, chunk: bytes) -> list[bytes]:
        """`chunk`, cut to the room left (setting `overflow`), counted."""
        room = self.limit - self.received
        if len(chunk) > room:
            self.overflow = True
            chunk = chunk[:room]
        if not chunk:
            return []
        self.received += len(chunk)
        if self.progress is not None:
            self.progress.add(len(chunk))
        return [chunk]

    async def _hash(self, chunk: bytes) -> None:
        """Hash in a worker thread, a batch at a time, while the loop receives the next batch.

        hashlib releases the GIL on large inputs, so on two cores checksumming runs beside the
        network instead of after it. Batches are hashed strictly in order: one in flight at a time.
        """
        self._batch.append(chunk)
        self._batch_bytes += len(chunk)
        if self._batch_bytes < _HASH_BATCH_BYTES:
            return
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        if self._hashing is not None:
            await self._hashing
        self._hashing = asyncio.get_running_loop().run_in_executor(None, _feed, self.hashers, batch)

    async def _drain(self) -> None:
        if self._hashing is not None:
            await self._hashing
            self._hashing = None
        _feed(self.hashers, self._batch)
        self._batch, self._batch_bytes = [], 0


class BodyChunks:
    """`BodyReader`'s chunks, which a store may also take whole with `into_file` (direct_body.FileChunkStream)."""

    def __init__(self, reader: BodyReader) -> None:
        self._reader = reader
        self._stream = reader._chunks()

    def __aiter__(self) -> BodyChunks:
        return self

    async def __anext__(self) -> bytes:
        return await self._stream.__anext__()

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def into_file(self, fd: int, position: int) -> int | None:
        return await self._reader.into_file(fd, position)


def _feed(hashers: list[Hasher], batch: list[bytes]) -> None:
    # One update per hasher per batch: each update releases and retakes the GIL, and retaking it from
    # a busy loop thread is what the worker waits on. Joining 1 MiB costs less than the hand-offs it
    # saves (interleaved A/B, 16 rounds of chunked + sha256: about 1.1x the speed, 0.95x the CPU).
    data = batch[0] if len(batch) == 1 else b"".join(batch)
    for hasher in hashers:
        hasher.update(data)
