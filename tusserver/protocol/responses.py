"""Building tus responses: every one carries `Tus-Resumable`."""

from __future__ import annotations

import functools
from email.utils import formatdate

from starlette.responses import Response

from ..constants import TUS_RESUMABLE
from ..models import UploadInfo
from ..uploads.expiration import ExpiryPolicy


def tus_response(status_code: int, headers: dict[str, str] | None = None) -> Response:
    return Response(b"", status_code=status_code, headers={"Tus-Resumable": TUS_RESUMABLE, **(headers or {})})


def expires_header(policy: ExpiryPolicy, info: UploadInfo) -> dict[str, str]:
    expires = policy.expires_at(info)
    return {} if expires is None else {"Upload-Expires": http_date(int(expires))}


@functools.lru_cache(maxsize=256)
def http_date(seconds: int) -> str:
    """RFC 9110 date; cached because `email.utils.formatdate` showed up in small-upload profiles and
    uploads created in the same second share their expiry second."""
    return formatdate(seconds, usegmt=True)
