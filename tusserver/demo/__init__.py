"""`--demo`: an upload page at `/` so a new user can see the server work in a browser.

Served by one pure-ASGI layer that sits in front of auth (the page and its files are public; the tus
routes behind it still want a token). Everything the page needs comes from this package, so it works on
a closed network, and a Content-Security-Policy of `'self'` makes the browser refuse anything else.

With auth on, `POST /demo/token` hands a token to anyone who asks: that is what makes the page work
without a platform, and why `create_app` logs a warning. Each visitor is an owner of its own
(`sub` "demo-<random>"), kept in a cookie signed with the secret, so a visitor's second token (to resume
after the first expired) still owns its uploads, while another visitor cannot read them. Without
`--demo` none of these paths exists (the app answers 404 as for any unknown path).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from importlib import resources
from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import TusError, UploadNotFound, error_response

if TYPE_CHECKING:
    from ..auth.tokens import TokenService
    from ..config import Settings

DEMO_SUB = "demo"  # visitors are "demo-<id>"
VISITOR_COOKIE = "tusserver-demo"
_FILES = {
    "index.html": "text/html; charset=utf-8",
    "demo.css": "text/css; charset=utf-8",
    "demo.mjs": "text/javascript; charset=utf-8",
    "uploader.mjs": "text/javascript; charset=utf-8",
    "tusserver-token.mjs": "text/javascript; charset=utf-8",
}
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


class MethodNotAllowed(TusError):
    status_code = 405
    code = "method_not_allowed"


class DemoMiddleware:
    """Answers `GET /`, `GET /demo/<file>`, `GET /demo/config.json` and `POST /demo/token`; passes the rest on."""

    def __init__(self, app: ASGIApp, *, settings: Settings, tokens: TokenService | None) -> None:
        self.app = app
        self.tokens = tokens
        # With only a public key or JWKS the server can sign rotated tokens, which continue a chain, but no
        # platform token to start one: demo tokens need --jwt-secret.
        self.can_issue = tokens is not None and bool(settings.jwt_secret)
        self._cookie_key = hashlib.sha256(b"tusserver demo visitor\0" + settings.jwt_secret.encode()).digest()
        package = resources.files(__package__)
        self.files = {name: package.joinpath(name).read_bytes() for name in _FILES}
        config = {"endpoint": settings.base_path, "auth": tokens is not None}
        self.config = json.dumps(config).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        method = scope.get("method", "")
        page = path == "/" and method in ("GET", "HEAD")  # POST / belongs to tus with --base-path /
        if not page and not path.startswith("/demo/"):
            await self.app(scope, receive, send)
            return
        name = "index.html" if path == "/" else path[len("/demo/") :]
        response: Response
        if name == "token":
            if method != "POST":
                response = error_response(MethodNotAllowed("POST for a demo token", {"Allow": "POST"}), method)
            elif self.tokens is None:
                response = error_response(UploadNotFound("auth is off: no token needed"), method)
            elif not self.can_issue:
                problem = UploadNotFound("demo tokens need --jwt-secret (a public key cannot sign platform tokens)")
                response = error_response(problem, method)
            else:
                response = self._token_response(scope)
        elif name == "config.json" or name in self.files:
            if method not in ("GET", "HEAD"):
                allowed = {"Allow": "GET, HEAD"}
                response = error_response(MethodNotAllowed("the demo page is read-only", allowed), method)
            else:
                body = self.config if name == "config.json" else self.files[name]
                kind = "application/json" if name == "config.json" else _FILES[name]
                response = Response(b"" if method == "HEAD" else body, media_type=kind, headers=_HEADERS)
                response.headers["Content-Length"] = str(len(body))
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)

    def _token_response(self, scope: Scope) -> Response:
        assert self.tokens is not None
        visitor = self._visitor(scope)
        headers = {"Cache-Control": "no-store"}
        if visitor is None:
            visitor = secrets.token_urlsafe(12)
            secure = "; Secure" if scope.get("scheme") == "https" else ""
            headers["Set-Cookie"] = (
                f"{VISITOR_COOKIE}={visitor}.{self._sign(visitor)}; Path=/demo/token; HttpOnly; "
                f"SameSite=Strict; Max-Age=86400{secure}"
            )
        token = self.tokens.start_chain(f"{DEMO_SUB}-{visitor}")
        return Response(token, media_type="text/plain", headers=headers)

    def _sign(self, visitor: str) -> str:
        return hmac.new(self._cookie_key, visitor.encode(), hashlib.sha256).hexdigest()[:32]

    def _visitor(self, scope: Scope) -> str | None:
        """The visitor id of a cookie this server signed, else None (a new visitor)."""
        for name, value in scope.get("headers", ()):
            if name != b"cookie":
                continue
            text: str = value.decode("latin-1")
            for pair in text.split(";"):
                key, _, cookie = pair.strip().partition("=")
                visitor, _, mac = cookie.partition(".")
                if key == VISITOR_COOKIE and visitor and hmac.compare_digest(mac, self._sign(visitor)):
                    return visitor
        return None
