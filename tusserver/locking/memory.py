"""Locks within one process: a table of holders, each with an event set on release."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ..config import Settings
from .base import LockTimeout, ReleaseCallback


@dataclass
class _Holder:
    released: asyncio.Event = field(default_factory=asyncio.Event)
    on_release_request: ReleaseCallback | None = None


class MemoryLocker:
    def __init__(self) -> None:
        self._held: dict[str, _Holder] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> MemoryLocker:
        return cls()

    async def prepare(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    @asynccontextmanager
    async def lock(
        self,
        upload_id: str,
        *,
        timeout_s: float,
        request_release: bool = True,
        on_release_request: ReleaseCallback | None = None,
    ) -> AsyncIterator[None]:
        deadline = time.monotonic() + timeout_s
        while upload_id in self._held:
            holder = self._held[upload_id]
            if request_release and holder.on_release_request is not None:
                holder.on_release_request()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockTimeout(upload_id)
            try:
                await asyncio.wait_for(holder.released.wait(), remaining)
            except TimeoutError:
                raise LockTimeout(upload_id) from None
        holder = _Holder(on_release_request=on_release_request)
        self._held[upload_id] = holder
        try:
            yield
        finally:
            del self._held[upload_id]
            holder.released.set()
