"""POST: creation, creation-with-upload, creation-defer-length, concatenation and instant upload."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..auth.access import check_part_access, check_size_allowed, owner_for_new_upload, size_limit
from ..constants import OFFSET_CONTENT_TYPE
from ..errors import BadRequest, TooLarge, TusError, UnsupportedMediaType, UploadGone, UploadNotFound
from ..models import UploadInfo
from ..storage.ids import new_upload_id
from .body import BodyReader
from .completion import finish_upload, schedule_assembly, wait_for_assembly
from .context import TusContext, check_tus_resumable
from .dedup import discard_body, find_and_link
from .digest import format_repr_digest
from .headers import (
    Concat,
    ReprDigest,
    parse_checksum,
    parse_concat,
    parse_int,
    parse_metadata,
    parse_repr_digest,
    upload_id_from_url,
)
from .responses import tus_response
from .writing import receive_body


class CreationHandler:
    def __init__(self, ctx: TusContext) -> None:
        self.ctx = ctx

    async def post(self, request: Request) -> Response:
        check_tus_resumable(request)
        owner = owner_for_new_upload(request.scope)  # first: a token restricted to one upload creates nothing
        ctx, settings, headers = self.ctx, self.ctx.settings, request.headers
        concat = parse_concat(headers.get("upload-concat"), settings.max_concat_parts)
        if concat is not None and not ctx.can_concatenate:
            raise BadRequest("this server does not support concatenation")
        length = parse_int("Upload-Length", headers.get("upload-length"))
        defer = headers.get("upload-defer-length")
        metadata = parse_metadata(headers.get("upload-metadata"), settings.max_metadata_bytes)
        declared = parse_repr_digest(headers.get("repr-digest"))

        if concat is not None and concat.kind == "final":
            if length is not None or defer is not None:
                raise BadRequest("a final concatenation must not carry Upload-Length or Upload-Defer-Length")
            return await self._create_final(request, concat, metadata, owner, declared)

        if defer is not None and defer != "1":
            raise BadRequest("Upload-Defer-Length must be 1")
        if length is None and defer is None:
            raise BadRequest("Upload-Length or Upload-Defer-Length: 1 is required")
        if length is not None and defer is not None:
            raise BadRequest("send either Upload-Length or Upload-Defer-Length, not both")
        check_size_allowed(request.scope, length, settings.max_size_bytes)

        has_body = _has_body(request)
        if has_body:
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != OFFSET_CONTENT_TYPE:
                raise UnsupportedMediaType(f"a creation request with a body needs Content-Type: {OFFSET_CONTENT_TYPE}")
        checksum = parse_checksum(headers.get("upload-checksum"), ctx.checksum_algorithms) if has_body else None

        info = UploadInfo(
            id=new_upload_id(),
            length=length,
            metadata=metadata,
            concat="partial" if concat is not None else None,
            owner=owner,
            # With a deferred length the digest is still verified at the last byte, and indexed then.
            repr_digest=format_repr_digest(declared) if declared else None,
        )
        if info.repr_digest and concat is None:
            duplicate = await self._instant_upload(request, info)
            if duplicate is not None:
                return duplicate

        await ctx.store.create(info)
        location = ctx.upload_url(request, info.id)
        await ctx.hooks.emit("post-create", info)
        if has_body:
            content_length = parse_int("Content-Length", headers.get("content-length"))
            cap = size_limit(request.scope, settings.max_size_bytes)
            limit = info.length if info.length is not None else cap if cap is not None else 2**63 - 1
            reader = BodyReader(request, limit=limit)
            async with ctx.lock(info.id, on_release_request=reader.interrupt):
                if content_length is not None and content_length > limit:
                    raise TooLarge(f"body of {content_length} bytes exceeds Upload-Length", {"Location": location})
                try:
                    await receive_body(ctx, request, info, checksum, reader)
                except TusError as exc:
                    # The upload exists; the client must learn where, to resume or to see it was discarded.
                    exc.headers.setdefault("Location", location)
                    raise
        response_headers = {"Location": location, **ctx.expires_header(info)}
        if has_body or info.length == 0:
            response_headers["Upload-Offset"] = str(info.offset)
        if info.length == 0 and not has_body:
            await finish_upload(ctx, info)
        return tus_response(201, response_headers)

    async def _instant_upload(self, request: Request, info: UploadInfo) -> Response | None:
        """A finished upload of the same owner, digest and length exists: share its bytes, send none."""
        ctx = self.ctx
        if not await find_and_link(ctx, info):
            return None
        await ctx.hooks.emit("post-create", info)
        await ctx.hooks.emit("post-finish", info)
        headers = {"Location": ctx.upload_url(request, info.id), "Upload-Offset": str(info.offset)}
        if _has_body(request) and not await discard_body(request, limit=info.offset):
            headers["Connection"] = "close"
        return tus_response(201, headers)

    async def _create_final(
        self,
        request: Request,
        concat: Concat,
        metadata: dict[str, str | None],
        owner: str | None,
        declared: ReprDigest | None,
    ) -> Response:
        ctx = self.ctx
        part_ids: list[str] = []
        for url in concat.parts:
            part_id = upload_id_from_url(url, ctx.base_path(request))
            if part_id is None:
                raise BadRequest(f"{url[:100]!r} is not an upload URL of this server")
            part_ids.append(part_id)
        parts = []
        for part_id in part_ids:
            try:
                part = await ctx.store.get_info(part_id)
                # The final reads every part: the token must reach each one (before saying more about it).
                check_part_access(request.scope, part.id, part.owner)
                ctx.check_not_expired(part)  # expired but not yet swept: it can never finish
            except UploadGone:
                raise BadRequest(f"partial upload {part_id} was terminated or has expired") from None
            except UploadNotFound:
                raise BadRequest(f"partial upload {part_id} does not exist") from None
            if not part.is_partial:
                raise BadRequest(f"upload {part_id} was not created with Upload-Concat: partial")
            parts.append(part)
        lengths = [p.length for p in parts]
        length = sum(x for x in lengths if x is not None) if None not in lengths else None
        check_size_allowed(request.scope, length, ctx.settings.max_size_bytes)
        info = UploadInfo(
            id=new_upload_id(),
            length=length,
            metadata=metadata,
            concat="final",
            parts=part_ids,
            owner=owner,
            repr_digest=format_repr_digest(declared) if declared else None,
        )
        await ctx.store.create(info)
        await ctx.hooks.emit("post-create", info)
        headers = {"Location": ctx.upload_url(request, info.id)}
        assembled = await wait_for_assembly(ctx, info.id, schedule_assembly(ctx, info.id))
        if assembled is not None:
            headers["Upload-Offset"] = str(assembled.offset)
        return tus_response(201, headers)


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("0", "")
    return "chunked" in request.headers.get("transfer-encoding", "").lower()
