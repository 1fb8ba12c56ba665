"""Limits that span uploads: how many unfinished uploads an owner holds, and how big a final may grow.

`--max-unfinished`: every upload created unfinished is entered in its owner's set
(`storage/upload_sets.py`) and leaves it when it finishes, is deleted, discarded or expires. With
expiry on, it is entered even without a cap: the expiry sweeper walks these sets instead of every
upload, so a sweep reads the records of unfinished uploads only (`expiry.py`). A
creation POST adds its entry first and counts after, so concurrent POSTs (in any worker sharing the
store) see each other and cannot all slip under the cap; a lost race can only make a POST refused
that might have fit. Entries whose upload is gone (a crash, an expiry not yet swept) are pruned
when an owner reaches the cap, at most once per `PRUNE_INTERVAL_S`, so a client hammering at the cap
does not make every refused POST re-read a thousand records; an expired one moves to the
`SWEEP_GROUP` (the sweeper still has to remove its bytes). An entry without a record is pruned
only after `RESERVATION_GRACE_S`, so a POST between adding its entry and writing its record keeps
it. Over-shoot is possible only when an entry is pruned wrongly (a record write slower than the
grace) or, on S3, when a listing lags a write: small, as the contract accepts.

Final sizes: a final's limit (the lower of `--max-size` and the creating token's `max_size`) is kept
in its record, so it holds after a restart and in every worker. Lengths known at the POST are
checked there (a part named twice counts twice); a partial that declares its deferred length later
finds the finals naming it in `finals_of_part` and is refused if one would grow past its limit.
`Assembler.assemble` checks the total once more, so a race between two such PATCHes can delay the
refusal to assembly time but never lets a final store more.

Bytes an owner holds (`--max-owner-bytes`, `OwnerBytes`): a final copies its parts, so a small part
named many times, or many finals waiting on one part, made a few-KB POST write hundreds of MiB
(issue #22). Each unfinished upload over `--max-owner-bytes / --max-unfinished` holds its declared
length from its POST (a deferred one from the PATCH that declares it; smaller ones are bounded by
`--max-unfinished`), and each final the sum of its parts' lengths (repeats count each time) for as
long as it exists, since the parts it copied stay (`--keep-partials`) and could be copied
again. An upload holds its bytes as a weighted member of its owner's group in the `bytes` set
(`<id>~<size>`), whose counted total is one small read per POST. `--max-part-repeats` caps how often
one final names a part, and `--max-finals-per-part` how many finals wait on one unfinished part.
With auth off, the owner is the client address (`quota_group`): one client at its caps does not
stop another.
"""

from __future__ import annotations

import time
from collections import Counter

from ..errors import BadRequest, TooLarge, TooManyUploads, TusError, UploadNotFound
from ..models import UploadInfo
from ..storage.base import Store
from ..storage.upload_sets import UploadSets, quota_group, weighted
from .expiration import ExpiryPolicy
from .state import MemoryRateGate, RateGate

PRUNE_INTERVAL_S = 30.0
RESERVATION_GRACE_S = 60.0  # an entry whose record does not exist yet is a POST still running, until this old
MAX_FINALS_CHECKED = 1000  # finals checked when a partial declares its length; assembly checks the rest
SWEEP_GROUP = "expired"  # expired uploads pruned from their owner's group, left for the sweeper (not an owner hash)


