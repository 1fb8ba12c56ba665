"""Instant upload: a creation POST whose `Repr-Digest` and length match a finished upload of the same owner.

The new upload shares the stored bytes (a hard link on the file store) and is complete at once. The
lookup key includes the owner, so another user's identical file is simply a miss: the answer is the
ordinary empty upload, and nothing tells the client that the file exists elsewhere.

Safety rules:
- only digests verified over the stored bytes enter the index (`completion.finish_upload`);
- index entries are hints: the source is re-read under its lock (a DELETE or an expiry sweep cannot
  remove it half-way) and must be finished, of the same owner, digest and length;
- anything that goes wrong while linking falls back to an ordinary upload, never to an error.
"""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect, Request

from ..errors import TusError
from ..models import UploadInfo
from ..storage.base import Linkable, Terminatable
from ..storage.digest_index import index_key
from ..storage.ids import new_upload_id
from .context import TusContext

log = logging.getLogger("tusserver")


async def find_and_link(ctx: TusContext, info: UploadInfo) -> bool:
    """Make `info` (not yet created) a complete copy of a matching finished upload; False on a miss."""
    store = ctx.store
    if not isinstance(store, Linkable) or info.repr_digest is None or info.length is None:
        return False
    key = index_key(info.owner, info.repr_digest, info.length)
    source_id = await ctx.digest_index.get(key)
    if source_id is None:
        return False
    try:
        async with ctx.lock(source_id):
            source = await store.get_info(source_id)
            if (
                source.owner != info.owner
                or source.repr_digest != info.repr_digest
                or source.length != info.length
                or not source.is_complete
            ):
                return False
            info.dedup_of = source.id
            await store.create(info)
            try:
                await store.link(source, info)
            except BaseException:
                if isinstance(store, Terminatable):
                    await store.terminate(info.id)
                raise
    except TusError as exc:
        if exc.status_code not in (404, 410):
            log.warning("instant upload from %s failed, uploading normally: %s", source_id, exc.message)
        else:
            await ctx.digest_index.remove(key, source_id)
        info.id, info.dedup_of = new_upload_id(), None
        return False
    info.offset = info.length
    # The newest copy becomes the index entry, so deleting the first of two copies keeps dedup working.
    await ctx.digest_index.put(key, info.id)
    return True


async def discard_body(request: Request, limit: int) -> bool:
    """Read and drop a creation body that is not needed; False when the connection must close instead.

    Not reading it would break keep-alive (uvicorn then parses the leftover bytes as the next request),
    and closing with bytes unread sends the client a RST that can eat our response. A client waiting
    on `Expect: 100-continue` has sent nothing yet: closing is free and saves it the whole body.
    """
    if "100-continue" in request.headers.get("expect", "").lower():
        return False
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                return False
    except ClientDisconnect:
        return False
    return True
