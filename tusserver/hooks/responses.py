"""What a hook's answer may do to the client's response: refuse it, or add its status, headers and body.

A refusal becomes a `HookRejected` (errors.py renders it). An accepting pre-create or pre-finish answer's
`HTTPResponse` waits in the request's scope state (`remember_reply`) until the handler builds its
answer (`protocol.responses.tus_response` merges `hook_reply`).

A hook's headers go out to a client on our connection, so they are checked here, once: nothing that
would change the framing (`Content-Length`, `Transfer-Encoding`, hop-by-hop headers), nothing the
protocol owns (`Tus-*`, `Upload-*`, `Location`, `X-New-Token`), and only valid names and values; each
header dropped is logged (issue #22).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import HookRejected

if TYPE_CHECKING:
    from starlette.requests import Request

log = logging.getLogger("tusserver.hooks")

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 field name
_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")  # visible latin-1, spaces and tabs: nothing that splits a line
_PROTECTED = frozenset(
    {
        "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te",
        "trailer", "upgrade", "proxy-authenticate", "proxy-authorization", "location", "x-new-token",
    }
)  # fmt: skip
_PROTECTED_PREFIXES = ("tus-", "upload-")


def clean_headers(raw: object) -> dict[str, str]:
    """A hook's `HTTPResponse.Header`, minus what would break the response: each header dropped is logged."""
    if not isinstance(raw, Mapping):
        return {}
    clean: dict[str, str] = {}
    for name, value in raw.items():
        text = value[0] if isinstance(value, list) and value else value
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            log.warning("hook header %r dropped: not a valid header name", str(name)[:80])
        elif not isinstance(text, str) or not _VALUE.fullmatch(text):
            log.warning("hook header %s dropped: its value is not a valid header value", name)
        elif name.lower() in _PROTECTED or name.lower().startswith(_PROTECTED_PREFIXES):
            log.warning("hook header %s dropped: the server sets it", name)
        else:
            clean[name] = text.strip()
    return clean


def http_response(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    http = answer.get("HTTPResponse") or {}
    return http if isinstance(http, Mapping) else {}


def rejection(response: Mapping[str, Any], default_status: int, default_message: str) -> HookRejected:
    http = http_response(response)
    status = http.get("StatusCode")
    if not isinstance(status, int) or not 400 <= status <= 599:
        status = default_status
    body = http.get("Body")
    message = body if isinstance(body, str) and body else default_message
    return HookRejected(status, message, clean_headers(http.get("Header")))


_REPLY = "tusserver.hook_reply"  # where an accepting hook's HTTPResponse waits for the handler, in scope["state"]


@dataclass
class HookReply:
    """An accepting pre-create or pre-finish hook's `HTTPResponse`: merged into the request's answer."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


def remember_reply(request: Request | None, answer: Mapping[str, Any]) -> None:
    """Keep an accepting answer's `HTTPResponse` for the handler's response (several hooks: the later wins)."""
    http = http_response(answer)
    if request is None or not http:
        return
    state = request.scope.setdefault("state", {})
    reply: HookReply = state.setdefault(_REPLY, HookReply())
    status = http.get("StatusCode")
    if isinstance(status, int) and status:
        if 200 <= status <= 299:
            reply.status = status
        else:
            log.warning("hook answer status %s ignored: an accepting hook may only set a 2xx status", status)
    reply.headers.update(clean_headers(http.get("Header")))
    body = http.get("Body")
    if isinstance(body, str) and body:
        reply.body = body


def hook_reply(scope: Mapping[str, Any]) -> HookReply | None:
    """The `HTTPResponse` accepting hooks gave for this request, if any."""
    state = scope.get("state")
    reply = state.get(_REPLY) if isinstance(state, Mapping) else None
    return reply if isinstance(reply, HookReply) else None
