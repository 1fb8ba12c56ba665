"""Removing expired unfinished uploads: a background sweeper in the server and `tusserver cleanup`.

An upload is swept only when its lock can be taken at once, without asking the holder to let go,
so a PATCH that is running keeps its upload. Tombstones (for 410 answers) are kept one more
expiry period, then dropped. Sweeping only ever removes files, so it works on a full disk; a sweep
that keeps failing the same way is logged once, not every interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from .errors import TusError
from .locking.base import LockTimeout
from .protocol.context import TusContext
from .storage.base import Terminatable

log = logging.getLogger("tusserver")


@dataclass
class SweepResult:
    removed: int = 0
    tombstones_dropped: int = 0


async def sweep_once(ctx: TusContext, now: float | None = None) -> SweepResult:
    lister, terminater, expiry = ctx.stores.lister, ctx.stores.terminater, ctx.uploads.expiry
    result = SweepResult()
    if lister is None or terminater is None or not expiry.enabled:
        return result
    now = time.time() if now is None else now
    async for upload_id in lister.list_ids():
        try:
            async with ctx.locker.lock(upload_id, timeout_s=0, request_release=False):
                if await _sweep_one(ctx, upload_id, now):
                    result.removed += 1
                elif await _drop_old_tombstone(terminater, upload_id, expiry.expire_after_s, now):
                    result.tombstones_dropped += 1
        except LockTimeout:
            continue  # busy: a request is working on it right now
        except TusError as exc:
            if exc.status_code not in (404, 410):
                log.warning("sweeping upload %s failed: %s", upload_id, exc.message)
    return result


async def _sweep_one(ctx: TusContext, upload_id: str, now: float) -> bool:
    store, expiry = ctx.stores.core, ctx.uploads.expiry
    try:
        info = await store.get_info(upload_id)
    except TusError:
        return False
    expired = False
    if info.is_final and not info.is_complete:
        # A final upload whose parts can no longer finish will never complete.
        for part_id in info.parts:
            try:
                part = await store.get_info(part_id)
            except TusError:
                expired = True
                break
            if expiry.is_expired(part, now):
                expired = True
                break
    else:
        expired = expiry.is_expired(info, now)
    if expired:
        await ctx.uploads.ledger.remove(info)
        log.info("expired upload %s removed", upload_id)
    return expired


async def _drop_old_tombstone(store: Terminatable, upload_id: str, keep_s: float, now: float) -> bool:
    since = await store.tombstone_time(upload_id)
    if since is None or since + keep_s > now:
        return False
    await store.forget_tombstone(upload_id)
    return True


async def run_sweeper(ctx: TusContext) -> None:
    last_failure: str | None = None
    while True:
        await asyncio.sleep(ctx.settings.sweep_interval_s)
        try:
            result = await sweep_once(ctx)
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
            if failure != last_failure:
                log.exception("expiry sweep failed (logged again only if the failure changes)")
            last_failure = failure
            continue
        if last_failure is not None:
            log.info("expiry sweep works again")
            last_failure = None
        if result.removed:
            log.info("sweeper removed %d expired uploads", result.removed)
