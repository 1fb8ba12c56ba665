"""Pure ASGI JWT middleware: check the bearer token when a request starts, rotate it on the response.

- OPTIONS (CORS preflight, tus discovery) and non-HTTP scopes pass straight through.
- No `Authorization` header: 401 `WWW-Authenticate: Bearer`. A bad one: 401 with
  `Bearer error="invalid_token", error_description="…"` (RFC 6750 §3).
- A valid token puts an `Identity` in `scope["auth"]`; every response start, whatever its
  status, gets `X-New-Token`: the same owner and restriction, never narrowed to the request's upload
  (one token serves all of an owner's uploads). The token is checked once, at the start: a PATCH
  body that streams for an hour completes and still gets a fresh token.

Tokens are never logged: neither here nor in the error descriptions.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import TusError, Unauthorized, error_response
from .access import AUTH_SCOPE_KEY, Identity
from .tokens import TokenError, TokenService, VerifiedToken

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger("tusserver.auth")

NEW_TOKEN_HEADER = "X-New-Token"


class JWTAuthMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings, tokens: TokenService | None = None) -> None:
        self.app = app
        self.tokens = tokens or TokenService.from_settings(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        raw = _authorization(scope)
        if raw is None:
            await self._reject(scope, receive, send, "missing bearer token", "Bearer")
            return
        try:
            verified = self.tokens.verify(_bearer_token(raw))
        except TokenError as exc:
            log.info("%s %s: 401 %s", scope["method"], scope.get("path", ""), exc.description)
            challenge = f'Bearer error="{exc.error}", error_description="{exc.description}"'
            await self._reject(scope, receive, send, exc.description, challenge)
            return
        scope[AUTH_SCOPE_KEY] = Identity(
            sub=verified.sub, upload_id=verified.upload_id, max_size=verified.max_size, claims=verified.claims
        )
        started = False

        async def send_with_token(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await rotating_send(message)

        rotating_send = self._rotating_send(send, verified)
        try:
            await self.app(scope, receive, send_with_token)
        except Exception:
            # A bug's 500 is a response too, and the client's token was valid: it gets a fresh one.
            # Re-raised, so the server still logs it (the outer error middleware sees the response started).
            if not started:
                await error_response(TusError("internal server error"), scope["method"])(scope, receive, rotating_send)
            raise

    def _rotating_send(self, send: Send, verified: VerifiedToken) -> Send:
        async def send_with_token(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers[NEW_TOKEN_HEADER] = self.tokens.rotate(verified)
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        return send_with_token

    async def _reject(self, scope: Scope, receive: Receive, send: Send, reason: str, challenge: str) -> None:
        error = Unauthorized(reason, {"WWW-Authenticate": challenge})
        await error_response(error, scope["method"])(scope, receive, send)


def _authorization(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


def _bearer_token(raw: str) -> str:
    scheme, _, token = raw.strip().partition(" ")
    if not scheme:
        raise TokenError("empty Authorization header")
    if scheme.lower() != "bearer":
        raise TokenError("Authorization scheme must be Bearer")
    token = token.strip()
    if not token:
        raise TokenError("no token after Bearer")
    return token
