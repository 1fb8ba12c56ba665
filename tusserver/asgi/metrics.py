"""Prometheus metrics at `/metrics` (with `--metrics`): uploads by lifecycle event, bytes, requests.

Upload events are counted from the hooks; one pure-ASGI wrapper records each request's method,
status and duration, and listens to its body's `Progress` (body bytes counted while they arrive, in
batches of a MiB or half a second, on every body path: a dashboard sees a long PATCH move).
Each app gets its own registry, so several apps in one process (tests, embedding) never share counters.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..hooks import Hooks
from ..models import UploadInfo
from ..server.direct_body import flush_body_progress, listen_to_body


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.uploads = Counter("tusserver_uploads", "Uploads by lifecycle event", ["event"], registry=self.registry)
        self.bytes_received = Counter(
            "tusserver_request_body_bytes", "Request body bytes received (PATCH and POST)", registry=self.registry
        )
        self.requests = Histogram(
            "tusserver_request_seconds",
            "Request duration by method and status",
            ["method", "status"],
            registry=self.registry,
            buckets=(0.005, 0.025, 0.1, 0.5, 2.5, 10, 60, 600),
        )
        self.hook_drops = Counter(
            "tusserver_hook_drops",
            "Post-hook events given up on: queue_full, or failed (retries spent or refused by the receiver)",
            ["hook", "reason"],
            registry=self.registry,
        )

    def attach(self, hooks: Hooks) -> None:
        hooks.add(self._on_event)
        hooks.on_drop(lambda hook, reason: self.hook_drops.labels(hook=hook, reason=reason).inc())

    def side_app(self) -> ASGIApp:
        """The app `--metrics-listen` serves on its own address: `/metrics` without a token, nothing else."""
        from starlette.applications import Starlette
        from starlette.routing import Route

        return Starlette(routes=[Route("/metrics", self.endpoint, methods=["GET"])])

    async def _on_event(self, event: str, info: UploadInfo) -> None:
        if event == "post-receive":
            return
        self.uploads.labels(event=event.removeprefix("post-")).inc()

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def sender(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        scope = listen_to_body(scope, self.metrics.bytes_received.inc)
        try:
            await self.app(scope, receive, sender)
        finally:
            flush_body_progress(scope)
            self.metrics.requests.labels(method=scope["method"], status=str(status["code"])).observe(
                time.perf_counter() - start
            )
