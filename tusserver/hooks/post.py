"""Post-hooks: one event to every in-process handler and, through the bounded queue, to every transport;
and what a post-receive answer may ask for (`StopUpload`, told to the upload service).

Post-hooks never hold up the request beyond the in-process handlers `emit` awaits; events sent while
a body arrives (from a synchronous byte listener) run those handlers as tasks instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from .delivery import HookHandler, Transport
from .queue import Job, PostQueue

log = logging.getLogger("tusserver.hooks")

AnswerCheck = Callable[[Mapping[str, Any]], None]
StopListener = Callable[[str, Mapping[str, Any]], None]


class PostSender:
    def __init__(self, queue: PostQueue) -> None:
        self.queue = queue
        self._stop_listeners: list[StopListener] = []
        self._tasks: set[asyncio.Task[None]] = set()  # in-process handlers run by `send_nowait`

    def on_stop(self, listener: StopListener) -> None:
        self._stop_listeners.append(listener)

    async def send(
        self, event: str, upload_id: str, payload: bytes, handlers: list[HookHandler], transports: list[Transport]
    ) -> None:
        on_answer = self._answer_check(event, upload_id)
        for handler in handlers:
            await self._run(handler, event, payload, upload_id, on_answer)
        for transport in transports:
            self.queue.put(Job(transport, event, upload_id, payload, on_answer))

    def send_nowait(
        self, event: str, upload_id: str, payload: bytes, handlers: list[HookHandler], transports: list[Transport]
    ) -> None:
        on_answer = self._answer_check(event, upload_id)
        for handler in handlers:
            task = asyncio.create_task(self._run(handler, event, payload, upload_id, on_answer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        for transport in transports:
            self.queue.put(Job(transport, event, upload_id, payload, on_answer))

    async def _run(
        self, handler: HookHandler, event: str, payload: bytes, upload_id: str, on_answer: AnswerCheck | None
    ) -> None:
        try:
            answer = await handler(event, json.loads(payload))
        except Exception:
            log.exception("in-process %s hook failed for upload %s", event, upload_id)
            return
        if answer and on_answer is not None:
            on_answer(answer)

    def _answer_check(self, event: str, upload_id: str) -> AnswerCheck | None:
        if event != "post-receive":
            return None

        def check(answer: Mapping[str, Any]) -> None:
            if answer.get("StopUpload"):
                log.info("post-receive hook stopped upload %s", upload_id, extra={"upload_id": upload_id})
                for listener in self._stop_listeners:
                    listener(upload_id, answer)

        return check

    async def drain(self, timeout_s: float) -> None:
        """Let running handlers and queued events finish (at shutdown), then stop the queue's workers."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
        await self.queue.drain(timeout_s)
