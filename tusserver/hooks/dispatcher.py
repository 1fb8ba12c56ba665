"""The one hook dispatcher: tusd v2's hook events, to in-process handlers, `--hooks-dir` files and `--hooks-url`.

Teams that move from tusd keep their hook receivers, so the wire format is tusd v2's: a request
`{"Type": ..., "Event": {"Upload": {...}, "HTTPRequest": {...}}}` and a response that may carry
`RejectUpload`, `RejectTermination`, our `RejectAccess`, `ChangeFileInfo` and `HTTPResponse`.

- Pre-hooks (`pre-create`, `pre-access`, `pre-terminate`, `pre-finish`) block the request. Each
  delivery is retried with back-off; a hook that still cannot be reached fails the request closed
  (503), as tusd refuses a request whose blocking hook failed (tusd says 500; 503 tells clients to retry).
- Post-hooks go through a bounded queue served by `--hooks-concurrency` workers, each event retried
  with back-off. An event is only dropped when the queue is full or its retries are spent, and every
  drop is logged and counted (`tusserver_hook_drops_total` with `--metrics`).
- `Hooks.add(callback)` (post events as `(event, UploadInfo)`, always all of them) is the older
  in-process API, kept for embedders and for the metrics; `Hooks.add_handler` gets tusd's JSON.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import HookRejected, HookUnavailable, TusError, UploadGone, UploadNotFound
from ..models import UploadInfo
from ..storage.ids import check_upload_id

if TYPE_CHECKING:
    from starlette.requests import Request

    from ..config import Settings
    from ..storage.base import Store

log = logging.getLogger("tusserver.hooks.dispatcher")

HookCallback = Callable[[str, UploadInfo], Awaitable[None]]
# An in-process handler gets (hook type, the tusd request JSON as a dict) and returns tusd's response dict.
HookHandler = Callable[[str, dict[str, Any]], Awaitable[Mapping[str, Any] | None]]

EVENTS = ("post-create", "post-receive", "post-finish", "post-terminate")  # what `add` callbacks receive
PRE_EVENTS = ("pre-create", "pre-access", "pre-terminate", "pre-finish")
POST_EVENTS = EVENTS
ALL_EVENTS = PRE_EVENTS + POST_EVENTS
# tusd's default for -hooks-enabled-events: pre-access (a round trip per request), pre-finish and
# pre-terminate are opt-in.
DEFAULT_ENABLED = "pre-create,post-create,post-receive,post-terminate,post-finish"


class HookFailure(Exception):
    """One delivery failed; `retry` says whether trying again may help (network, timeout, 5xx)."""

    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


class Transport(Protocol):
    name: str

    async def call(self, hook_type: str, body: bytes) -> dict[str, Any] | None:
        """The hook's response JSON (None when this transport has no hook for the type); HookFailure on failure."""


@dataclass
class RetryPolicy:
    timeout_s: float = 10.0
    retries: int = 3
    backoff_s: float = 1.0

    def delay(self, attempt: int) -> float:
        return float(self.backoff_s * 2**attempt)


def parse_enabled(value: str) -> frozenset[str]:
    names = frozenset(n.strip() for n in value.split(",") if n.strip())
    unknown = names - set(ALL_EVENTS)
    if unknown:
        raise ValueError(f"unknown hook events: {', '.join(sorted(unknown))} (known: {', '.join(ALL_EVENTS)})")
    return names


# -- the tusd JSON ---------------------------------------------------------------------------------


def upload_json(info: UploadInfo, store_name: str = "", path: str | None = None) -> dict[str, Any]:
    storage: dict[str, str] = {"Type": store_name} if store_name else {}
    if path:
        storage["Path"] = path
    return {
        "ID": info.id,
        "Size": info.length if info.length is not None else 0,
        "SizeIsDeferred": info.length is None,
        "Offset": info.offset,
        "MetaData": {key: _decode(value) for key, value in info.metadata.items()},
        "IsPartial": info.is_partial,
        "IsFinal": info.is_final,
        "PartialUploads": list(info.parts) if info.is_final else None,
        "Storage": storage,
    }


def request_json(request: Request | None) -> dict[str, Any]:
    if request is None:  # an event with no request behind it (a background assembly)
        return {"Method": "", "URI": "", "RemoteAddr": "", "Header": {}}
    scope = request.scope
    uri = scope.get("root_path", "") + scope.get("path", "")
    if scope.get("query_string"):
        uri += "?" + scope["query_string"].decode("latin-1")
    client = scope.get("client")
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault("-".join(p.capitalize() for p in name.split("-")), []).append(value)
    return {
        "Method": request.method,
        "URI": uri,
        "RemoteAddr": f"{client[0]}:{client[1]}" if client else "",
        "Header": headers,
    }


def _decode(value: str | None) -> str:
    if not value:
        return ""
    try:
        return base64.b64decode(value).decode("utf-8", errors="replace")
    except ValueError:
        return ""


