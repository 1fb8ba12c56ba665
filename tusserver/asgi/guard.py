"""Checks on the raw request before routing: header-size limit, h2c-upgrade guard, method override.

One pure-ASGI layer that walks the headers once, rather than three layers that each walk them: every
middleware layer costs each request a coroutine and a wrapped `send`, which showed in small-upload
profiles. (CORS is Starlette's; auth is in auth/.)
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import BadRequest, HeaderTooLarge, TusError, error_response

_OVERRIDABLE = {"PATCH", "DELETE", "HEAD", "GET", "OPTIONS", "POST"}


class RequestGuardMiddleware:
    """- 431 when the request headers together exceed `max_header_bytes`, before any work is done.
    - 400 for a request body sent with `Upgrade: h2c` (Java's HttpClient and `curl --http2` do this):
      uvicorn's httptools parser stops reading at an upgrade it does not support, so the body never
      reaches the app; without this guard a PATCH would "succeed" having stored nothing.
    - `X-HTTP-Method-Override`, for clients and proxies that can only send GET and POST. Overridden to
      HEAD, the answer has HEAD's headers and an empty body: the server (uvicorn) still frames it for the
      method on the wire, which expects the body a HEAD's Content-Length announces (found by the fuzz:
      a 500 and a traceback), so that Content-Length is dropped.
    - The 431 here is for embedders (create_app under another server): `tusserver serve` already caps the
      head while parsing it (http_protocol.py), so it never gets here there; it costs nothing more, as
      this loop walks the headers for the other checks anyway.
    """

    def __init__(self, app: ASGIApp, max_header_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        total = 0
        upgrade = False
        has_body = False
        override: str | None = None
        for name, value in scope["headers"]:
            total += len(name) + len(value) + 4
            if name == b"upgrade":
                upgrade = True
            elif name == b"content-length":
                has_body = value not in (b"0", b"")
            elif name == b"x-http-method-override" and override is None:
                override = value.decode("latin-1").strip().upper()
        problem: TusError | None = None
        if total > self.max_header_bytes:
            problem = HeaderTooLarge(f"request headers exceed {self.max_header_bytes} bytes")
        elif upgrade and has_body and scope["method"] in ("PATCH", "POST"):
            problem = BadRequest("request bodies cannot be sent with Upgrade (h2c); use HTTP/1.1 without Upgrade")
        if problem is not None:
            await error_response(problem, scope["method"])(scope, receive, send)
            return
        if override in _OVERRIDABLE:
            if override == "HEAD" and scope["method"] != "HEAD":
                send = _without_content_length(send)
            scope = dict(scope, method=override)
        await self.app(scope, receive, send)


def _without_content_length(send: Send) -> Send:
    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(name, value) for name, value in message.get("headers", []) if name != b"content-length"]
            message = {**message, "headers": headers}
        await send(message)

    return sender
