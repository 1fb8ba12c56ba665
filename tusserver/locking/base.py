"""Per-upload exclusive locks, with a way to ask the current holder to let go.

A client that resumes after a dropped connection often finds its own dead PATCH still holding the
lock (the server has not noticed the TCP connection is gone). Like tusd 2, the new request asks the
holder to release: the holder's `on_release_request` callback cuts its body stream, its bytes are
saved, the lock is freed, and the new request goes ahead within a poll interval, not a TCP timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from ..errors import Locked

ReleaseCallback = Callable[[], None]


class LockTimeout(Locked):
    def __init__(self, upload_id: str) -> None:
        super().__init__("upload is busy with another request; retry shortly")
        self.upload_id = upload_id


@runtime_checkable
class Locker(Protocol):
    async def prepare(self) -> None: ...

    async def aclose(self) -> None: ...

    def lock(
        self,
        upload_id: str,
        *,
        timeout_s: float,
        request_release: bool = True,
        on_release_request: ReleaseCallback | None = None,
    ) -> AbstractAsyncContextManager[None]:
        """Hold the upload's lock for the `async with` block.

        While waiting, ask the holder to release if `request_release`. Raise LockTimeout after
        `timeout_s` (0: try once). While held, call `on_release_request` when another request asks.
        """
