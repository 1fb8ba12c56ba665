"""The request body as a capped, interruptible stream of chunks.

Three things end the stream early without losing what arrived: the client disconnecting, another
request asking for this upload's lock (`interrupt`), and more bytes than the upload has room for.
The writer downstream sees a plain end of stream and stores everything it was given.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request

from .checksum import Hasher


class BodyReader:
    def __init__(self, request: Request, limit: int, hashers: list[Hasher] | None = None) -> None:
        self._request = request
        self.limit = limit
        self.hashers = hashers or []
        self.received = 0
        self.disconnected = False
        self.interrupted = False
        self.overflow = False
        self._task: asyncio.Task[object] | None = None
        self._in_receive = False

    def interrupt(self) -> None:
        """Stop reading (called by the locker when another request wants this upload)."""
        self.interrupted = True
        if self._in_receive and self._task is not None:
            self._task.cancel()

    @property
    def complete(self) -> bool:
        """Whether the body arrived whole (not cut by a disconnect or an interrupt)."""
        return not (self.disconnected or self.interrupted)

    async def chunks(self) -> AsyncIterator[bytes]:
        self._task = asyncio.current_task()
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
                return
            finally:
                self._in_receive = False
            if not chunk:
                continue
            room = self.limit - self.received
            if len(chunk) > room:
                self.overflow = True
                chunk = chunk[:room]
            if chunk:
                self.received += len(chunk)
                for hasher in self.hashers:
                    hasher.update(chunk)
                yield chunk
            if self.overflow:
                return
