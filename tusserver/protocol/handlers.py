"""OPTIONS, HEAD, PATCH and DELETE on tus uploads: check access → lock → load → check → act → respond.

Access is checked before the lock is taken: waiting for a lock asks the holder to let go, so a request
that is going to be refused (another owner, a token restricted to another upload) must never wait for
one, or anyone with a valid token could cut other people's PATCHes.

Handlers raise `TusError`s; `errors.render_error` turns them into responses.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..auth.access import check_size_allowed, check_upload_access, identity_of, size_limit
from ..constants import OFFSET_CONTENT_TYPE, TUS_VERSION
from ..errors import BadRequest, Forbidden, OffsetMismatch, TooLarge, UnsupportedMediaType
from ..models import UploadInfo
from ..storage.base import Terminatable
from ..storage.ids import check_upload_id
from .body import BodyReader
from .completion import schedule_assembly
from .context import TusContext, check_tus_resumable
from .download import DownloadHandler
from .headers import parse_checksum, parse_int, serialise_metadata
from .limits import check_declared_length, release_unfinished
from .responses import tus_response
from .writing import receive_body


class TusHandler:
    def __init__(self, ctx: TusContext) -> None:
        self.ctx = ctx
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

    async def _load(self, request: Request, upload_id: str) -> UploadInfo:
        info = await self.ctx.store.get_info(check_upload_id(upload_id))
        check_upload_access(request.scope, info.id, info.owner)
        self.ctx.check_not_expired(info)
        return info

    async def _check_access(self, request: Request, upload_id: str) -> UploadInfo | None:
        """Refuse before locking (see the module docstring); the checks are repeated under the lock.

        Only with auth on: without it no one is refused for who they are, and a PATCH saves a read."""
        if identity_of(request.scope) is None:
            return None
        info = await self.ctx.store.get_info(upload_id)
        check_upload_access(request.scope, info.id, info.owner)
        return info

    async def _pre_access(self, request: Request, upload_id: str, known: UploadInfo | None) -> UploadInfo | None:
        """The pre-access hook (and pre-terminate's need of the record) before any lock is taken."""
        hooks = self.ctx.hooks
        if not (hooks.wants("pre-access") or hooks.wants("pre-terminate")):
            return known
        info = known or await self.ctx.store.get_info(upload_id)
        await hooks.pre_access(request, info)
        return info

    async def head(self, request: Request) -> Response:
        if "tus-resumable" not in request.headers and not self.ctx.settings.disable_download:
            # Not a tus request: `curl -I` or a browser checking a download link.
            return await self.download.get(request)
        check_tus_resumable(request)
        upload_id = check_upload_id(request.path_params["upload_id"])
        ctx = self.ctx
        info = await self._load(request, upload_id)
        await ctx.hooks.pre_access(request, info)
        if info.is_final:
            # Final uploads are never PATCHed; their lock belongs to the assembler, so read without it.
            if not info.is_complete:
                schedule_assembly(ctx, upload_id)
            return tus_response(200, self._upload_headers(request, info))
        async with ctx.lock(upload_id):  # under the lock: a stale PATCH is cut and its bytes counted
            info = await self._load(request, upload_id)
        return tus_response(200, self._upload_headers(request, info))

    def _upload_headers(self, request: Request, info: UploadInfo) -> dict[str, str]:
        headers = {"Cache-Control": "no-store", **self.ctx.expires_header(info)}
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
            urls = " ".join(f"{self.ctx.base_path(request)}{part}" for part in info.parts)
            headers["Upload-Concat"] = f"final;{urls}"
        return headers

    async def patch(self, request: Request) -> Response:
        check_tus_resumable(request)
        upload_id = check_upload_id(request.path_params["upload_id"])
        ctx, settings, headers = self.ctx, self.ctx.settings, request.headers
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != OFFSET_CONTENT_TYPE:
            raise UnsupportedMediaType(f"PATCH needs Content-Type: {OFFSET_CONTENT_TYPE}")
        offset = parse_int("Upload-Offset", headers.get("upload-offset"))
        if offset is None:
            raise BadRequest("Upload-Offset header is required")
        new_length = parse_int("Upload-Length", headers.get("upload-length"))
        content_length = parse_int("Content-Length", headers.get("content-length"))
        checksum = parse_checksum(headers.get("upload-checksum"), ctx.checksum_algorithms)

        known = await self._pre_access(request, upload_id, await self._check_access(request, upload_id))
        if known is not None and known.is_final:  # its lock is the assembler's: do not even wait for it
            raise Forbidden("final uploads cannot be PATCHed")
        reader = BodyReader(request, limit=0)
        async with ctx.lock(upload_id, on_release_request=reader.interrupt):
            info = await self._load(request, upload_id)
            if info.is_final:
                raise Forbidden("final uploads cannot be PATCHed")
            if offset != info.offset:
                raise OffsetMismatch(f"Upload-Offset {offset} does not match the upload's offset {info.offset}")
            declares_length = new_length is not None and self._check_deferred_length(request, info, new_length)
            length = new_length if declares_length else info.length
            if length is None:
                cap = size_limit(request.scope, settings.max_size_bytes)
                limit = max(0, cap - info.offset) if cap is not None else 2**63 - 1
            else:
                limit = length - info.offset
            if content_length is not None and content_length > limit:
                raise TooLarge(f"body of {content_length} bytes exceeds the {limit} bytes left in the upload")
            if declares_length and length is not None:  # saved only once the request is known to be acceptable
                await check_declared_length(ctx, info, length)
                info.length = length
                await ctx.store.save_info(info)
            reader.limit = limit
            await receive_body(ctx, request, info, checksum, reader)
            await ctx.hooks.emit("post-receive", info, request)
        response_headers = {"Upload-Offset": str(info.offset), **ctx.expires_header(info)}
        return tus_response(204, response_headers)

    def _check_deferred_length(self, request: Request, info: UploadInfo, length: int) -> bool:
        """Validate an `Upload-Length` sent on PATCH; True when it sets a deferred length (to be saved)."""
        if info.length is not None:
            if length != info.length:
                raise BadRequest("Upload-Length cannot change once set")
            return False
        if length < info.offset:
            raise BadRequest(f"Upload-Length {length} is less than the bytes already stored ({info.offset})")
        check_size_allowed(request.scope, length, self.ctx.settings.max_size_bytes)
        return True

    async def delete(self, request: Request) -> Response:
        check_tus_resumable(request)
        upload_id = check_upload_id(request.path_params["upload_id"])
        store = self.ctx.store
        if not isinstance(store, Terminatable):
            raise BadRequest("this server does not support termination")
        known = await self._pre_access(request, upload_id, await self._check_access(request, upload_id))
        if known is not None and self.ctx.hooks.wants("pre-terminate"):
            await self.ctx.hooks.pre_terminate(request, known)
        async with self.ctx.lock(upload_id):
            info = await store.get_info(upload_id)
            check_upload_access(request.scope, info.id, info.owner)
            await store.terminate(upload_id)
            self.ctx.digests.forget(upload_id)
            await release_unfinished(self.ctx, info)
        await self.ctx.hooks.emit("post-terminate", info, request)
        return tus_response(204)
