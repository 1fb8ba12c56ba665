"""Where finished uploads are found by (owner, digest, length) for instant upload.

Which index an app gets is decided in `wiring.build_digest_index`. Entries are hints: the caller
re-checks that the upload still exists, is finished and matches, so a stale entry (upload deleted,
expired) costs a lookup, never a wrong answer.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol, runtime_checkable


def index_key(owner: str | None, repr_digest: str, length: int) -> str:
    raw = f"{owner or ''}\x00{repr_digest}\x00{length}".encode()
    return hashlib.sha256(raw).hexdigest()


@runtime_checkable
class DigestIndex(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, upload_id: str) -> None: ...

    async def remove(self, key: str, upload_id: str) -> None: ...


@runtime_checkable
class SupportsAclose(Protocol):
    """An index holding a connection (Redis) to close when the app stops."""

    async def aclose(self) -> None: ...


class MemoryDigestIndex:
    def __init__(self) -> None:
        self._entries: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self._entries.get(key)

    async def put(self, key: str, upload_id: str) -> None:
        self._entries[key] = upload_id

    async def remove(self, key: str, upload_id: str) -> None:
        if self._entries.get(key) == upload_id:
            del self._entries[key]


class FileDigestIndex:
    """One small file per key under `<data>/.digests/`, shared by every worker on the host."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    async def get(self, key: str) -> str | None:
        try:
            return (self.directory / key).read_text().strip() or None
        except FileNotFoundError:
            return None

    async def put(self, key: str, upload_id: str) -> None:
        tmp = self.directory / f"{key}.{os.getpid()}.tmp"
        tmp.write_text(upload_id)
        os.replace(tmp, self.directory / key)

    async def remove(self, key: str, upload_id: str) -> None:
        if await self.get(key) == upload_id:
            (self.directory / key).unlink(missing_ok=True)
