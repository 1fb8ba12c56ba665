"""Where running `Repr-Digest` states are kept between PATCHes, so the next PATCH continues the hash.

In memory by default (one process sees every PATCH of an upload, or re-reads what it missed). With
`--locker redis` the states go to Redis (`wiring.build_digest_states`), so whichever instance takes
the next PATCH continues the hash from there instead of reading the whole upload back from the
store. A state is a hint: it names the offset it covers, and the reader uses it only when that is
the upload's offset.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..config import Settings
from .redis_client import connect

STATE_TTL_S = 7 * 24 * 3600  # a state outlives any sane pause between two PATCHes, not an abandoned upload


@runtime_checkable
class DigestStates(Protocol):
    async def load(self, upload_id: str) -> tuple[int, bytes] | None:
        """(offset covered, saved hasher) of the last PATCH, or None."""

    async def save(self, upload_id: str, offset: int, state: bytes) -> None: ...

    async def delete(self, upload_id: str) -> None: ...

    async def aclose(self) -> None: ...


class RedisDigestStates:
    """One Redis string per upload: `<offset>:<saved hasher>`, expiring after `STATE_TTL_S` untouched."""

    def __init__(self, client: Any, prefix: str = "tusserver:", owns_client: bool = False) -> None:
        self._client = client
        self._owns_client = owns_client  # else a shared client (`redis_client`), closed by its owner
        self._prefix = prefix

    @classmethod
    def from_settings(cls, settings: Settings, client: Any = None) -> RedisDigestStates:
        return cls(connect(settings.redis_url), owns_client=True) if client is None else cls(client)

    def _key(self, upload_id: str) -> str:
        return f"{self._prefix}digest-state:{upload_id}"

    async def load(self, upload_id: str) -> tuple[int, bytes] | None:
        raw: bytes | None = await self._client.get(self._key(upload_id))
        if raw is None:
            return None
        offset, sep, state = raw.partition(b":")
        if not sep or not offset.isdigit():
            return None
        return int(offset), state

    async def save(self, upload_id: str, offset: int, state: bytes) -> None:
        await self._client.set(self._key(upload_id), b"%d:%s" % (offset, state), ex=STATE_TTL_S)

    async def delete(self, upload_id: str) -> None:
        await self._client.delete(self._key(upload_id))

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
