"""POST: creation, creation-with-upload, creation-defer-length, concatenation and instant upload."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from ..auth.access import check_part_access, check_size_allowed, identity_of, owner_for_new_upload, size_limit
from ..constants import OFFSET_CONTENT_TYPE
from ..errors import BadRequest, Forbidden, TooLarge, TusError, UnsupportedMediaType, UploadGone, UploadNotFound
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
from .limits import check_final_total, note_waiting_parts, release_unfinished, reserve_unfinished
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
        await ctx.hooks.pre_create(request, info)
        if info.repr_digest and concat is None and settings.instant_upload_enabled:
            duplicate = await self._instant_upload(request, info)
            if duplicate is not None:
                return duplicate

        await self._create(info)
        location = ctx.upload_url(request, info.id)
        await ctx.hooks.emit("post-create", info, request)
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
            await finish_upload(ctx, info, request)
        return tus_response(201, response_headers)

    async def _create(self, info: UploadInfo) -> None:
        """Store a new upload that counts against its owner's `--max-unfinished` (429 past it)."""
        if info.is_complete:  # empty: finished at birth
            await self.ctx.store.create(info)
            return
        await reserve_unfinished(self.ctx, info)
        try:
            await self.ctx.store.create(info)
        except BaseException:
            await release_unfinished(self.ctx, info)
            raise

    async def _instant_upload(self, request: Request, info: UploadInfo) -> Response | None:
        """A finished upload of the same owner, digest and length exists: share its bytes, send none."""
        ctx = self.ctx
        if not await find_and_link(ctx, info):
            return None
        await ctx.hooks.emit("post-create", info, request)
        await ctx.hooks.emit("post-finish", info, request)
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
        own_hosts = [request.headers.get("host", ""), urlsplit(ctx.external_origin(request)).netloc]
        part_ids: list[str] = []
        for url in concat.parts:
            part_id = upload_id_from_url(url, ctx.base_path(request), own_hosts)
            if part_id is None:
                raise BadRequest(f"{url[:100]!r} is not an upload URL of this server")
            part_ids.append(part_id)
        loaded: dict[str, UploadInfo] = {}
        for position, part_id in enumerate(part_ids, 1):  # a part named many times is read once
            if part_id not in loaded:
                loaded[part_id] = await self._load_part(request, part_id, position)
        parts = [loaded[part_id] for part_id in part_ids]
        lengths = [p.length for p in parts]
        length = sum(x for x in lengths if x is not None) if None not in lengths else None
        check_size_allowed(request.scope, length, ctx.settings.max_size_bytes)
        limit = size_limit(request.scope, ctx.settings.max_size_bytes)
        # Repeated parts count each time; a deferred part's length is checked when it is declared.
        check_final_total(sum(x for x in lengths if x is not None), limit, "the parts' lengths")
        info = UploadInfo(
            id=new_upload_id(),
            length=length,
            metadata=metadata,
            concat="final",
            parts=part_ids,
            owner=owner,
            repr_digest=format_repr_digest(declared) if declared else None,
            max_length=limit,
        )
        await ctx.hooks.pre_create(request, info)
        await self._create(info)
        await note_waiting_parts(ctx, info, parts)
        await ctx.hooks.emit("post-create", info, request)
        headers = {"Location": ctx.upload_url(request, info.id)}
        assembled = await wait_for_assembly(ctx, info.id, schedule_assembly(ctx, info.id))
        if assembled is not None:
            headers["Upload-Offset"] = str(assembled.offset)
        return tus_response(201, headers)

    async def _load_part(self, request: Request, part_id: str, position: int) -> UploadInfo:
        """A part the requester may name. Missing, terminated and another owner's parts get one answer,
        naming the part by its position, not its id, so a final POST cannot tell which ids exist."""
        identity = identity_of(request.scope)
        unknown: TusError = (
            BadRequest(f"partial upload {part_id} does not exist")
            if identity is None
            else Forbidden(f"partial upload number {position} does not exist or belongs to another user")
        )
        try:
            part = await self.ctx.store.get_info(part_id)
        except (UploadGone, UploadNotFound):
            raise unknown from None
        if identity is not None and part.owner != identity.sub:
            raise unknown
        check_part_access(request.scope, part.id, part.owner)  # whatever else a token must allow
        try:
            self.ctx.check_not_expired(part)  # expired but not yet swept: it can never finish
        except UploadGone:
            raise BadRequest(f"partial upload {part_id} has expired") from None
        if not part.is_partial:
            raise BadRequest(f"upload {part_id} was not created with Upload-Concat: partial")
        return part


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("0", "")
    return "chunked" in request.headers.get("transfer-encoding", "").lower()