class UnfinishedQuota:
    """`--max-unfinished`: each owner's set of unfinished uploads, kept where the store keeps its data."""

    def __init__(
        self, store: Store, sets: UploadSets, cap: int, expiry: ExpiryPolicy, prunes: RateGate | None = None
    ) -> None:
        self.store = store
        self.sets = sets
        self.cap = cap
        self.expiry = expiry
        self.prunes = prunes or MemoryRateGate()

    async def reserve(self, info: UploadInfo) -> None:
        """Enter a new upload in its owner's set; 429 (and no entry) if that makes one too many."""
        cap = self.cap
        group = quota_group(info)
        if cap <= 0:
            if self.expiry.enabled:
                await self.sets.add(group, info.id)  # nothing to count, but the sweeper finds it here
            return
        counted = await self.sets.add(group, info.id)
        if (counted if counted is not None else await self.sets.count(group, cap + 1)) <= cap:
            return
        members = await self.sets.members(group, cap + 1)  # the entries themselves are the truth
        if len(members) <= cap or await self._prune(group, members, keep=info.id) <= cap:
            await self.sets.repair(group)  # the count was skewed (a crash) or entries were pruned
            return
        await self.sets.remove(group, info.id)
        raise TooManyUploads(f"too many unfinished uploads (at most {cap}); finish or delete some first")

    async def release(self, info: UploadInfo) -> None:
        """The upload finished, was deleted, discarded or expired: it no longer counts against the cap."""
        await self.sets.remove(quota_group(info), info.id)

    async def _prune(self, group: str, members: dict[str, float], keep: str) -> int:
        """Drop entries whose upload is finished or gone; the number left (all of them if pruned lately)."""
        if not self.prunes.allow(group, PRUNE_INTERVAL_S):
            return len(members)
        left = len(members)
        for upload_id, added in members.items():
            if upload_id == keep:
                continue
            try:
                info = await self.store.get_info(upload_id)
                stale = info.is_complete
                if not stale and self.expiry.is_expired(info):
                    await self.sets.add(SWEEP_GROUP, upload_id)  # no longer the owner's, not yet removed
                    stale = True
            except UploadNotFound:
                stale = added < time.time() - RESERVATION_GRACE_S
            except TusError as exc:
                stale = exc.status_code == 410  # terminated
            if stale:
                await self.sets.remove(group, upload_id)
                left -= 1
        return left


HELD = "held"  # `UploadInfo.storage` key: the bytes the upload holds against its owner's `--max-owner-bytes`


class OwnerBytes:
    """`--max-owner-bytes`: the bytes each owner's unfinished uploads and finals hold, kept beside the data."""

    def __init__(
        self, store: Store, sets: UploadSets, cap: int, max_unfinished: int = 0, prunes: RateGate | None = None
    ) -> None:
        self.store = store
        self.sets = sets
        self.cap = cap
        # An unfinished upload of at most `cap / --max-unfinished` bytes holds nothing: `--max-unfinished`
        # already bounds what those hold together (to the cap), and a small upload, the common case, skips
        # the set (13 of ~118 syscalls per POST + 4 KiB PATCH). An owner may so hold up to twice the cap.
        self.small = cap // max_unfinished if max_unfinished > 0 else 0
        self.prunes = prunes or MemoryRateGate()

    async def hold(self, info: UploadInfo, size: int) -> None:
        """Make `info` hold `size` bytes (noted in `info.storage`; the caller saves the record); 413 past the cap.

        Added first and counted after, as `UnfinishedQuota.reserve` does, so concurrent POSTs see each other.
        """
        held = int(info.storage.get(HELD, 0))
        if self.cap <= 0 or size <= held or (size <= self.small and not info.is_final):
            return
        group = quota_group(info)
        counted = await self.sets.add(group, weighted(info.id, size))
        limit = self.cap + held + 1  # while both entries are in, `held` counts twice
        others = (counted if counted is not None else await self.sets.count(group, limit)) - held
        if others > self.cap:
            await self.sets.repair(group)  # a crash may have skewed the running sum
            others = await self.sets.count(group, limit) - held
            if others > self.cap:
                others = await self._prune(group, limit) - held
        if others > self.cap:
            await self.sets.remove(group, weighted(info.id, size))
            raise TooLarge(
                f"{size} bytes more would make this owner hold over {self.cap} bytes in unfinished uploads"
                " and finals; finish or delete some first"
            )
        if held:
            await self.sets.remove(group, weighted(info.id, held))
        info.storage[HELD] = size

    async def release(self, info: UploadInfo) -> None:
        """The upload finished (a final: was deleted) or is gone: its bytes no longer count."""
        held = info.storage.get(HELD)
        if held:
            await self.sets.remove(quota_group(info), weighted(info.id, int(held)))

    async def _prune(self, group: str, limit: int) -> int:
        """Drop entries whose upload is finished (not a final) or gone (at most once per `PRUNE_INTERVAL_S`);
        the bytes left."""
        if not self.prunes.allow(group, PRUNE_INTERVAL_S):
            return await self.sets.count(group, limit)
        for member, added in (await self.sets.members(group, 100_000)).items():
            upload_id = member.rpartition("~")[0]
            try:
                info = await self.store.get_info(upload_id)
                stale = info.is_complete and not info.is_final
            except UploadNotFound:
                stale = added < time.time() - RESERVATION_GRACE_S
            except TusError as exc:
                stale = exc.status_code == 410
            if stale:
                await self.sets.remove(group, member)
        return await self.sets.count(group, limit)


