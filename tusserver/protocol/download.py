"""GET on a finished upload: the bytes, with single `Range` support and safe download headers.

It needs no `Tus-Resumable`, because browsers follow plain links. `Content-Type` comes from the
`filetype` metadata only when it looks like a media type, and `Content-Disposition` quotes the
`filename` metadata both as ASCII and RFC 5987 UTF-8, so no metadata can inject a header.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..auth.access import check_upload_access
from ..constants import TUS_RESUMABLE
from ..errors import Conflict, TusError
from ..storage.ids import check_upload_id
from .context import TusContext
from .headers import metadata_text

_MEDIA_TYPE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]{0,126}/[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]{0,126}")
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.IGNORECASE)  # [0-9]: \d takes other scripts' digits
_HUGE = 2**63 - 1
_INLINE_TYPES = ("image/", "video/", "audio/", "text/plain")


class RangeNotSatisfiable(TusError):
    status_code = 416
    code = "range_not_satisfiable"


def parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """A single `bytes=a-b` range as [start, end); None for no range or one we ignore.

    RFC 9110 14.2 lets a server ignore a Range it does not like: anything that is not one well-formed
    `bytes` range (junk, other units, several ranges) gets the whole file with 200. A well-formed
    range past the end is 416 with `Content-Range: bytes */N`. Positions are read with at most 19
    significant digits, so a position of thousands of digits is just "very large", never a 5xx.
    """
    if value is None or "," in value:
        return None
    match = _RANGE.fullmatch(value.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if size == 0:  # RFC 9110 14.1.2: no range of an empty representation is satisfiable
        raise RangeNotSatisfiable("the upload is empty", {"Content-Range": "bytes */0"})
    if not first:  # suffix: the last N bytes
        count = _position(last)
        if count == 0:
            raise RangeNotSatisfiable("range is empty", {"Content-Range": f"bytes */{size}"})
        return max(0, size - count), size
    start = _position(first)
    end_inclusive = _position(last) if last else None
    if end_inclusive is not None and end_inclusive < start:
        return None  # `bytes=5-2` is invalid syntax (RFC 9110 14.1.1): ignored
    if start >= size:
        raise RangeNotSatisfiable("range starts beyond the end of the upload", {"Content-Range": f"bytes */{size}"})
    end = size if end_inclusive is None else min(size, end_inclusive + 1)
    return start, end


def _position(digits: str) -> int:
    """A byte position; anything beyond 2**63 - 1 is as good as infinite."""
    digits = digits.lstrip("0") or "0"
    return _HUGE if len(digits) > 19 else min(int(digits), _HUGE)


def content_disposition(filename: str | None, inline: bool) -> str:
    kind = "inline" if inline else "attachment"
    if not filename:
        return kind
    ascii_name = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


class DownloadHandler:
    def __init__(self, ctx: TusContext) -> None:
        self.ctx = ctx

    async def get(self, request: Request) -> Response:
        upload_id = check_upload_id(request.path_params["upload_id"])
        info = await self.ctx.uploads.get(upload_id)
        check_upload_access(request.scope, info.id, info.owner)
        await self.ctx.hooks.pre_access(request, info)
        if not info.is_complete:
            if info.is_final:
                self.ctx.uploads.assembler.schedule(info.id)
                raise Conflict("upload is being assembled from its parts; retry shortly", {"Retry-After": "1"})
            raise Conflict("upload is not finished yet")
        size = info.offset
        filetype = metadata_text(info.metadata, "filetype") or metadata_text(info.metadata, "contentType")
        media_type = filetype if filetype and _MEDIA_TYPE.fullmatch(filetype) else "application/octet-stream"
        inline = media_type.startswith(_INLINE_TYPES)
        filename = metadata_text(info.metadata, "filename") or metadata_text(info.metadata, "name")
        headers = {
            "Tus-Resumable": TUS_RESUMABLE,  # the spec wants it on every response but OPTIONS
            "Accept-Ranges": "bytes",
            "Content-Disposition": content_disposition(filename, inline),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=0",
        }
        byte_range = parse_range(request.headers.get("range"), size)
        status = 200
        start, end = 0, size
        if byte_range is not None:
            start, end = byte_range
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        if request.method == "HEAD":
            return Response(b"", status_code=status, headers=headers, media_type=media_type)
        return StreamingResponse(
            self.ctx.stores.core.read(info, start, end), status_code=status, headers=headers, media_type=media_type
        )
