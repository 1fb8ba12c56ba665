"""Lifecycle events (post-create, post-finish, post-terminate) for code that embeds the server.

Callbacks run after the response's work is done; a failing callback is logged and never fails the
upload, because the bytes are already stored and the client must not retry for our sake.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx

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


class HttpHook:
    """POSTs each event as JSON to `--hooks-url`, from a background queue so no upload waits on it.

    Delivery is best effort: a full queue or a failing endpoint is logged and the event dropped,
    because a hook endpoint that is down must never stop uploads.
    """

    def __init__(self, url: str, timeout_s: float = 5.0, queue_size: int = 1000) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._queue: asyncio.Queue[dict[str, object]] = asyncio.Queue(queue_size)
        self._worker: asyncio.Task[None] | None = None

    async def __call__(self, event: str, info: UploadInfo) -> None:
        if event == "post-receive":
            return
        payload: dict[str, object] = {
            "event": event,
            "upload": {
                "id": info.id,
                "length": info.length,
                "offset": info.offset,
                "metadata": info.metadata,
                "owner": info.owner,
                "concat": info.concat,
                "parts": info.parts,
            },
        }
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            log.warning("hook queue full; dropped %s for upload %s", event, info.id)
            return
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._deliver())

    async def _deliver(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            while not self._queue.empty():
                payload = self._queue.get_nowait()
                try:
                    response = await client.post(self.url, json=payload)
                    if response.status_code >= 400:
                        log.warning("hook endpoint answered %d for %s", response.status_code, payload["event"])
                except httpx.HTTPError as exc:
                    log.warning("hook delivery failed for %s: %s", payload["event"], exc)

    async def aclose(self) -> None:
        if self._worker is not None:
            await asyncio.wait([self._worker], timeout=self.timeout_s)
