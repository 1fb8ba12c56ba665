"""Small pure-ASGI middleware: method override and header-size limit. (CORS is Starlette's; auth is in auth/.)"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import BadRequest, HeaderTooLarge, error_response

_OVERRIDABLE = {"PATCH", "DELETE", "HEAD", "GET", "OPTIONS", "POST"}


class MethodOverrideMiddleware:
    """Honour `X-HTTP-Method-Override` for clients and proxies that can only send GET and POST."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-http-method-override":
                    method = value.decode("latin-1").strip().upper()
                    if method in _OVERRIDABLE:
                        scope = dict(scope, method=method)
                    break
        await self.app(scope, receive, send)


class HeaderLimitMiddleware:
    """431 when the request headers together exceed `max_header_bytes`, before any work is done."""

    def __init__(self, app: ASGIApp, max_header_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            total = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if total > self.max_header_bytes:
                exc = HeaderTooLarge(f"request headers exceed {self.max_header_bytes} bytes")
                await error_response(exc, scope["method"])(scope, receive, send)
                return
        await self.app(scope, receive, send)


class UpgradeGuardMiddleware:
    """400 for a request body sent with `Upgrade: h2c` (Java's HttpClient and `curl --http2` do this).

    uvicorn's httptools parser stops reading at an upgrade it does not support, so the body never
    reaches the app: without this guard a PATCH would "succeed" having stored nothing. A clear 4xx
    tells the client to speak plain HTTP/1.1 instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("PATCH", "POST"):
            headers = dict(scope["headers"])
            if b"upgrade" in headers and headers.get(b"content-length", b"0") not in (b"0", b""):
                exc = BadRequest("request bodies cannot be sent with Upgrade (h2c); use HTTP/1.1 without Upgrade")
                await error_response(exc, scope["method"])(scope, receive, send)
                return
        await self.app(scope, receive, send)
