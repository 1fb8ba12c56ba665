"""Storing a request body into an upload: shared by PATCH and creation-with-upload.

The handler has already checked the offset and holds the upload's lock. Here the body is capped to
the room left, hashed while it streams (per-request `Upload-Checksum`, whole-file `Repr-Digest`),
written by the store, and the upload finished when its last byte arrives.
"""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request

from ..errors import BadRequest, ChecksumMismatch, InsufficientStorage, TooLarge
from ..models import UploadInfo
from .body import BodyReader
from .checksum import Hasher, new_hasher
from .completion import finish_upload
from .context import TusContext
from .headers import Checksum


async def receive_body(
    ctx: TusContext, request: Request, info: UploadInfo, checksum: Checksum | None, reader: BodyReader
) -> int:
    """Write the body at `info.offset`; return the new offset. Raises after storing what it may keep."""
    chunk_hasher: Hasher | None = None
    if checksum is not None:
        chunk_hasher = new_hasher(checksum.algorithm)
        reader.hashers.append(chunk_hasher)
    digest_state = await ctx.digests.resume(info) if info.repr_digest else None
    if digest_state is not None:
        reader.hashers.append(digest_state.hasher)

    def commit_check() -> None:
        if chunk_hasher is None or checksum is None:
            return
        if not reader.complete:
            raise ChecksumMismatch("body ended before it was complete; the chunk was discarded")
        if chunk_hasher.digest() != checksum.digest:
            raise ChecksumMismatch(f"{checksum.algorithm} checksum of the body does not match; the chunk was discarded")

    start = info.offset
    task = asyncio.current_task()
    if task is not None:
        ctx.writers.add(task)  # shutdown waits for these, so a cut body is flushed before the loop stops
    try:
        written = await ctx.store.write_chunk(info, reader.chunks(), commit_check if checksum else None)
    except ChecksumMismatch:
        ctx.digests.forget(info.id)
        raise
    except InsufficientStorage as exc:
        # The bytes that fit are stored and count (the running digest was dropped: it is rebuilt from them).
        if exc.stored:
            info.offset = start + exc.stored
            info.storage["mtime"] = time.time()
        exc.message = f"no space left on the server; {info.offset} bytes are stored, resume from there later"
        raise
    finally:
        if task is not None:
            ctx.writers.discard(task)
    info.offset = start + written
    if written:
        info.storage["mtime"] = time.time()  # Upload-Expires on this response counts from this write
    if digest_state is not None:
        await ctx.digests.advance(info.id, digest_state, info.offset)
    if info.is_complete:
        await finish_upload(ctx, info, request)
    elif reader.released:
        # As tusd does: the client must not take a cut body for a stored one. It learns the offset by HEAD.
        raise BadRequest(f"the body was cut short by another request for this upload; {info.offset} bytes are stored")
    if reader.overflow:
        raise TooLarge("body is longer than the room left in the upload; the bytes that fit were stored")
    return info.offset
