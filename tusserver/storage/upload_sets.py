"""Small named sets of upload ids kept beside the data, so limits never need a scan of every upload.

Three sets live here: the unfinished uploads of each owner (for `--max-unfinished` and for the
expiry sweeper, which walks them instead of every upload), the finals that wait on each unfinished
partial (for final size limits and for waking assembly in whichever worker stores the partial's
last byte), and the tombstones (so the sweeper drops old ones without listing every upload).
Like the digest index, entries are hints: the reader re-checks the upload record before it acts
on one, so a stale entry (a crash between the record and the entry) costs a lookup, never a wrong
answer.

Where a store keeps them is its own business (`Store.upload_sets`): on local disk a group is one
journal file (`storage/file_sets.py`), on S3 each member is an empty object (`storage/s3/sets.py`);
a store without a place of its own gets `MemoryUploadSets` (one process).

A member may carry a weight in its name (`weighted(upload_id, size)`: `<id>~<size>`); `count` adds up
weights (a plain member weighs 1). That is how the bytes each owner holds (`--max-owner-bytes`) are
kept: the file journal's count header keeps the running sum, so checking it is one small read.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import time
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from ..models import UploadInfo

UNFINISHED = "unfinished"
WAITING_FINALS = "finals"
TOMBSTONES = "tombstones"
OWNER_BYTES = "bytes"
# `UploadInfo.storage` key: with auth off, the client address an upload was created from; its limits'
# owner (every anonymous client sharing one owner let one client lock everyone out, issue #22).
CLIENT = "client"


@functools.lru_cache(maxsize=4096)
def owner_group(owner: str | None) -> str:
    """A file-name-safe group for an owner (a token's `sub`, or `client <address>` with auth off).

    Cached: a small upload asks for its group four times (reserve, hold, release twice), and each
    `hashlib.sha256()` is an OpenSSL fetch that cost ~2.5 % of the loop's time under 64 clients.
    """
    return hashlib.sha256(f"owner\x00{owner or ''}".encode()).hexdigest()[:32]


def quota_group(info: UploadInfo) -> str:
    """The group an upload counts in for per-owner limits: its owner, or with auth off its client address."""
    if info.owner is None and CLIENT in info.storage:
        return owner_group(f"client {info.storage[CLIENT]}")
    return owner_group(info.owner)


def weighted(member: str, weight: int) -> str:
    return f"{member}~{weight}"


def weight_of(member: str) -> int:
    _, mark, weight = member.rpartition("~")
    return int(weight) if mark and weight.isdigit() else 1


@runtime_checkable
class UploadSets(Protocol):
    async def add(self, group: str, member: str) -> int | None:
        """Add `member`; a store that learns the group's count on the way returns it (else None), which
        saves a caller checking a cap the `count` that follows."""

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
        return min(limit, sum(weight_of(member) for member in self._groups.get(group, ())))

    async def repair(self, group: str) -> None:
        return None

    async def members(self, group: str, limit: int) -> dict[str, float]:
        return dict(itertools.islice(self._groups.get(group, {}).items(), limit))

    async def walk(self) -> AsyncIterator[tuple[str, str, float]]:
        for group, members in list(self._groups.items()):
            for member, added in list(members.items()):
                yield group, member, added
