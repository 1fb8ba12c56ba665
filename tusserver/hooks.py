"""Lifecycle events (post-create, post-finish, post-terminate) for code that embeds the server.

Callbacks run after the response's work is done; a failing callback is logged and never fails the
upload, because the bytes are already stored and the client must not retry for our sake.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from .models import UploadInfo

log = logging.getLogger("tusserver")

HookCallback = Callable[[str, UploadInfo], Awaitable[None]]
EVENTS = ("post-create", "post-receive", "post-finish", "post-terminate")


class Hooks:
    def __init__(self) -> None:
        self._callbacks: list[HookCallback] = []

    def add(self, callback: HookCallback) -> None:
        self._callbacks.append(callback)

    async def emit(self, event: str, info: UploadInfo) -> None:
        for callback in self._callbacks:
            try:
                await callback(event, info)
            except Exception:
                log.exception("hook %s failed for upload %s", event, info.id)
