"""Upload sets (storage/upload_sets.py) as empty objects, `<prefix>.sets/<name>/<group>/<member>`, for
the object stores whose SDK lists names with their last change (Azure, GCS): each member is its own
object, so workers sharing a container never lose each other's updates. A subclass says how to put,
delete and list one name."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from .object_store import ErrorMap

Run = Callable[..., Awaitable[Any]]


class ObjectUploadSets:
    def __init__(self, prefix: str, run: Run, errors: ErrorMap) -> None:
        self.prefix = prefix
        self._run = run
        self.errors = errors

    async def _put(self, name: str) -> None:
        raise NotImplementedError

    async def _delete(self, name: str) -> None:
        """Remove the object; one that is not there is no error."""
        raise NotImplementedError

    def _listing(self, start: str) -> Iterator[tuple[str, float]]:
        """Names under `start` with their last change (epoch seconds); runs in a thread."""
        raise NotImplementedError

    async def add(self, group: str, member: str) -> None:
        with self.errors(member):
            await self._put(f"{self.prefix}{group}/{member}")

    async def remove(self, group: str, member: str) -> None:
        with self.errors(member):
            await self._delete(f"{self.prefix}{group}/{member}")

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
            for entry in self._listing(start):
                if limit is not None and len(found) >= limit:
                    break
                found.append(entry)
            return found

        with self.errors("*"):
            result: list[tuple[str, float]] = await self._run(listing)
        return result
