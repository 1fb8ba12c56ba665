"""The bookkeeping that follows an upload beside its record, kept right in one place.

An upload that finishes, is deleted, discarded or expires must leave its owner's unfinished set,
stop being a part finals wait on, and drop its running digest. Every path that ends an upload calls
`release` or `remove` here, so none of them can forget one of the three.
"""

from __future__ import annotations

from ..models import UploadInfo
from ..protocol.digest import DigestTracker
from ..storage.composer import StoreComposer
from .limits import FinalLimits, UnfinishedQuota


class Ledger:
    def __init__(
        self, stores: StoreComposer, quota: UnfinishedQuota, finals: FinalLimits, digests: DigestTracker
    ) -> None:
        self.stores = stores
        self.quota = quota
        self.finals = finals
        self.digests = digests

    async def release(self, info: UploadInfo) -> None:
        """The upload no longer counts as unfinished (it finished, or is gone)."""
        await self.quota.release(info)
        await self.finals.forget_part(info)

    async def remove(self, info: UploadInfo) -> None:
        """Terminate the upload (a tombstone answers 410 from now on) and release it."""
        if self.stores.terminater is not None:
            await self.stores.terminater.terminate(info.id)
        self.digests.forget(info.id)
        await self.release(info)

    async def discard(self, info: UploadInfo) -> None:
        """Remove an upload whose bytes failed verification; the bookkeeping goes first, so it goes
        even if the store cannot remove the bytes right now."""
        self.digests.forget(info.id)
        await self.release(info)
        if self.stores.terminater is not None:
            await self.stores.terminater.terminate(info.id)
