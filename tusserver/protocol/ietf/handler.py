"""The draft's requests on the tus endpoint: creation (POST), offset retrieval (HEAD), append (PATCH),
cancellation (DELETE) and discovery (OPTIONS), on the same upload service, stores, locks and hooks.

Each method parses the draft's fields, calls the service the tus handlers call, and renders the
draft's answer; what differs between interop versions comes from the `Draft` it is given.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from ...auth.access import owner_for_new_upload
from ...constants import MAX_INT
from ...errors import BadRequest, Forbidden, LengthMismatch, TooLarge, TusError, UnsupportedMediaType, UploadCompleted
from ...hashing.algorithms import Checksum
from ...hashing.repr_digest import format_repr_digest, parse_repr_digest
from ...models import UploadInfo
from ...storage.ids import check_upload_id, new_upload_id
from ..body import BodyReader
from ..context import TusContext
from ..creation import has_body
from ..discard import discard_body
from ..gate import admit, terminate
from ..headers import parse_int, parse_metadata
from ..paths import Endpoint
from .fields import content_digest, parse_boolean, parse_integer, representation_metadata, upload_limit
from .interim import send_interim
from .versions import Draft


class IetfHandler:
    def __init__(self, ctx: TusContext, download: Endpoint) -> None:
        self.ctx = ctx
        self.uploads = ctx.uploads
        self.download = download

    async def options(self, request: Request, draft: Draft) -> Response:
        return _response(draft, 204, self._limits(draft, request))

    async def post(self, request: Request, draft: Draft) -> Response:
        owner = owner_for_new_upload(request.scope)  # first: a token restricted to one upload creates nothing
        ctx, headers = self.ctx, request.headers
        complete = parse_boolean("Upload-Complete", headers.get("upload-complete"))
        if complete is None:
            raise BadRequest("Upload-Complete is required to create an upload")
        if "upload-offset" in headers:
            raise BadRequest("a creation request must not carry Upload-Offset")
        length = parse_integer("Upload-Length", headers.get("upload-length"))
        content_length = parse_int("Content-Length", headers.get("content-length"))
        if complete and content_length is not None:
            if length is not None and length != content_length:
                raise LengthMismatch(f"Upload-Length {length} does not match the {content_length} bytes of content")
            length = content_length
        caller = ctx.caller(request)
        caller.check_size(length)
        metadata = {
            **representation_metadata(headers.get("content-type"), headers.get("content-disposition")),
            **parse_metadata(headers.get("upload-metadata"), ctx.settings.max_metadata_bytes),
        }
        declared = parse_repr_digest(headers.get("repr-digest"))
        with_body = has_body(request)
        checksum = content_digest(headers.get("content-digest"), ctx.checksum_algorithms) if with_body else None
        info = UploadInfo(
            id=new_upload_id(),
            length=length,
            metadata=metadata,
            owner=owner,
            repr_digest=format_repr_digest(declared) if declared else None,
        )
        if await self.uploads.create(info, caller):  # instant upload: the bytes are already here
            answer = {"Location": ctx.urls.upload_url(request, info.id), **self._state(draft, request, info)}
            if with_body and not await discard_body(request, limit=info.offset):
                answer["Connection"] = "close"
            return _response(draft, 201, answer)
        location = ctx.urls.upload_url(request, info.id)  # after `create`: a missed instant upload changes the id
        limits = self._limits(draft, request, info)
        interim = {"Location": location, "Upload-Draft-Interop-Version": str(draft.interop)}
        await send_interim(request, {**interim, **limits} if draft.limit_on_interim else interim)
        try:
            await self._receive(request, info, with_body, content_length, complete, checksum)
        except TusError as exc:
            # The upload exists; the client must learn where, to resume or to see it was discarded.
            exc.headers.setdefault("Location", location)
            if isinstance(exc, TooLarge):
                exc.headers.update(limits)
            raise
        return _response(draft, 201, {"Location": location, **self._state(draft, request, info)})

    async def _receive(
        self,
        request: Request,
        info: UploadInfo,
        with_body: bool,
        content_length: int | None,
        complete: bool,
        checksum: Checksum | None,
    ) -> None:
        """Store a creation's content (if any); end the upload there when the client said it is complete."""
        uploads, caller = self.uploads, self.ctx.caller(request)
        if not with_body:
            if info.length == 0:
                await uploads.finish(info, caller)
            elif complete:
                async with uploads.lock(info.id):
                    await uploads.declare_end(info, caller)
            return
        cap = caller.size_cap
        limit = info.length if info.length is not None else cap if cap is not None else MAX_INT
        reader = BodyReader(request, limit=limit)
        async with uploads.lock(info.id, on_release_request=reader.interrupt):
            if content_length is not None and content_length > limit:
                raise TooLarge(f"content of {content_length} bytes exceeds the upload's {limit} bytes")
            await uploads.write(info, reader, checksum, caller)
            if complete and reader.complete:
                await uploads.declare_end(info, caller)

    async def head(self, request: Request, draft: Draft) -> Response:
        _refuse_fields(request, draft, "HEAD")
        upload_id = check_upload_id(request.path_params["upload_id"])
        caller = self.ctx.caller(request)
        info = await self.uploads.load(upload_id, caller)
        await self.ctx.hooks.pre_access(request, info)
        if not info.is_final:
            info = await self.uploads.settled(upload_id, caller)  # a stale append is cut and counted first
        elif not info.is_complete:
            self.uploads.assembler.schedule(upload_id)
        headers = {"Cache-Control": "no-store", **self._state(draft, request, info)}
        if info.length is not None:
            headers["Upload-Length"] = str(info.length)
        return _response(draft, 204, headers)

    async def get(self, request: Request, draft: Draft) -> Response:
        """The editor's draft: a GET on the upload resource retrieves the offset as HEAD does (it defines
        no content for it). Earlier drafts do not say; there, and without the interop header, GET is the
        download."""
        if not draft.get_retrieves_offset:
            return await self.download(request)
        return await self.head(request, draft)

    async def patch(self, request: Request, draft: Draft) -> Response:
        upload_id = check_upload_id(request.path_params["upload_id"])
        headers = request.headers
        if draft.patch_media_type is not None:
            media_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != draft.patch_media_type:
                raise UnsupportedMediaType(f"an append needs Content-Type: {draft.patch_media_type}")
        offset = parse_integer("Upload-Offset", headers.get("upload-offset"))
        if offset is None:
            raise BadRequest("Upload-Offset is required to append")
        complete = parse_boolean("Upload-Complete", headers.get("upload-complete"))
        if complete is None:
            raise BadRequest("Upload-Complete is required to append")
        length = parse_integer("Upload-Length", headers.get("upload-length"))
        content_length = parse_int("Content-Length", headers.get("content-length"))
        if complete and content_length is not None:
            end = offset + content_length
            if length is not None and length != end:
                raise LengthMismatch(f"Upload-Length {length} does not match the content's end at {end}")
            length = end
        checksum = content_digest(headers.get("content-digest"), self.ctx.checksum_algorithms)

        known = await admit(self.ctx, request, upload_id)
        if known is not None and known.is_final:  # its lock is the assembler's: do not even wait for it
            raise Forbidden("a concatenated upload cannot be appended to")
        reader = BodyReader(request, limit=0)
        caller = self.ctx.caller(request)
        try:
            info = await self.uploads.append(
                upload_id,
                offset,
                length,
                content_length,
                checksum,
                reader,
                caller,
                on_release_request=reader.interrupt,
                complete=complete,
            )
        except UploadCompleted:
            if not (draft.replays_completion and complete and not has_body(request)):
                raise
            # The client lost the answer to its last append and asks again: tell it the upload is complete.
            info = await self.uploads.load(upload_id, caller)
        return _response(draft, 204, self._state(draft, request, info))

    async def delete(self, request: Request, draft: Draft) -> Response:
        _refuse_fields(request, draft, "DELETE")
        await terminate(self.ctx, request, check_upload_id(request.path_params["upload_id"]))
        return _response(draft, 204, {})

    def _state(self, draft: Draft, request: Request, info: UploadInfo) -> dict[str, str]:
        return {
            "Upload-Offset": str(info.offset),
            "Upload-Complete": "?1" if info.is_complete else "?0",
            **self._limits(draft, request, info),
        }

    def _limits(self, draft: Draft, request: Request, info: UploadInfo | None = None) -> dict[str, str]:
        """`Upload-Limit`: the size cap of this caller, and the upload's remaining lifetime (the server's
        lifetime for a new one) where expiration is on."""
        if not draft.upload_limit:
            return {}
        members: dict[str, int] = {}
        cap = self.ctx.caller(request).size_cap
        if cap:
            members["max-size"] = cap
        expiry = self.uploads.expiry
        if draft.lifetime_key is not None and expiry.enabled:
            expires = None if info is None else expiry.expires_at(info)
            if info is None:
                members[draft.lifetime_key] = int(expiry.expire_after_s)
            elif expires is not None:
                members[draft.lifetime_key] = max(0, int(expires - time.time()))
        return {"Upload-Limit": upload_limit(members)}


def _response(draft: Draft, status: int, headers: dict[str, str]) -> Response:
    return Response(b"", status_code=status, headers={"Upload-Draft-Interop-Version": str(draft.interop), **headers})


def _refuse_fields(request: Request, draft: Draft, method: str) -> None:
    for name in draft.forbidden_on_head:
        if name in request.headers:
            raise BadRequest(f"{method} must not carry {name.title()} (draft interop version {draft.interop})")
