"""Building tus responses: every one carries `Tus-Resumable`."""

from __future__ import annotations

import functools
from email.utils import formatdate

from starlette.requests import Request
from starlette.responses import Response

from ..constants import TUS_RESUMABLE
from ..hooks import hook_reply
from ..models import UploadInfo
from ..uploads.expiration import ExpiryPolicy


def tus_response(status_code: int, headers: dict[str, str] | None = None, request: Request | None = None) -> Response:
    """A tus answer; with `request`, merged with what an accepting pre-create or pre-finish hook asked for
    (its status, body and headers; the protocol's own headers always win)."""
    reply = hook_reply(request.scope) if request is not None else None
    if reply is None:
        return Response(b"", status_code=status_code, headers={"Tus-Resumable": TUS_RESUMABLE, **(headers or {})})
    body = (reply.body or "").encode()
    status = reply.status or status_code
    if body and status in (204, 205):
        status = 200  # a 204 cannot carry the body the hook asked for (tus clients take any 2xx)
    return Response(
        body, status_code=status, headers={**reply.headers, "Tus-Resumable": TUS_RESUMABLE, **(headers or {})}
    )


def expires_header(policy: ExpiryPolicy, info: UploadInfo) -> dict[str, str]:
    expires = policy.expires_at(info)
    return {} if expires is None else {"Upload-Expires": http_date(int(expires))}


@functools.lru_cache(maxsize=256)
def http_date(seconds: int) -> str:
    """RFC 9110 date; cached because `email.utils.formatdate` showed up in small-upload profiles and
    uploads created in the same second share their expiry second."""
    return formatdate(seconds, usegmt=True)
