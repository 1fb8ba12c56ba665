"""POST: creation, creation-with-upload, creation-defer-length, concatenation and instant upload.

Parse the headers into an `UploadInfo`, hand it to the upload service, render the answer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from ..auth.access import check_part_access, identity_of, owner_for_new_upload
from ..errors import BadRequest, TooLarge, TusError, UploadGone, UploadNotFound
from ..hashing.repr_digest import format_repr_digest
from ..models import UploadInfo
from ..storage.ids import new_upload_id
from ..storage.upload_sets import CLIENT
from ..uploads.limits import check_final_total
from ..uploads.service import Caller
from .body import BodyReader
from .context import TusContext, check_tus_resumable
from .discard import discard_body
from .headers import (
    MAX_INT,
    Concat,
    ReprDigest,
    check_content_type,
    parse_checksum,
    parse_concat,
    parse_int,
    parse_metadata,
    parse_repr_digest,
    upload_id_from_url,
)
from .responses import expires_header, tus_response


class CreationHandler:
    def __init__(self, ctx: TusContext) -> None:
        self.ctx = ctx
        self.uploads = ctx.uploads

    async def post(self, request: Request) -> Response:
        check_tus_resumable(request)
        owner = owner_for_new_upload(request.scope)  # first: a token restricted to one upload creates nothing
        ctx, settings, headers = self.ctx, self.ctx.settings, request.headers
        concat = parse_concat(headers.get("upload-concat"), settings.max_concat_parts)
        if concat is not None and ctx.stores.concater is None:
            raise BadRequest("this server does not support concatenation")
        length = parse_int("Upload-Length", headers.get("upload-length"))
        defer = headers.get("upload-defer-length")
        metadata = parse_metadata(headers.get("upload-metadata"), settings.max_metadata_bytes)
        declared = parse_repr_digest(headers.get("repr-digest"))
        caller = ctx.caller(request)

        if concat is not None and concat.kind == "final":
            if length is not None or defer is not None:
                raise BadRequest("a final concatenation must not carry Upload-Length or Upload-Defer-Length")
            return await self._create_final(request, caller, concat, metadata, owner, declared)

        if defer is not None and defer != "1":
            raise BadRequest("Upload-Defer-Length must be 1")
        if length is None and defer is None:
            raise BadRequest("Upload-Length or Upload-Defer-Length: 1 is required")
        if length is not None and defer is not None:
            raise BadRequest("send either Upload-Length or Upload-Defer-Length, not both")
        caller.check_size(length)

        with_body = has_body(request)
        if with_body:
            check_content_type(headers, "a creation request with a body needs")
        checksum = parse_checksum(headers.get("upload-checksum"), ctx.checksum_algorithms) if with_body else None

        info = UploadInfo(
            id=new_upload_id(),
            length=length,
            metadata=metadata,
            concat="partial" if concat is not None else None,
            owner=owner,
            storage=_client_of(request, owner),
            # With a deferred length the digest is still verified at the last byte, and indexed then.
            repr_digest=format_repr_digest(declared) if declared else None,
        )
        if await self.uploads.create(info, caller):  # instant upload: the bytes are already here
            answer = {"Location": ctx.urls.upload_url(request, info.id), "Upload-Offset": str(info.offset)}
            if with_body and not await discard_body(request, limit=info.offset):
                answer["Connection"] = "close"
            return tus_response(201, answer, request)
        location = ctx.urls.upload_url(request, info.id)  # after `create`: a missed instant upload changes the id
        if with_body:
            content_length = parse_int("Content-Length", headers.get("content-length"))
            cap = caller.size_cap
            limit = info.length if info.length is not None else cap if cap is not None else MAX_INT
            reader = BodyReader(request, limit=limit)
            async with self.uploads.lock(info.id, on_release_request=reader.interrupt):
                if content_length is not None and content_length > limit:
                    raise TooLarge(f"body of {content_length} bytes exceeds Upload-Length", {"Location": location})
                try:
                    await self.uploads.write(info, reader, checksum, caller)
                except TusError as exc:
                    # The upload exists; the client must learn where, to resume or to see it was discarded.
                    exc.headers.setdefault("Location", location)
                    raise
        elif info.length == 0:
            await self.uploads.finish(info, caller)
        response_headers = {"Location": location, **expires_header(self.uploads.expiry, info)}
        if with_body or info.length == 0:
            response_headers["Upload-Offset"] = str(info.offset)
        return tus_response(201, response_headers, request)

    async def _create_final(
        self,
        request: Request,
        caller: Caller,
        concat: Concat,
        metadata: dict[str, str | None],
        owner: str | None,
        declared: ReprDigest | None,
    ) -> Response:
        ctx = self.ctx
        own_hosts = [request.headers.get("host", ""), urlsplit(ctx.urls.external_origin(request)).netloc]
        base_path = ctx.urls.base_path(request)
        part_ids: list[str] = []
        for url in concat.parts:
            part_id = upload_id_from_url(url, base_path, own_hosts)
            if part_id is None:
                raise BadRequest(f"{url[:100]!r} is not an upload URL of this server")
            part_ids.append(part_id)
        self.uploads.finals.check_repeats(part_ids)
        loaded: dict[str, UploadInfo] = {}
        for position, part_id in enumerate(part_ids, 1):  # a part named many times is read once
            if part_id not in loaded:
                loaded[part_id] = await self._load_part(request, part_id, position)
        parts = [loaded[part_id] for part_id in part_ids]
        lengths = [p.length for p in parts]
        length = sum(x for x in lengths if x is not None) if None not in lengths else None
        caller.check_size(length)
        # Repeated parts count each time; a deferred part's length is checked when it is declared.
        check_final_total(sum(x for x in lengths if x is not None), caller.size_cap, "the parts' lengths")
        info = UploadInfo(
            id=new_upload_id(),
            length=length,
            metadata=metadata,
            concat="final",
            parts=part_ids,
            owner=owner,
            storage=_client_of(request, owner),
            repr_digest=format_repr_digest(declared) if declared else None,
            max_length=caller.size_cap,
        )
        assembled = await self.uploads.create_final(info, parts, caller)
        headers = {"Location": ctx.urls.upload_url(request, info.id)}
        if assembled is not None:
            headers["Upload-Offset"] = str(assembled.offset)
        return tus_response(201, headers, request)

    async def _load_part(self, request: Request, part_id: str, position: int) -> UploadInfo:
        """A part the requester may name. Missing, terminated and another owner's parts get one answer,
        naming the part by its position, not its id, so a final POST cannot tell which ids exist. It is
        400 with auth on or off (the request URL is fine; its header names something wrong), as the
        README and conformance/ say; a token that may not touch a part it owns is still 403 below."""
        identity = identity_of(request.scope)
        unknown = BadRequest(
            f"partial upload {part_id} does not exist"
            if identity is None
            else f"partial upload number {position} does not exist or belongs to another user"
        )
        try:
            part = await self.uploads.get(part_id)
        except (UploadGone, UploadNotFound):
            raise unknown from None
        if identity is not None and part.owner != identity.sub:
            raise unknown
        check_part_access(request.scope, part.id, part.owner)  # whatever else a token must allow
        if self.uploads.expiry.is_expired(part):  # expired but not yet swept: it can never finish
            raise BadRequest(f"partial upload {part_id} has expired")
        if not part.is_partial:
            raise BadRequest(f"upload {part_id} was not created with Upload-Concat: partial")
        return part


def has_body(request: Request) -> bool:
    """Whether a request carries content (Content-Length above 0, or chunked)."""
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("0", "")
    return "chunked" in request.headers.get("transfer-encoding", "").lower()


def _client_of(request: Request, owner: str | None) -> dict[str, Any]:
    """With auth off, the client address (uvicorn's, which `--behind-proxy` takes from X-Forwarded-For):
    per-owner limits count per address, so one client at its caps does not stop everyone else."""
    if owner is not None or request.client is None:
        return {}
    return {CLIENT: request.client.host}
