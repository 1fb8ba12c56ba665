"""Upload sets (storage/upload_sets.py) as empty blobs: `<prefix>.sets/<name>/<group>/<member>`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .errors import map_azure_errors

Run = Callable[..., Awaitable[Any]]


class AzureUploadSets:
    def __init__(self, container: Any, prefix: str, run: Run) -> None:
        self.container = container
        self.prefix = prefix
        self._run = run

    async def add(self, group: str, member: str) -> None:
        with map_azure_errors(member):
            blob = self.container.get_blob_client(f"{self.prefix}{group}/{member}")
            await self._run(blob.upload_blob, b"", overwrite=True)

    async def remove(self, group: str, member: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with map_azure_errors(member), contextlib.suppress(ResourceNotFoundError):
            await self._run(self.container.get_blob_client(f"{self.prefix}{group}/{member}").delete_blob)

    async def count(self, group: str, limit: int) -> int:
        return len(await self._list(f"{self.prefix}{group}/", limit))

    async def repair(self, group: str) -> None:
        return None

    async def members(self, group: str, limit: int) -> dict[str, float]:
        start = f"{self.prefix}{group}/"
        return {name[len(start) :]: when for name, when in await self._list(start, limit)}

    async def walk(self) -> AsyncIterator[tuple[str, str, float]]:
        for name, when in await self._list(self.prefix, None):
            group, _, member = name[len(self.prefix) :].partition("/")
            if member:
                yield group, member, when

    async def _list(self, start: str, limit: int | None) -> list[tuple[str, float]]:
        def listing() -> list[tuple[str, float]]:
            found: list[tuple[str, float]] = []
            for blob in self.container.list_blobs(name_starts_with=start):
                if limit is not None and len(found) >= limit:
                    break
                found.append((blob.name, blob.last_modified.timestamp()))
            return found

        with map_azure_errors("*"):
            result: list[tuple[str, float]] = await self._run(listing)
        return result
