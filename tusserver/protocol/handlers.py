"""OPTIONS, HEAD, PATCH and DELETE on tus uploads: parse → check access → call the upload service → render.

Access is checked before the lock is taken: waiting for a lock asks the holder to let go, so a request
that is going to be refused (another owner, a token restricted to another upload) must never wait for
one, or anyone with a valid token could cut other people's PATCHes. The service checks it again under
the lock.

Handlers raise `TusError`s; `errors.render_error` turns them into responses.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..auth.access import check_upload_access, identity_of
from ..constants import TUS_VERSION
from ..errors import BadRequest, Forbidden
from ..models import UploadInfo
from ..storage.ids import check_upload_id
from .body import BodyReader
from .context import TusContext, check_tus_resumable
from .download import DownloadHandler
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

    async def _check_access(self, request: Request, upload_id: str) -> UploadInfo | None:
        """Refuse before locking (see the module docstring); the checks are repeated under the lock.

        Only with auth on: without it no one is refused for who they are, and a PATCH saves a read."""
        if identity_of(request.scope) is None:
            return None
        info = await self.uploads.get(upload_id)
        check_upload_access(request.scope, info.id, info.owner)
        return info

    async def _pre_access(self, request: Request, upload_id: str, known: UploadInfo | None) -> UploadInfo | None:
        """The pre-access hook (and pre-terminate's need of the record) before any lock is taken."""
        hooks = self.ctx.hooks
        if not (hooks.wants("pre-access") or hooks.wants("pre-terminate")):
            return known
        info = known or await self.uploads.get(upload_id)
        await hooks.pre_access(request, info)
        return info

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

        known = await self._pre_access(request, upload_id, await self._check_access(request, upload_id))
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
        upload_id = check_upload_id(request.path_params["upload_id"])
        if self.ctx.stores.terminater is None:
            raise BadRequest("this server does not support termination")
        known = await self._pre_access(request, upload_id, await self._check_access(request, upload_id))
        if known is not None and self.ctx.hooks.wants("pre-terminate"):
            await self.ctx.hooks.pre_terminate(request, known)
        await self.uploads.terminate(upload_id, self.ctx.caller(request))
        return tus_response(204)
