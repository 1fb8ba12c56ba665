"""The bookkeeping that follows an upload beside its record, kept right in one place.

An upload that finishes, is deleted, discarded or expires must leave its owner's unfinished set
and free the bytes it held for its owner (a final only when it is removed: it holds them while it
exists), stop being a part finals wait on (in the shared set and in this process's parking), and
drop its running digest. Every path that ends an upload calls `release` or `remove` here, so none of them
can forget one of the three. Every termination goes through `bury`, which enters the tombstone in
the `TOMBSTONES` set first: the sweeper finds old tombstones there without listing every upload,
and a crash in between leaves an entry with no tombstone (dropped by the sweeper), never a
tombstone without an entry.
"""

from __future__ import annotations

from ..errors import TusError
from ..models import UploadInfo
from ..storage.composer import StoreComposer
from ..storage.upload_sets import UploadSets
from .digests import DigestTracker
from .limits import FinalLimits, OwnerBytes, UnfinishedQuota
from .state import FinalParking


class Ledger:
    TOMBSTONE_GROUP = "all"

    def __init__(
        self,
        stores: StoreComposer,
        quota: UnfinishedQuota,
        finals: FinalLimits,
        owner_bytes: OwnerBytes,
        digests: DigestTracker,
        tombstones: UploadSets,
        parking: FinalParking | None = None,
        note_tombstones: bool = True,
    ) -> None:
        self.stores = stores
        self.quota = quota
        self.finals = finals
        self.owner_bytes = owner_bytes
        self.digests = digests
        self.tombstones = tombstones
        self.note_tombstones = note_tombstones  # off without expiry: no sweeper would ever drop the entries
        self.parking = parking  # the assembler's: which finals this process saw waiting on a part

    async def bury(self, upload_id: str) -> None:
        """Terminate the upload in the store (its tombstone answers 410), noting the tombstone for the sweeper."""
        if self.stores.terminater is None:
            return
        if self.note_tombstones:
            try:
                await self.tombstones.add(self.TOMBSTONE_GROUP, upload_id)
            except TusError:  # a full disk must not stop a DELETE: the next full sweep finds the tombstone
                pass
        await self.stores.terminater.terminate(upload_id)

    async def release(self, info: UploadInfo) -> None:
        """The upload no longer counts as unfinished (it finished, or is gone)."""
        await self.quota.release(info)
        if not (info.is_final and info.is_complete):  # an assembled final holds its bytes until removed
            await self.owner_bytes.release(info)
        await self.finals.forget_part(info)
        if self.parking is not None and info.is_partial and not info.is_complete:
            self.parking.take_waiting(info.id)  # deleted or expired unfinished: nothing will wake them

    async def remove(self, info: UploadInfo) -> None:
        """Terminate the upload (a tombstone answers 410 from now on) and release it."""
        await self.bury(info.id)
        self.digests.forget(info.id)
        await self.release(info)
        await self.owner_bytes.release(info)

    async def discard(self, info: UploadInfo) -> None:
        """Remove an upload whose bytes failed verification; the bookkeeping goes first, so it goes
        even if the store cannot remove the bytes right now."""
        self.digests.forget(info.id)
        await self.release(info)
        await self.owner_bytes.release(info)
        await self.bury(info.id)
