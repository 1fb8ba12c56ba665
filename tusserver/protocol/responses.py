"""Building tus responses: every one carries `Tus-Resumable`."""

from __future__ import annotations

from starlette.responses import Response

from ..constants import TUS_RESUMABLE


def tus_response(status_code: int, headers: dict[str, str] | None = None) -> Response:
    return Response(b"", status_code=status_code, headers={"Tus-Resumable": TUS_RESUMABLE, **(headers or {})})