def check_final_total(total: int, limit: int | None, what: str) -> None:
    if limit is not None and total > limit:
        raise TooLarge(f"{what} would make the final upload {total} bytes, over its limit of {limit} bytes")


class FinalLimits:
    """How big a final may grow, and which finals name each unfinished part (`finals_of_part`)."""

    def __init__(
        self, store: Store, finals_of_part: UploadSets, max_size: int, max_repeats: int = 0, max_waiting: int = 0
    ) -> None:
        self.store = store
        self.finals_of_part = finals_of_part
        self.max_size = max_size
        self.max_repeats = max_repeats  # how often one final may name a part (0: no cap)
        self.max_waiting = max_waiting  # finals that may wait on one unfinished part (0: no cap)

    def check_repeats(self, part_ids: list[str]) -> None:
        """400 for a final that names one part more than `--max-part-repeats` times: each time is a copy."""
        if self.max_repeats <= 0 or not part_ids:
            return
        part_id, times = Counter(part_ids).most_common(1)[0]
        if times > self.max_repeats:
            raise BadRequest(
                f"partial upload number {part_ids.index(part_id) + 1} is named {times} times;"
                f" a final may name a part at most {self.max_repeats} times"
            )

    async def check_room_to_wait(self, parts: list[UploadInfo]) -> None:
        """429 when an unfinished part already has `--max-finals-per-part` finals waiting on it."""
        if self.max_waiting <= 0:
            return
        for position, part in enumerate(parts, 1):
            if not part.is_complete and await self.finals_of_part.count(part.id, self.max_waiting) >= self.max_waiting:
                raise TooManyUploads(
                    f"{self.max_waiting} finals already wait on partial upload number {position}; finish it first"
                )

    def limit(self, final: UploadInfo) -> int | None:
        """The most bytes a final may hold: its recorded limit and today's `--max-size`, whichever is lower."""
        limits = [x for x in (final.max_length, self.max_size) if x]
        return min(limits) if limits else None

    async def note_waiting_parts(self, final: UploadInfo, parts: list[UploadInfo]) -> None:
        """Remember which finals name each unfinished part, for deferred lengths and cross-worker wake-up."""
        for part_id in {p.id for p in parts if not p.is_complete}:
            await self.finals_of_part.add(part_id, final.id)

    async def finals_waiting_on(self, part_id: str, limit: int = MAX_FINALS_CHECKED) -> set[str]:
        return set(await self.finals_of_part.members(part_id, limit))

    async def forget(self, part_id: str, final_id: str) -> None:
        await self.finals_of_part.remove(part_id, final_id)

    async def forget_part(self, part: UploadInfo) -> None:
        """A partial was deleted or expired unfinished: no final can wait on it any more."""
        if part.is_partial and not part.is_complete:
            for final_id in await self.finals_waiting_on(part.id):
                await self.forget(part.id, final_id)

    async def check_declared_length(self, partial: UploadInfo, length: int) -> None:
        """413 if declaring `length` on `partial` would push a final that names it over the final's limit."""
        if not partial.is_partial:
            return
        for final_id in await self.finals_waiting_on(partial.id):
            try:
                final = await self.store.get_info(final_id)
            except TusError:
                continue  # deleted or expired: nothing will be assembled
            limit = self.limit(final)
            if final.is_complete or limit is None:
                continue
            lengths: dict[str, int] = {partial.id: length}
            for part_id in set(final.parts) - {partial.id}:
                try:
                    part = await self.store.get_info(part_id)
                except TusError:
                    part = None
                # An undeclared length is at least the bytes stored so far.
                lengths[part_id] = 0 if part is None else part.length if part.length is not None else part.offset
            total = sum(lengths[part_id] for part_id in final.parts)
            check_final_total(total, limit, f"Upload-Length {length}")
