"""The one hook dispatcher: tusd v2's hook events, to in-process handlers, `--hooks-dir` files and `--hooks-url`.

Teams that move from tusd keep their hook receivers, so the wire format is tusd v2's (payloads.py): a
request `{"Type": ..., "Event": {"Upload": {...}, "HTTPRequest": {...}}}` and a response that may carry
`RejectUpload`, `RejectTermination`, our `RejectAccess`, `ChangeFileInfo` and `HTTPResponse`.

- Pre-hooks (`pre-create`, `pre-access`, `pre-terminate`, `pre-finish`) block the request. Each
  delivery is retried with back-off (delivery.py); a hook that still cannot be reached fails the
  request closed (503), as tusd refuses a request whose blocking hook failed (tusd says 500; 503 tells
  clients to retry).
- Post-hooks go through a bounded queue served by `--hooks-concurrency` workers (queue.py), each event
  retried with back-off. An event is only dropped when the queue is full or its retries are spent, and
  every drop is logged and counted (`tusserver_hook_drops_total` with `--metrics`).
- `Hooks.add(callback)` (post events as `(event, UploadInfo)`, always all of them) is the older
  in-process API, kept for embedders and for the metrics; `Hooks.add_handler` gets tusd's JSON.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import HookUnavailable, TusError
from ..models import UploadInfo
from .changes import apply_changes
from .delivery import HookFailure, HookHandler, RetryPolicy, Transport, deliver
from .events import DEFAULT_ENABLED, parse_enabled
from .payloads import hook_request
from .post import PostSender
from .progress import ProgressThrottle
from .queue import PostQueue
from .responses import rejection, remember_reply

if TYPE_CHECKING:
    from starlette.requests import Request

    from ..config import Settings
    from ..storage.base import Placeable, Store

log = logging.getLogger("tusserver.hooks")

HookCallback = Callable[[str, UploadInfo], Awaitable[None]]
Check = Callable[[Mapping[str, Any]], Awaitable[None]]


@dataclass
class Hooks:
    """Every hook goes through here; `create_app` configures it from the settings."""

    enabled: frozenset[str] = field(default_factory=lambda: parse_enabled(DEFAULT_ENABLED))
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    store_name: str = ""
    store: Store | None = None
    placer: Placeable | None = None  # the store, when it can say where bytes are and place them (Storage)
    progress: ProgressThrottle = field(default_factory=ProgressThrottle)
    queue: PostQueue = field(init=False)
    post: PostSender = field(init=False)
    _callbacks: list[HookCallback] = field(default_factory=list)
    _handlers: list[HookHandler] = field(default_factory=list)
    _transports: list[Transport] = field(default_factory=list)
    _configured: list[Transport] = field(default_factory=list)  # the ones `configure` made from settings

    def __post_init__(self) -> None:
        self.queue = PostQueue(self.policy)
        self.post = PostSender(self.queue)

    @property
    def dropped(self) -> int:
        """Post events given up on since start (queue full or retries spent)."""
        return self.queue.dropped

    # -- set-up -----------------------------------------------------------------------------------

    def add(self, callback: HookCallback) -> None:
        """Older in-process API: `callback(event, info)` for every post event, whatever --hooks-enabled says."""
        self._callbacks.append(callback)

    def add_handler(self, handler: HookHandler) -> None:
        """In-process tusd-style hook: `await handler(hook_type, request_dict)` returns a response dict or None."""
        self._handlers.append(handler)

    def add_transport(self, transport: Transport) -> None:
        self._transports.append(transport)

    def on_drop(self, listener: Callable[[str, str], None]) -> None:
        """`listener(hook_type, reason)` for each post event given up on (reason: queue_full or failed)."""
        self.queue.on_drop(listener)

    def configure(self, settings: Settings, store: Store, placer: Placeable | None = None) -> None:
        from .transports import transports_for

        self.enabled = parse_enabled(settings.hooks_enabled)
        self.policy = RetryPolicy(settings.hooks_timeout_s, settings.hooks_retry, settings.hooks_backoff_s)
        self.queue.policy = self.policy
        self.queue.concurrency, self.queue.size = settings.hooks_concurrency, settings.hooks_queue
        self.progress.interval_s = settings.progress_interval_s
        self.store, self.store_name, self.placer = store, settings.store, placer
        # Configured again (one Hooks given to a second app): replace what the settings made, keep the rest.
        self._transports = [t for t in self._transports if t not in self._configured]
        self._configured = transports_for(settings, self.policy.timeout_s)
        self._transports.extend(self._configured)

    def wants(self, hook_type: str) -> bool:
        return hook_type in self.enabled and bool(self._handlers or self._transports)

    # -- pre-hooks --------------------------------------------------------------------------------

    async def pre_create(self, request: Request, info: UploadInfo) -> None:
        """May refuse (tusd: 400 unless the hook says otherwise) or change the new upload's ID and metadata."""

        async def check(response: Mapping[str, Any]) -> None:
            if response.get("RejectUpload"):
                raise rejection(response, 400, "upload creation has been rejected by the server")
            await apply_changes(info, response.get("ChangeFileInfo"), self.store, self.placer, self.store_name)
            remember_reply(request, response)

        await self._blocking("pre-create", info, request, check)

    async def pre_access(self, request: Request, info: UploadInfo) -> None:
        async def check(response: Mapping[str, Any]) -> None:
            if response.get("RejectAccess"):
                raise rejection(response, 403, "access to this upload has been refused by the server")

        await self._blocking("pre-access", info, request, check)

    async def pre_terminate(self, request: Request, info: UploadInfo) -> None:
        async def check(response: Mapping[str, Any]) -> None:
            if response.get("RejectTermination"):
                raise rejection(response, 400, "upload termination has been rejected by the server")

        await self._blocking("pre-terminate", info, request, check)

    async def pre_finish(self, info: UploadInfo, request: Request | None = None) -> None:
        """Blocking, as in tusd, so a receiver sees the file before the client hears it is done; a
        failure is logged, never refused: the bytes are stored and the client cannot undo that."""

        async def check(response: Mapping[str, Any]) -> None:
            remember_reply(request, response)

        try:
            await self._blocking("pre-finish", info, request, check)
        except HookUnavailable as exc:
            log.warning("pre-finish hook for upload %s failed: %s", info.id, exc.message)

    async def _blocking(
        self, hook_type: str, info: UploadInfo, request: Request | None, check: Check | None = None
    ) -> None:
        """Ask every hook in turn (in-process, file, HTTP); `check` each answer, so the first refusal wins
        and the hooks after it are not asked."""
        if not self.wants(hook_type):
            return
        payload = self._payload(hook_type, info, request)
        for handler in self._handlers:
            try:
                answer = await handler(hook_type, json.loads(payload))
            except TusError:
                raise
            except Exception as exc:
                log.exception("in-process %s hook failed for upload %s", hook_type, info.id)
                raise HookUnavailable(f"{hook_type} hook failed") from exc
            if answer and check is not None:
                await check(answer)
        for transport in self._transports:
            try:
                answer = await deliver(transport, hook_type, payload, self.policy)
            except HookFailure as exc:
                log.error(
                    "%s hook (%s) failed for upload %s: %s", hook_type, transport.name, info.id, exc,
                    extra={"upload_id": info.id},
                )  # fmt: skip
                raise HookUnavailable(f"{hook_type} hook could not be completed; try again later") from exc
            if answer and check is not None:
                await check(answer)

    # -- post-hooks -------------------------------------------------------------------------------

    async def emit(self, event: str, info: UploadInfo, request: Request | None = None) -> None:
        """A post event: older callbacks run now; tusd-style handlers and remote hooks per --hooks-enabled."""
        for callback in self._callbacks:
            try:
                await callback(event, info)
            except Exception:
                log.exception("hook %s failed for upload %s", event, info.id)
        if not self.wants(event) or (
            event == "post-receive" and not self.progress.due(info.id, info.offset, info.is_complete)
        ):
            return
        if event != "post-receive":
            self.progress.forget(info.id)
        await self.post.send(event, info.id, self._payload(event, info, request), self._handlers, self._transports)

    def progress_listener(self, info: UploadInfo, request: Request | None) -> Callable[[int], None] | None:
        """A listener for a body's bytes (`BodyReader.listen`) that sends post-receive while a PATCH runs,
        at most every --progress-interval, with the offset reached so far; None when nobody wants them.

        The older `add` callbacks (the metrics) still get one post-receive when the PATCH ends."""
        if not self.wants("post-receive"):
            return None
        start, received = info.offset, 0

        def moved(size: int) -> None:
            nonlocal received
            received += size
            offset = start + received
            if offset == info.length:
                return  # the last byte's post-receive goes out when the PATCH ends, after pre-finish
            if self.progress.due(info.id, offset):
                payload = self._payload("post-receive", dataclasses.replace(info, offset=offset), request)
                self.post.send_nowait("post-receive", info.id, payload, self._handlers, self._transports)

        return moved

    def on_stop(self, listener: Callable[[str, Mapping[str, Any]], None]) -> None:
        """`listener(upload_id, answer)` when a post-receive answer says `StopUpload` (the upload service
        ends the running PATCH, or marks the upload stopped when none runs)."""
        self.post.on_stop(listener)

    def _payload(self, hook_type: str, info: UploadInfo, request: Request | None) -> bytes:
        storage = {"Type": self.store_name} if self.store_name else {}
        if self.placer is not None:
            storage.update(self.placer.location(info))
        return hook_request(hook_type, info, request, storage)

    async def drain(self, timeout_s: float) -> None:
        """Let queued post-hooks go out (at shutdown), then stop the workers and close the transports."""
        await self.post.drain(timeout_s)
        for transport in self._transports:
            close = getattr(transport, "aclose", None)
            if close is not None:
                await close()
