"""Small named sets of upload ids kept beside the data, so limits never need a scan of every upload.

Three sets live here: the unfinished uploads of each owner (for `--max-unfinished` and for the
expiry sweeper, which walks them instead of every upload), the finals that wait on each unfinished
partial (for final size limits and for waking assembly in whichever worker stores the partial's
last byte), and the tombstones (so the sweeper drops old ones without listing every upload).
Like the digest index, entries are hints: the reader re-checks the upload record before it acts
on one, so a stale entry (a crash between the record and the entry) costs a lookup, never a wrong
answer.

On S3 each member is its own object (an empty object per member): adding and removing are single
atomic operations, so workers sharing a store never lose each other's updates, and counting a group
reads only that group. On local disk a group is one journal file (`storage/file_sets.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any, Protocol, runtime_checkable

UNFINISHED = "unfinished"
WAITING_FINALS = "finals"
TOMBSTONES = "tombstones"


def owner_group(owner: str | None) -> str:
    """A file-name-safe group for an owner; every anonymous upload shares one."""
    return hashlib.sha256(f"owner\x00{owner or ''}".encode()).hexdigest()[:32]


@runtime_checkable
class UploadSets(Protocol):
    async def add(self, group: str, member: str) -> None: ...

    async def remove(self, group: str, member: str) -> None: ...

    async def count(self, group: str, limit: int) -> int:
        """How many members `group` has, counting no further than `limit`."""

    async def repair(self, group: str) -> None:
        """Make `count` exact again after a crash may have skewed it (a no-op where it cannot skew)."""

    async def members(self, group: str, limit: int) -> dict[str, float]:
        """Up to `limit` members of `group`, in no particular order, each with when it was added (epoch s)."""

    def walk(self) -> AsyncIterator[tuple[str, str, float]]:
        """Every (group, member, when added) of every group, in no particular order (for the sweeper).

        Members added or removed while walking may or may not be seen; the rest are seen once."""
        ...


class MemoryUploadSets:
    def __init__(self) -> None:
        self._groups: dict[str, dict[str, float]] = {}

    async def add(self, group: str, member: str) -> None:
        self._groups.setdefault(group, {})[member] = time.time()

    async def remove(self, group: str, member: str) -> None:
        members = self._groups.get(group)
        if members is not None:
            members.pop(member, None)
            if not members:
                del self._groups[group]

    async def count(self, group: str, limit: int) -> int:
        return min(limit, len(self._groups.get(group, ())))

    async def repair(self, group: str) -> None:
        return None

    async def members(self, group: str, limit: int) -> dict[str, float]:
        return dict(itertools.islice(self._groups.get(group, {}).items(), limit))

    async def walk(self) -> AsyncIterator[tuple[str, str, float]]:
        for group, members in list(self._groups.items()):
            for member, added in list(members.items()):
                yield group, member, added


class S3UploadSets:
    """`<prefix>.sets/<name>/<group>/<member>`: empty objects; a count is one ListObjectsV2 call."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    async def _run(self, fn: Any, /, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, partial(fn, **kwargs))

    async def add(self, group: str, member: str) -> None:
        from .s3.store import map_s3_errors

        with map_s3_errors(member):
            await self._run(self.client.put_object, Bucket=self.bucket, Key=f"{self.prefix}{group}/{member}", Body=b"")

    async def remove(self, group: str, member: str) -> None:
        from .s3.store import map_s3_errors

        with map_s3_errors(member):
            await self._run(self.client.delete_object, Bucket=self.bucket, Key=f"{self.prefix}{group}/{member}")

    async def count(self, group: str, limit: int) -> int:
        return len(await self._list(group, limit))

    async def repair(self, group: str) -> None:
        return None

    async def members(self, group: str, limit: int) -> dict[str, float]:
        start = f"{self.prefix}{group}/"
        return {obj["Key"][len(start) :]: obj["LastModified"].timestamp() for obj in await self._list(group, limit)}

    async def walk(self) -> AsyncIterator[tuple[str, str, float]]:
        """One listing of the whole set (every group under one prefix), a page of 1000 keys per call."""
        from .s3.store import map_s3_errors

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix, "MaxKeys": 1000}
        while True:
            with map_s3_errors("*"):
                page = await self._run(self.client.list_objects_v2, **kwargs)
            for obj in page.get("Contents", []):
                group, _, member = obj["Key"][len(self.prefix) :].partition("/")
                if member:
                    yield group, member, obj["LastModified"].timestamp()
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    async def _list(self, group: str, limit: int) -> list[dict[str, Any]]:
        """ListObjectsV2 pages (at most 1000 keys each) until `limit` keys."""
        from .s3.store import map_s3_errors

        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": f"{self.prefix}{group}/"}
        with map_s3_errors(group):
            while len(found) < limit:
                page = await self._run(self.client.list_objects_v2, **kwargs, MaxKeys=min(1000, limit - len(found)))
                found += page.get("Contents", [])
                if not page.get("IsTruncated"):
                    break
                kwargs["ContinuationToken"] = page["NextContinuationToken"]
        return found[:limit]
