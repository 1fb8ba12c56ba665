"""Limits that span uploads: how many unfinished uploads an owner holds, and how big a final may grow.

`--max-unfinished`: every upload created unfinished is entered in its owner's set
(`storage/upload_sets.py`) and leaves it when it finishes, is deleted, discarded or expires. A
creation POST adds its entry first and counts after, so concurrent POSTs (in any worker sharing the
store) see each other and cannot all slip under the cap; a lost race can only make a POST refused
that might have fit. Entries whose upload is gone (a crash, an expiry not yet swept) are pruned
when an owner reaches the cap, at most once per `PRUNE_INTERVAL_S`, so a client hammering at the cap
does not make every refused POST re-read a thousand records. An entry without a record is pruned
only after `RESERVATION_GRACE_S`, so a POST between adding its entry and writing its record keeps
it. Over-shoot is possible only when an entry is pruned wrongly (a record write slower than the
grace) or, on S3, when a listing lags a write: small, as the contract accepts.

Final sizes: a final's limit (the lower of `--max-size` and the creating token's `max_size`) is kept
in its record, so it holds after a restart and in every worker. Lengths known at the POST are
checked there (a part named twice counts twice); a partial that declares its deferred length later
finds the finals naming it in `finals_of_part` and is refused if one would grow past its limit.
`completion.assemble` checks the total once more, so a race between two such PATCHes can delay the
refusal to assembly time but never lets a final store more.
"""

from __future__ import annotations

import time

from ..errors import TooLarge, TooManyUploads, TusError, UploadNotFound
from ..models import UploadInfo
from ..storage.upload_sets import owner_group
from .context import TusContext

PRUNE_INTERVAL_S = 30.0
RESERVATION_GRACE_S = 60.0  # an entry whose record does not exist yet is a POST still running, until this old
MAX_FINALS_CHECKED = 1000  # finals checked when a partial declares its length; assembly checks the rest


async def reserve_unfinished(ctx: TusContext, info: UploadInfo) -> None:
    """Enter a new upload in its owner's unfinished set; 429 (and no entry) if that makes one too many."""
    cap = ctx.settings.max_unfinished
    if cap <= 0:
        return  # no cap: nothing to count (a cap set later starts counting from then on)
    group = owner_group(info.owner)
    await ctx.unfinished.add(group, info.id)
    if await ctx.unfinished.count(group, cap + 1) <= cap:
        return
    members = await ctx.unfinished.members(group, cap + 1)  # the entries themselves are the truth
    if len(members) <= cap or await _prune(ctx, group, members, keep=info.id) <= cap:
        await ctx.unfinished.repair(group)  # the count was skewed (a crash) or entries were pruned
        return
    await ctx.unfinished.remove(group, info.id)
    raise TooManyUploads(f"too many unfinished uploads (at most {cap}); finish or delete some first")


async def release_unfinished(ctx: TusContext, info: UploadInfo) -> None:
    """The upload finished, was deleted, discarded or expired: it no longer counts against the cap."""
    await ctx.unfinished.remove(owner_group(info.owner), info.id)
    if info.is_partial and not info.is_complete:  # deleted or expired: no final can wait on it any more
        for final_id in await ctx.finals_of_part.members(info.id, MAX_FINALS_CHECKED):
            await ctx.finals_of_part.remove(info.id, final_id)


async def _prune(ctx: TusContext, group: str, members: dict[str, float], keep: str) -> int:
    """Drop entries whose upload is finished or gone; the number left (all of them if pruned lately)."""
    now = time.monotonic()
    if now - ctx.pruned_owners.get(group, -PRUNE_INTERVAL_S) < PRUNE_INTERVAL_S:
        return len(members)
    if len(ctx.pruned_owners) > 10_000:
        ctx.pruned_owners.clear()
    ctx.pruned_owners[group] = now
    left = len(members)
    for upload_id, added in members.items():
        if upload_id == keep:
            continue
        try:
            info = await ctx.store.get_info(upload_id)
            ctx.check_not_expired(info)
            stale = info.is_complete
        except UploadNotFound:
            stale = added < time.time() - RESERVATION_GRACE_S
        except TusError as exc:
            stale = exc.status_code == 410  # terminated or expired
        if stale:
            await ctx.unfinished.remove(group, upload_id)
            left -= 1
    return left


def final_limit(ctx: TusContext, info: UploadInfo) -> int | None:
    """The most bytes a final may hold: its recorded limit and today's `--max-size`, whichever is lower."""
    limits = [x for x in (info.max_length, ctx.settings.max_size_bytes) if x]
    return min(limits) if limits else None


def check_final_total(total: int, limit: int | None, what: str) -> None:
    if limit is not None and total > limit:
        raise TooLarge(f"{what} would make the final upload {total} bytes, over its limit of {limit} bytes")


async def note_waiting_parts(ctx: TusContext, final: UploadInfo, parts: list[UploadInfo]) -> None:
    """Remember which finals name each unfinished part, for deferred lengths and cross-worker wake-up."""
    for part_id in {p.id for p in parts if not p.is_complete}:
        await ctx.finals_of_part.add(part_id, final.id)


async def check_declared_length(ctx: TusContext, partial: UploadInfo, length: int) -> None:
    """413 if declaring `length` on `partial` would push a final that names it over the final's limit."""
    if not partial.is_partial:
        return
    for final_id in await ctx.finals_of_part.members(partial.id, MAX_FINALS_CHECKED):
        try:
            final = await ctx.store.get_info(final_id)
        except TusError:
            continue  # deleted or expired: nothing will be assembled
        limit = final_limit(ctx, final)
        if final.is_complete or limit is None:
            continue
        lengths: dict[str, int] = {partial.id: length}
        for part_id in set(final.parts) - {partial.id}:
            try:
                part = await ctx.store.get_info(part_id)
            except TusError:
                part = None
            # An undeclared length is at least the bytes stored so far.
            lengths[part_id] = 0 if part is None else part.length if part.length is not None else part.offset
        total = sum(lengths[part_id] for part_id in final.parts)
        check_final_total(total, limit, f"Upload-Length {length}")