def _encode(value: object) -> str | None:
    text = "" if value is None else str(value)
    return base64.b64encode(text.encode()).decode() if text else None


def _clean_headers(raw: object) -> dict[str, str]:
    """A hook's response headers, minus anything that could split a response."""
    if not isinstance(raw, Mapping):
        return {}
    clean: dict[str, str] = {}
    for name, value in raw.items():
        text = value[0] if isinstance(value, list) and value else value
        if not isinstance(name, str) or not isinstance(text, str) or not name.strip():
            continue
        if any(c in name + text for c in "\r\n\0") or ":" in name:
            continue
        clean[name] = text
    return clean


def rejection(response: Mapping[str, Any], default_status: int, default_message: str) -> HookRejected:
    http = response.get("HTTPResponse") or {}
    if not isinstance(http, Mapping):
        http = {}
    status = http.get("StatusCode")
    if not isinstance(status, int) or not 400 <= status <= 599:
        status = default_status
    body = http.get("Body")
    message = body if isinstance(body, str) and body else default_message
    return HookRejected(status, message, _clean_headers(http.get("Header")))


# -- the dispatcher --------------------------------------------------------------------------------


@dataclass
class _Job:
    transport: Transport
    hook_type: str
    upload_id: str
    body: bytes


@dataclass
class Hooks:
    """Every hook goes through here; `create_app` configures it from the settings."""

    enabled: frozenset[str] = field(default_factory=lambda: parse_enabled(DEFAULT_ENABLED))
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    progress_interval_s: float = 1.0
    concurrency: int = 16
    queue_size: int = 10000
    store_name: str = ""
    store: Store | None = None
    _callbacks: list[HookCallback] = field(default_factory=list)
    _handlers: list[HookHandler] = field(default_factory=list)
    _transports: list[Transport] = field(default_factory=list)
    _configured: list[Transport] = field(default_factory=list)  # the ones `configure` made from settings
    _drop_listeners: list[Callable[[str, str], None]] = field(default_factory=list)
    _last_progress: dict[str, float] = field(default_factory=dict)
    _queue: asyncio.Queue[_Job] | None = None
    _workers: list[asyncio.Task[None]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    dropped: int = 0

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
        self._drop_listeners.append(listener)

    def configure(self, settings: Settings, store: Store) -> None:
        from .transports import FileTransport, HttpTransport

        self.enabled = parse_enabled(settings.hooks_enabled)
        self.policy = RetryPolicy(settings.hooks_timeout_s, settings.hooks_retry, settings.hooks_backoff_s)
        self.progress_interval_s = settings.progress_interval_s
        self.concurrency = settings.hooks_concurrency
        self.queue_size = settings.hooks_queue
        self.store, self.store_name = store, settings.store
        # Configured again (one Hooks given to a second app): replace what the settings made, keep the rest.
        self._transports = [t for t in self._transports if t not in self._configured]
        self._configured = []
        if settings.hooks_dir is not None:
            self._configured.append(FileTransport(settings.hooks_dir, self.policy.timeout_s))
        if settings.hooks_url:
            self._configured.append(HttpTransport(settings.hooks_url, self.policy.timeout_s))
        self._transports.extend(self._configured)

    def wants(self, hook_type: str) -> bool:
        return hook_type in self.enabled and bool(self._handlers or self._transports)

    # -- pre-hooks --------------------------------------------------------------------------------

    async def pre_create(self, request: Request, info: UploadInfo) -> None:
        """May refuse (tusd: 400 unless the hook says otherwise) or change the new upload's ID and metadata."""

        async def check(response: Mapping[str, Any]) -> None:
            if response.get("RejectUpload"):
                raise rejection(response, 400, "upload creation has been rejected by the server")
            await self._apply_changes(info, response.get("ChangeFileInfo"))

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
        try:
            await self._blocking("pre-finish", info, request)
        except HookUnavailable as exc:
            log.warning("pre-finish hook for upload %s failed: %s", info.id, exc.message)

    async def _blocking(
        self,
        hook_type: str,
        info: UploadInfo,
        request: Request | None,
        check: Callable[[Mapping[str, Any]], Awaitable[None]] | None = None,
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
                answer = await self._deliver(transport, hook_type, payload)
            except HookFailure as exc:
                log.error(
                    "%s hook (%s) failed for upload %s: %s", hook_type, transport.name, info.id, exc,
                    extra={"upload_id": info.id},
                )  # fmt: skip
                raise HookUnavailable(f"{hook_type} hook could not be completed; try again later") from exc
            if answer and check is not None:
                await check(answer)

    async def _apply_changes(self, info: UploadInfo, changes: object) -> None:
        if not isinstance(changes, Mapping):
            return
        new_id = changes.get("ID")
        if isinstance(new_id, str) and new_id and new_id != info.id:
            try:
                check_upload_id(new_id)
            except UploadNotFound:
                log.error("pre-create hook returned an invalid upload ID %r", new_id[:80])
                raise HookUnavailable("pre-create hook returned an invalid upload ID") from None
            if self.store is not None and await self._taken(new_id):
                log.error("pre-create hook returned upload ID %s, which is taken", new_id)
                raise HookUnavailable("pre-create hook returned an upload ID that is taken") from None
            info.id = new_id
        metadata = changes.get("MetaData")
        if isinstance(metadata, Mapping):
            info.metadata = {str(k): _encode(v) for k, v in metadata.items()}

    async def _taken(self, upload_id: str) -> bool:
        assert self.store is not None
        try:
            await self.store.get_info(upload_id)
        except (UploadNotFound, UploadGone) as exc:
            return isinstance(exc, UploadGone)  # a terminated ID stays taken: its old URL must stay dead
        return True

    async def _deliver(self, transport: Transport, hook_type: str, body: bytes) -> dict[str, Any] | None:
        attempt = 0
        while True:
            try:
                # One deadline for the whole attempt: httpx's timeout is per read, a trickling answer beats it.
                return await asyncio.wait_for(transport.call(hook_type, body), self.policy.timeout_s + 1)
            except TimeoutError:
                if attempt >= self.policy.retries:
                    raise HookFailure(f"no answer within {self.policy.timeout_s} s", retry=True) from None
            except HookFailure as exc:
                if not exc.retry or attempt >= self.policy.retries:
                    raise
            await asyncio.sleep(self.policy.delay(attempt))
            attempt += 1

    # -- post-hooks -------------------------------------------------------------------------------

    async def emit(self, event: str, info: UploadInfo, request: Request | None = None) -> None:
        """A post event: older callbacks run now; tusd-style handlers and remote hooks per --hooks-enabled."""
        for callback in self._callbacks:
            try:
                await callback(event, info)
            except Exception:
                log.exception("hook %s failed for upload %s", event, info.id)
        if not self.wants(event) or (event == "post-receive" and not self._progress_due(info)):
            return
        if event != "post-receive":
            self._last_progress.pop(info.id, None)
        payload = self._payload(event, info, request)
        for handler in self._handlers:
            try:
                await handler(event, json.loads(payload))
            except Exception:
                log.exception("in-process %s hook failed for upload %s", event, info.id)
        for transport in self._transports:
            self._enqueue(_Job(transport, event, info.id, payload))

    def _progress_due(self, info: UploadInfo) -> bool:
        """post-receive at most once per --progress-interval per upload (and always for the last byte)."""
        now = time.monotonic()
        last = self._last_progress.get(info.id)
        if last is not None and now - last < self.progress_interval_s and not info.is_complete:
            return False
        if len(self._last_progress) > 100_000:
            self._last_progress.clear()
        self._last_progress[info.id] = now
        return True

    def _enqueue(self, job: _Job) -> None:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop:  # first event, or an embedder's new event loop
            self._queue, self._loop, self._workers = asyncio.Queue(self.queue_size), loop, []
        if len(self._workers) < self.concurrency:
            self._workers = [w for w in self._workers if not w.done()]
            while len(self._workers) < self.concurrency:
                self._workers.append(asyncio.create_task(self._work(self._queue)))
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self._drop(job, "queue_full", "the hook queue is full")

    async def _work(self, queue: asyncio.Queue[_Job]) -> None:
        while True:
            job = await queue.get()
            try:
                await self._deliver(job.transport, job.hook_type, job.body)
            except HookFailure as exc:
                self._drop(job, "failed", str(exc))
            except Exception as exc:  # a bug in a transport must not kill the worker
                log.exception("hook delivery crashed")
                self._drop(job, "failed", repr(exc))
            finally:
                queue.task_done()

    def _drop(self, job: _Job, reason: str, detail: str) -> None:
        self.dropped += 1
        log.error(
            "dropped %s hook (%s) for upload %s: %s",
            job.hook_type, job.transport.name, job.upload_id, detail,
            extra={"upload_id": job.upload_id},
        )  # fmt: skip
        for listener in self._drop_listeners:
            listener(job.hook_type, reason)

    def _payload(self, hook_type: str, info: UploadInfo, request: Request | None) -> bytes:
        path = None
        data_path = getattr(self.store, "data_path", None)
        if data_path is not None:
            path = data_path(info.id)
        event = {"Upload": upload_json(info, self.store_name, path), "HTTPRequest": request_json(request)}
        return json.dumps({"Type": hook_type, "Event": event}).encode()

    async def drain(self, timeout_s: float) -> None:
        """Let queued post-hooks go out (at shutdown), then stop the workers."""
        if self._queue is not None and self._workers:
            try:
                await asyncio.wait_for(self._queue.join(), timeout_s)
            except TimeoutError:
                log.error("shutdown: %d hook events not delivered", self._queue.qsize())
        for worker in self._workers:
            worker.cancel()
        self._workers = []
        for transport in self._transports:
            close = getattr(transport, "aclose", None)
            if close is not None:
                await close()
