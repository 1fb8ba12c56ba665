"""The post-hook queue: bounded, served by `--hooks-concurrency` workers, every drop logged and counted.

Post-hooks must never hold up the request that caused them, and a slow receiver must never make the
server buffer without bound: an event waits here until a worker delivers it (with retries), and is only
given up when the queue is full or its retries are spent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .delivery import HookFailure, RetryPolicy, Transport, deliver

log = logging.getLogger("tusserver.hooks")


@dataclass
class Job:
    transport: Transport
    hook_type: str
    upload_id: str
    body: bytes
    on_answer: Callable[[Mapping[str, Any]], None] | None = None  # what a post-receive answer may ask (StopUpload)


class PostQueue:
    def __init__(self, policy: RetryPolicy, concurrency: int = 16, size: int = 10000) -> None:
        self.policy = policy
        self.concurrency = concurrency
        self.size = size
        self.dropped = 0
        self._drop_listeners: list[Callable[[str, str], None]] = []
        self._queue: asyncio.Queue[Job] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def on_drop(self, listener: Callable[[str, str], None]) -> None:
        self._drop_listeners.append(listener)

    def put(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop:  # first event, or an embedder's new event loop
            self._queue, self._loop, self._workers = asyncio.Queue(self.size), loop, []
        if len(self._workers) < self.concurrency:
            self._workers = [w for w in self._workers if not w.done()]
            while len(self._workers) < self.concurrency:
                self._workers.append(asyncio.create_task(self._work(self._queue)))
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self._drop(job, "queue_full", "the hook queue is full")

    async def _work(self, queue: asyncio.Queue[Job]) -> None:
        while True:
            job = await queue.get()
            try:
                answer = await deliver(job.transport, job.hook_type, job.body, self.policy)
                if answer and job.on_answer is not None:
                    job.on_answer(answer)
            except HookFailure as exc:
                self._drop(job, "failed", str(exc))
            except Exception as exc:  # a bug in a transport must not kill the worker
                log.exception("hook delivery crashed")
                self._drop(job, "failed", repr(exc))
            finally:
                queue.task_done()

    def _drop(self, job: Job, reason: str, detail: str) -> None:
        self.dropped += 1
        log.error(
            "dropped %s hook (%s) for upload %s: %s",
            job.hook_type, job.transport.name, job.upload_id, detail,
            extra={"upload_id": job.upload_id},
        )  # fmt: skip
        for listener in self._drop_listeners:
            listener(job.hook_type, reason)

    async def drain(self, timeout_s: float) -> None:
        """Let queued events go out (at shutdown), then stop the workers."""
        if self._queue is not None and self._workers:
            try:
                await asyncio.wait_for(self._queue.join(), timeout_s)
            except TimeoutError:
                log.error("shutdown: %d hook events not delivered", self._queue.qsize())
        for worker in self._workers:
            worker.cancel()
        self._workers = []
