"""Instant upload: a new upload whose `Repr-Digest` and length match a finished upload of the same owner.

The new upload shares the stored bytes (a hard link on the file store) and is complete at once. The
lookup key includes the owner, so another user's identical file is simply a miss: the answer is the
ordinary empty upload, and nothing tells the client that the file exists elsewhere.

Safety rules:
- only digests verified over the stored bytes enter the index (`Uploads.finish`);
- index entries are hints: the source is re-read under its lock (a DELETE or an expiry sweep cannot
  remove it half-way) and must be finished, of the same owner, digest and length;
- anything that goes wrong while linking falls back to an ordinary upload, never to an error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from ..errors import TusError
from ..models import UploadInfo
from ..storage.composer import StoreComposer
from ..storage.digest_index import DigestIndex, index_key
from ..storage.ids import new_upload_id

log = logging.getLogger("tusserver")

LockFactory = Callable[[str], AbstractAsyncContextManager[None]]
Bury = Callable[[str], Awaitable[None]]


class InstantUpload:
    def __init__(self, stores: StoreComposer, index: DigestIndex, lock: LockFactory, bury: Bury) -> None:
        self.stores = stores
        self.index = index
        self.lock = lock
        self.bury = bury  # `Ledger.bury`: terminates and notes the tombstone for the sweeper

    async def remember(self, info: UploadInfo) -> None:
        """Index a finished upload whose digest was verified over its stored bytes."""
        if info.repr_digest is not None:
            await self.index.put(index_key(info.owner, info.repr_digest, info.offset), info.id)

    async def link(self, info: UploadInfo) -> bool:
        """Make `info` (not yet created) a complete copy of a matching finished upload; False on a miss."""
        store, linker = self.stores.core, self.stores.linker
        if linker is None or info.repr_digest is None or info.length is None:
            return False
        key = index_key(info.owner, info.repr_digest, info.length)
        source_id = await self.index.get(key)
        if source_id is None:
            return False
        try:
            async with self.lock(source_id):
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
                    await linker.link(source, info)
                except BaseException:
                    await self.bury(info.id)
                    raise
        except TusError as exc:
            if exc.status_code not in (404, 410):
                log.warning("instant upload from %s failed, uploading normally: %s", source_id, exc.message)
            else:
                await self.index.remove(key, source_id)
            info.id, info.dedup_of = new_upload_id(), None
            return False
        info.offset = info.length
        # The newest copy becomes the index entry, so deleting the first of two copies keeps dedup working.
        await self.index.put(key, info.id)
        return True
