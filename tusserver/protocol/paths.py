"""Upload URLs must name the upload literally: `/files%2f<id>` is not `/files/<id>`.

Starlette routes on the percent-decoded path, so an encoded slash would reach an upload through a
URL that a proxy, a cache or an access rule in front of the server sees as a different resource.
The raw path's last segment must be the id itself (ids never need encoding), else 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from ..errors import UploadNotFound

Endpoint = Callable[[Request], Awaitable[Response]]


def check_literal(request: Request) -> None:
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes):
        upload_id = str(request.path_params.get("upload_id", ""))
        last = raw.split(b"?", 1)[0].rsplit(b"/", 1)[-1]
        if last != upload_id.encode("latin-1", "replace"):
            raise UploadNotFound()
