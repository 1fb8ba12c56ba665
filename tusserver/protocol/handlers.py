"""OPTIONS, HEAD, PATCH and DELETE on tus uploads: parse → check access (gate.py) → call the upload
service → render.

Handlers raise `TusError`s; `errors.render_error` turns them into responses.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..constants import TUS_VERSION
from ..errors import BadRequest, Forbidden
from ..models import UploadInfo
from ..storage.ids import check_upload_id
from .body import BodyReader
from .context import TusContext, check_tus_resumable
from .download import DownloadHandler
from .gate import admit, terminate
from .headers import check_content_type, parse_checksum, parse_int, serialise_metadata
from .responses import expires_header, tus_response


class TusHandler:
    def __init__(self, ctx: TusContext) -> None:
        self.ctx = ctx
        self.uploads = ctx.uploads
        self.download = DownloadHandler(ctx)
        settings = ctx.settings
        self._options_headers = {
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": ",".join(ctx.extensions),
            "Tus-Checksum-Algorithm": ",".join(sorted(ctx.checksum_algorithms)),
        }
        if settings.max_size_bytes:
            self._options_headers["Tus-Max-Size"] = str(settings.max_size_bytes)

    async def options(self, request: Request) -> Response:
        return tus_response(204, self._options_headers)

    async def head(self, request: Request) -> Response:
        if "tus-resumable" not in request.headers and not self.ctx.settings.disable_download:
            # Not a tus request: `curl -I` or a browser checking a download link.
            return await self.download.get(request)
        check_tus_resumable(request)
        upload_id = check_upload_id(request.path_params["upload_id"])
        caller = self.ctx.caller(request)
        info = await self.uploads.load(upload_id, caller)
        await self.ctx.hooks.pre_access(request, info)
        if info.is_final:
            # Final uploads are never PATCHed; their lock belongs to the assembler, so read without it.
            if not info.is_complete:
                self.uploads.assembler.schedule(upload_id)
            return tus_response(200, self._upload_headers(request, info))
        info = await self.uploads.settled(upload_id, caller)
        return tus_response(200, self._upload_headers(request, info))

    def _upload_headers(self, request: Request, info: UploadInfo) -> dict[str, str]:
        headers = {"Cache-Control": "no-store", **expires_header(self.uploads.expiry, info)}
        if not info.is_final or info.is_complete:
            headers["Upload-Offset"] = str(info.offset)
        else:
            headers["Retry-After"] = "1"  # a final upload still being assembled
        if info.length is not None:
            headers["Upload-Length"] = str(info.length)
        elif not info.is_final:
            headers["Upload-Defer-Length"] = "1"
        if info.metadata:
            headers["Upload-Metadata"] = serialise_metadata(info.metadata)
        if info.is_partial:
            headers["Upload-Concat"] = "partial"
        elif info.is_final:
            base = self.ctx.urls.base_path(request)
            headers["Upload-Concat"] = "final;" + " ".join(f"{base}{part}" for part in info.parts)
        return headers

    async def patch(self, request: Request) -> Response:
        check_tus_resumable(request)
        upload_id = check_upload_id(request.path_params["upload_id"])
        headers = request.headers
        check_content_type(headers, "PATCH needs")
        offset = parse_int("Upload-Offset", headers.get("upload-offset"))
        if offset is None:
            raise BadRequest("Upload-Offset header is required")
        new_length = parse_int("Upload-Length", headers.get("upload-length"))
        content_length = parse_int("Content-Length", headers.get("content-length"))
        checksum = parse_checksum(headers.get("upload-checksum"), self.ctx.checksum_algorithms)

        known = await admit(self.ctx, request, upload_id)
        if known is not None and known.is_final:  # its lock is the assembler's: do not even wait for it
            raise Forbidden("final uploads cannot be PATCHed")
        reader = BodyReader(request, limit=0)
        info = await self.uploads.append(
            upload_id,
            offset,
            new_length,
            content_length,
            checksum,
            reader,
            self.ctx.caller(request),
            on_release_request=reader.interrupt,
        )
        return tus_response(
            204, {"Upload-Offset": str(info.offset), **expires_header(self.uploads.expiry, info)}, request
        )

    async def delete(self, request: Request) -> Response:
        check_tus_resumable(request)
        await terminate(self.ctx, request, check_upload_id(request.path_params["upload_id"]))
        return tus_response(204)
