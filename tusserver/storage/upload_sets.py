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
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

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
