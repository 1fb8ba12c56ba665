"""The application factory: the middleware stack and the lifespan around what `wiring.build` made.

The backends and the upload service are built in `wiring.py` (the composition root, shared with
`tusserver cleanup`); here they are only started, served over HTTP and stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .asgi.cors import CORS
from .asgi.guard import RequestGuardMiddleware
from .asgi.health import HealthMiddleware
from .config import Settings
from .constants import IETF_HEADERS, TUS_HEADERS
from .errors import BackendUnavailable, TusError, error_response, render_error, unavailable_types
from .extras import require_extra
from .hooks import Hooks
from .locking.base import Locker
from .protocol.context import TusContext
from .protocol.routes import routes
from .storage.base import Store
from .storage.digest_index import DigestIndex
from .uploads.sweeper import run_sweeper
from .wiring import Backends, build

if TYPE_CHECKING:
    from .server.http_protocol import SidePort

# Everything a browser client reads: tus-js-client and Uppy read the tus headers and Location; the token
# helper X-New-Token; a page that waits for an assembly Retry-After; a download Content-Range/-Disposition.
EXPOSED_HEADERS = [
    *TUS_HEADERS,
    *IETF_HEADERS,
    "Location",
    "X-New-Token",
    "WWW-Authenticate",
    "Retry-After",
    "Content-Range",
    "Content-Disposition",
    "Accept-Ranges",
]
log = logging.getLogger("tusserver")

ALLOWED_HEADERS = [
    *TUS_HEADERS,
    *IETF_HEADERS,
    "Content-Disposition",
    "Content-Digest",
    "Authorization",
    "Content-Type",
    "X-HTTP-Method-Override",
    "X-Requested-With",
    "Range",
]


async def _render_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = TusError(exc.detail, dict(exc.headers or {}))
    error.status_code = exc.status_code
    return error_response(error, request.method)


class _Starter:
    """Prepares the backends and starts the sweeper exactly once: from the lifespan, or lazily.

    A backend that is not there yet (the bucket before its creation job ran, Redis still starting) does
    not stop the server: it starts, says once what is missing, answers 503 with Retry-After (errors.py)
    and /readyz names the backend; `prepared` is retried, at most once a second, by the requests that
    come, so it recovers by itself when the backend appears. In a compose file, start order stops mattering.
    """

    RETRY_S = 1.0

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self.started = False
        self.prepared = False
        self.sweeper: asyncio.Task[None] | None = None
        self.side_ports: list[SidePort] = []  # served on the app's event loop from start-up
        self._lock = asyncio.Lock()
        self._last_try = -self.RETRY_S

    async def start(self) -> None:
        async with self._lock:
            if self.started:
                return
            try:
                await self._prepare()
            except BackendUnavailable as exc:
                log.warning("%s; the server is up and answers 503 until it is there", exc.detail)
            if self.backends.settings.expire_after_s > 0:
                self.sweeper = asyncio.create_task(run_sweeper(self.backends.uploads))
            for side in self.side_ports:
                await side.start()
            self.started = True

    async def retry(self) -> None:
        """Another try at a backend that was missing; a request that comes meanwhile meets the backend
        itself and gets its 503 from there."""
        if time.monotonic() - self._last_try < self.RETRY_S or self._lock.locked():
            return
        async with self._lock:
            with contextlib.suppress(BackendUnavailable):
                await self._prepare()
                log.info("the backends answer now: serving uploads")

    async def _prepare(self) -> None:
        self._last_try = time.monotonic()
        await self.backends.prepare()
        self.prepared = True

    async def stop(self) -> None:
        if self.sweeper is not None:
            self.sweeper.cancel()
        for side in self.side_ports:
            await side.aclose()
        await self.backends.aclose()


class _StartOnFirstRequest:
    def __init__(self, app: ASGIApp, starter: _Starter) -> None:
        self.app = app
        self.starter = starter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.starter.prepared and scope["type"] == "http":
            if self.starter.started:
                await self.starter.retry()
            else:
                await self.starter.start()
        await self.app(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    locker: Locker | None = None,
    digest_index: DigestIndex | None = None,
    hooks: Hooks | None = None,
) -> Starlette:
    """An ASGI app serving tus under `settings.base_path`, for `tusserver serve` or to mount in your own app."""
    backends = build(settings or Settings(), store=store, locker=locker, digest_index=digest_index, hooks=hooks)
    ctx = TusContext(backends.settings, backends.uploads)
    app_routes = routes(ctx)
    starter = _Starter(backends)
    app = Starlette(
        routes=app_routes,
        middleware=_middleware(backends, starter, app_routes),
        exception_handlers={
            TusError: render_error,
            HTTPException: _render_http_exception,
            **dict.fromkeys(unavailable_types(), render_error),  # Redis down: 503, no traceback
            Exception: render_error,
        },
        lifespan=_lifespan(starter),
    )
    app.router.redirect_slashes = False  # "/files/%2F" is a bad upload id (404), not a redirect
    app.state.tus = ctx
    return app


def _lifespan(starter: _Starter) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await starter.start()
        try:
            yield
        finally:
            await starter.stop()

    return lifespan


def _middleware(backends: Backends, starter: _Starter, app_routes: list[Route]) -> list[Middleware]:
    """Outermost first. Each middleware gets only its own arguments."""
    settings = backends.settings
    # Outermost: Starlette's Mount and FastAPI's mount() never run a sub-application's lifespan, so the
    # backends are prepared on the first request when no lifespan did it.
    middleware: list[Middleware] = [Middleware(_StartOnFirstRequest, starter=starter)]
    # Health answers need no token: in front of demo and auth.
    middleware.append(Middleware(HealthMiddleware, store=backends.store, locker=backends.locker))
    if settings.metrics or settings.metrics_listen:
        middleware.append(_metrics(settings, backends.hooks, starter, app_routes))
    origins = settings.cors_origin_list
    if origins:
        middleware.append(
            Middleware(
                CORS,
                allow_origins=origins,
                allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=[*ALLOWED_HEADERS, *settings.cors_allow_header_list],
                expose_headers=[*EXPOSED_HEADERS, *settings.cors_expose_header_list],
                allow_credentials=settings.cors_allow_credentials,
                max_age=settings.cors_max_age_s,
            )
        )
    if settings.access_log and settings.log_format == "json":
        from .asgi.logs import RequestLogMiddleware

        middleware.append(Middleware(RequestLogMiddleware, base_path=settings.base_path))
    middleware.append(Middleware(RequestGuardMiddleware, max_header_bytes=settings.max_header_bytes))
    return middleware + _demo_and_auth(settings)


def _metrics(settings: Settings, hooks: Hooks, starter: _Starter, app_routes: list[Route]) -> Middleware:
    require_extra("prometheus_client", "metrics", "--metrics")
    from .asgi.metrics import Metrics, MetricsMiddleware

    metrics = Metrics()
    metrics.attach(hooks)
    if settings.metrics_listen:  # its own address, no token; not on the upload port
        from .server.http_protocol import SidePort, limits_for

        host, _, port = settings.metrics_listen.rpartition(":")
        starter.side_ports.append(
            SidePort(
                metrics.side_app(), host.strip("[]"), int(port), limits_for(settings),
                settings.metrics_max_connections,
            )
        )  # fmt: skip
    else:
        app_routes.append(Route("/metrics", metrics.endpoint, methods=["GET"]))
    return Middleware(MetricsMiddleware, metrics=metrics)


def _demo_and_auth(settings: Settings) -> list[Middleware]:
    tokens = None
    if settings.auth_enabled:
        from .auth.tokens import TokenService

        # Built here, not lazily with the middleware stack, so a bad key fails at start-up.
        tokens = TokenService.from_settings(settings)
    middleware: list[Middleware] = []
    if settings.demo:  # in front of auth: the page is public, the uploads it makes are not
        from .demo import DemoMiddleware

        if tokens is not None:
            log.warning(
                "--demo: POST /demo/token hands a token (each visitor its own owner) to anyone who asks; "
                "not for production"
            )
        middleware.append(Middleware(DemoMiddleware, settings=settings, tokens=tokens))
    if tokens is not None:
        from .auth.middleware import JWTAuthMiddleware

        middleware.append(Middleware(JWTAuthMiddleware, settings=settings, tokens=tokens))
    return middleware
