"""Small named sets of upload ids kept beside the data, so limits never need a scan of every upload.

Three sets live here: the unfinished uploads of each owner (for `--max-unfinished` and for the
expiry sweeper, which walks them instead of every upload), the finals that wait on each unfinished
partial (for final size limits and for waking assembly in whichever worker stores the partial's
last byte), and the tombstones (so the sweeper drops old ones without listing every upload).
Like the digest index, entries are hints: the reader re-checks the upload record before it acts
on one, so a stale entry (a crash between the record and the entry) costs a lookup, never a wrong
answer.

Each member is its own object (an empty file, an empty S3 object, a set element): adding and
removing are single atomic operations, so workers sharing a store never lose each other's updates,
and counting a group reads only that group.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import itertools
import os
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import StorageError

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


class FileUploadSets:
    """`<directory>/<group>/<member>`: empty files, shared by every worker on the host.

    With `counted`, `<directory>/<group>.count` holds the number of members, changed under `flock`
    by whoever created or removed a member file, so a count is one small read instead of a listing
    (listing 1000 names cost ~1 ms per creation POST). A crash between the two steps can leave it
    off by one; `repair` recounts from the listing, and the caller runs it before refusing anyone.
    """

    def __init__(self, directory: Path, counted: bool = False) -> None:
        self.directory = Path(directory)
        self.counted = counted

    async def add(self, group: str, member: str) -> None:
        folder = self.directory / group
        for _ in range(3):  # a concurrent remove may delete the emptied folder between mkdir and open
            try:
                folder.mkdir(parents=True, exist_ok=True)
                os.close(os.open(folder / member, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            except FileExistsError:
                return
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StorageError(f"cannot record upload {member}: {exc.strerror}") from exc
            if self.counted:
                self._update_count(group, lambda n: n + 1)
            return
        raise StorageError(f"cannot record upload {member}")

    async def remove(self, group: str, member: str) -> None:
        folder = self.directory / group
        try:
            (folder / member).unlink()
        except OSError:
            return  # not a member (FileNotFoundError) or a disk error: the entry is a hint either way
        if self.counted:
            self._update_count(group, lambda n: n - 1)
        with contextlib.suppress(OSError):
            folder.rmdir()  # only succeeds when empty (else ENOTEMPTY): groups do not pile up

    async def count(self, group: str, limit: int) -> int:
        if not self.counted:
            return len(self._names(group, limit))
        try:
            fd = os.open(self._count_path(group), os.O_RDONLY)
        except FileNotFoundError:
            return 0
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return min(limit, _parse_count(os.pread(fd, 32, 0)))
        finally:
            os.close(fd)

    async def repair(self, group: str) -> None:
        if self.counted:
            self._update_count(group, lambda _: len(self._names(group, 2**31)))

    def _count_path(self, group: str) -> str:
        return f"{self.directory}{os.sep}{group}.count"

    def _update_count(self, group: str, change: Callable[[int], int]) -> None:
        try:
            fd = os.open(self._count_path(group), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return  # a count that could not be kept is repaired before it refuses anyone
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            value = max(0, change(_parse_count(os.pread(fd, 32, 0))))
            os.pwrite(fd, str(value).encode().ljust(20), 0)  # fixed width: no truncate, never torn
        except OSError:
            pass
        finally:
            os.close(fd)

    def _names(self, group: str, limit: int) -> list[str]:
        try:
            with os.scandir(self.directory / group) as entries:
                return [entry.name for entry in itertools.islice(entries, limit)]
        except FileNotFoundError:
            return []

    async def members(self, group: str, limit: int) -> dict[str, float]:
        found: dict[str, float] = {}
        try:
            with os.scandir(self.directory / group) as entries:
                for entry in entries:
                    if len(found) >= limit:
                        break
                    try:
                        found[entry.name] = entry.stat().st_mtime
                    except FileNotFoundError:
                        continue  # removed while listing
        except FileNotFoundError:
            pass
        return found

    async def walk(self) -> AsyncIterator[tuple[str, str, float]]:
        """One group at a time, each listed in a thread: a group holds at most `--max-unfinished`
        members, or every unfinished upload of anonymous clients when there is no cap."""
        loop = asyncio.get_running_loop()
        for group in await loop.run_in_executor(None, self._groups):
            for member, added in (await loop.run_in_executor(None, self._members_sync, group)).items():
                yield group, member, added

    def _groups(self) -> list[str]:
        try:
            with os.scandir(self.directory) as entries:
                return [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []

    def _members_sync(self, group: str) -> dict[str, float]:
        found: dict[str, float] = {}
        try:
            with os.scandir(self.directory / group) as entries:
                for entry in entries:
                    with contextlib.suppress(FileNotFoundError):  # removed while listing
                        found[entry.name] = entry.stat().st_mtime
        except (FileNotFoundError, NotADirectoryError):
            pass
        return found


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


def _parse_count(raw: bytes) -> int:
    try:
        return int(raw.strip() or b"0")
    except ValueError:
        return 0
