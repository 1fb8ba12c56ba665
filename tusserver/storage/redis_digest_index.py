"""The instant-upload index in Redis: one string per (owner, digest, length) key, for every instance.

Chosen by `wiring.build_digest_index` when the locker is Redis: instances that share an S3 bucket but no
disk then find each other's finished uploads. Entries are hints, as in every index (see
digest_index.py); `remove` deletes only the entry it was asked about, atomically, so it never drops
a newer copy another instance just put there.
"""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..state.redis_client import DELETE_IF_EQUAL, connect


class RedisDigestIndex:
    def __init__(self, client: Any, prefix: str = "tusserver:", owns_client: bool = False) -> None:
        self._client = client
        self._owns_client = owns_client  # else a shared client (`redis_client`), closed by its owner
        self._prefix = prefix
        self._remove: Any = client.register_script(DELETE_IF_EQUAL)

    @classmethod
    def from_settings(cls, settings: Settings, client: Any = None) -> RedisDigestIndex:
        return cls(connect(settings.redis_url), owns_client=True) if client is None else cls(client)

    def _key(self, key: str) -> str:
        return f"{self._prefix}digest:{key}"

    async def get(self, key: str) -> str | None:
        raw: bytes | None = await self._client.get(self._key(key))
        return raw.decode() if raw else None

    async def put(self, key: str, upload_id: str) -> None:
        await self._client.set(self._key(key), upload_id)

    async def remove(self, key: str, upload_id: str) -> None:
        await self._remove(keys=[self._key(key)], args=[upload_id])

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
