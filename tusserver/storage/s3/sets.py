"""Upload sets in the bucket: each member is its own empty object, so workers sharing a bucket never
lose each other's updates (adding and removing are single atomic operations) and counting a group
reads only that group. The sets themselves are described in `storage/upload_sets.py`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from ..upload_sets import weight_of
from .errors import map_s3_errors


class S3UploadSets:
    """`<prefix>.sets/<name>/<group>/<member>`: empty objects; a count is one ListObjectsV2 call."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    async def _run(self, fn: Any, /, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, partial(fn, **kwargs))

    async def add(self, group: str, member: str) -> None:
        with map_s3_errors(member):
            await self._run(self.client.put_object, Bucket=self.bucket, Key=f"{self.prefix}{group}/{member}", Body=b"")

    async def remove(self, group: str, member: str) -> None:
        with map_s3_errors(member):
            await self._run(self.client.delete_object, Bucket=self.bucket, Key=f"{self.prefix}{group}/{member}")

    async def count(self, group: str, limit: int) -> int:
        start = len(f"{self.prefix}{group}/")
        return min(limit, sum(weight_of(obj["Key"][start:]) for obj in await self._list(group, limit)))

    async def repair(self, group: str) -> None:
        return None

    async def members(self, group: str, limit: int) -> dict[str, float]:
        start = f"{self.prefix}{group}/"
        return {obj["Key"][len(start) :]: obj["LastModified"].timestamp() for obj in await self._list(group, limit)}

    async def walk(self) -> AsyncIterator[tuple[str, str, float]]:
        """One listing of the whole set (every group under one prefix), a page of 1000 keys per call."""
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
