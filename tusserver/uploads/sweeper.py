"""Removing expired unfinished uploads: a background sweeper in the server and `tusserver cleanup`.

An upload is swept only when its lock can be taken at once, without asking the holder to let go,
so a PATCH that is running keeps its upload. Tombstones (for 410 answers) are kept one more
expiry period, then dropped. Sweeping only ever removes files, so it works on a full disk; a sweep
that keeps failing the same way is logged once, not every interval.

What a sweep reads: finished uploads never expire, so a sweep walks only what can: the unfinished
sets (`storage/upload_sets.py`, every upload created unfinished is entered there and leaves when
it ends, see `uploads/limits.py`) and the tombstone set (`uploads/ledger.py`). Its cost is one lock
and one record read per unfinished upload plus one lock and stat per tombstone older than the
expiry period, however many finished uploads are kept. Entries are hints, re-checked under the
lock; stale ones (a crash between an upload's end and its entry's removal) are dropped on the way.

A *full* sweep lists every upload instead, as every sweep once did, and enters each unfinished
upload and tombstone it finds in its set: uploads made by a version that kept no such sets, or
while expiry was off. The server runs one at start and then every `FULL_SWEEP_INTERVAL_S`;
`tusserver cleanup` always runs one. A store whose sets are only in this process's memory while
its uploads are shared (a plug-in without `SharesUploadSets`, run in several workers) is always
swept in full.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from ..errors import TusError, UploadGone, UploadNotFound, as_unavailable
from ..locking.base import LockTimeout
from ..models import UploadInfo
from ..storage.upload_sets import quota_group
from .ledger import Ledger
from .limits import RESERVATION_GRACE_S
from .service import Uploads

log = logging.getLogger("tusserver")

FULL_SWEEP_INTERVAL_S = 24 * 3600.0  # a safety net: entries can only go missing by a wrong prune (limits.py)


@dataclass
class SweepResult:
    removed: int = 0
    tombstones_dropped: int = 0
    full: bool = False


def walks_sets(uploads: Uploads) -> bool:
    """True when the sets hold every unfinished upload of the store, so a sweep may walk them."""
    return uploads.stores.set_keeper is not None or uploads.stores.core.one_process


async def sweep_once(uploads: Uploads, now: float | None = None, *, full: bool = True) -> SweepResult:
    """One sweep: `full` lists every upload; otherwise (where `walks_sets`) only what can expire."""
    lister, terminater, expiry = uploads.stores.lister, uploads.stores.terminater, uploads.expiry
    result = SweepResult(full=full or not walks_sets(uploads))
    if lister is None or terminater is None or not expiry.enabled:
        return result
    now = time.time() if now is None else now
    if result.full:
        async for upload_id in lister.list_ids():
            await _locked(uploads, upload_id, partial(_sweep_listed, uploads, upload_id, now, result))
        return result
    sets = uploads.unfinished
    async for group, upload_id, added in sets.walk():
        await _locked(uploads, upload_id, partial(_sweep_unfinished, uploads, group, upload_id, added, now, result))
    keep_s = expiry.expire_after_s
    async for group, upload_id, added in uploads.tombstones.walk():
        if added + keep_s > now:
            continue  # entered before its tombstone was made: the tombstone is younger still
        await _locked(uploads, upload_id, partial(_drop_old_tombstone, uploads, upload_id, now, result, group))
    return result


async def _locked(uploads: Uploads, upload_id: str, work: Callable[[], Awaitable[None]]) -> None:
    """Run `work` under the upload's lock if it is free now; skip the upload if not."""
    try:
        async with uploads.locker.lock(upload_id, timeout_s=0, request_release=False):
            await work()
    except LockTimeout:
        pass  # busy: a request is working on it right now
    except TusError as exc:
        if exc.status_code not in (404, 410):
            log.warning("sweeping upload %s failed: %s", upload_id, exc.message)


async def _sweep_listed(uploads: Uploads, upload_id: str, now: float, result: SweepResult) -> None:
    """Full sweep: remove the upload if expired, drop its tombstone if old, else enter it in its set."""
    try:
        info = await uploads.stores.core.get_info(upload_id)
    except UploadGone:
        await _drop_old_tombstone(uploads, upload_id, now, result, Ledger.TOMBSTONE_GROUP, enter_young=True)
        return
    except TusError:
        return
    if await _expired(uploads, info, now):
        await _remove(uploads, info, result)
    elif not info.is_complete:
        await uploads.unfinished.add(quota_group(info), upload_id)


async def _sweep_unfinished(
    uploads: Uploads, group: str, upload_id: str, added: float, now: float, result: SweepResult
) -> None:
    """Walking the unfinished sets: remove the upload if expired; drop the entry if it is stale."""
    sets = uploads.unfinished
    try:
        info = await uploads.stores.core.get_info(upload_id)
    except UploadNotFound:
        if added < time.time() - RESERVATION_GRACE_S:  # younger: a creation POST still on its way
            await sets.remove(group, upload_id)
        return
    except UploadGone:
        await sets.remove(group, upload_id)  # terminated; the entry outlived it (a crash in between)
        return
    if info.is_complete:
        await sets.remove(group, upload_id)  # finished; likewise
        return
    if await _expired(uploads, info, now):
        await _remove(uploads, info, result)
        if group != quota_group(info):
            await sets.remove(group, upload_id)  # handed over by the quota's prune (limits.SWEEP_GROUP)


async def _expired(uploads: Uploads, info: UploadInfo, now: float) -> bool:
    store, expiry = uploads.stores.core, uploads.expiry
    if not (info.is_final and not info.is_complete):
        return expiry.is_expired(info, now)
    # A final upload whose parts can no longer finish will never complete.
    for part_id in info.parts:
        try:
            part = await store.get_info(part_id)
        except TusError:
            return True
        if expiry.is_expired(part, now):
            return True
    return False


async def _remove(uploads: Uploads, info: UploadInfo, result: SweepResult) -> None:
    await uploads.ledger.remove(info)
    result.removed += 1
    log.info("expired upload %s removed", info.id)


async def _drop_old_tombstone(
    uploads: Uploads, upload_id: str, now: float, result: SweepResult, group: str, enter_young: bool = False
) -> None:
    terminater, tombstones = uploads.stores.terminater, uploads.tombstones
    assert terminater is not None
    since = await terminater.tombstone_time(upload_id)
    if since is not None and since + uploads.expiry.expire_after_s > now:
        if enter_young:
            await tombstones.add(group, upload_id)
        return
    if since is not None:
        await terminater.forget_tombstone(upload_id)
        result.tombstones_dropped += 1
    await tombstones.remove(group, upload_id)  # dropped, or the entry of a termination that never happened


class Sweeper:
    """The server's sweeps: the first one full, then only what can expire, full again once a day."""

    def __init__(self, uploads: Uploads) -> None:
        self.uploads = uploads
        self.last_full: float | None = None  # monotonic start of the last full sweep that completed

    async def sweep(self) -> SweepResult:
        started = time.monotonic()
        full = self.last_full is None or started - self.last_full >= FULL_SWEEP_INTERVAL_S
        result = await sweep_once(self.uploads, full=full)
        if full:
            self.last_full = started
        return result


async def run_sweeper(uploads: Uploads) -> None:
    sweeper = Sweeper(uploads)
    last_failure: str | None = None
    while True:
        await asyncio.sleep(uploads.settings.sweep_interval_s)
        try:
            result = await sweeper.sweep()
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
            if failure != last_failure:
                unavailable = as_unavailable(exc)
                if unavailable is not None:  # expected while a backend is away: one line, no traceback
                    log.warning("expiry sweep skipped: %s", unavailable.detail)
                else:
                    log.exception("expiry sweep failed (logged again only if the failure changes)")
            last_failure = failure
            continue
        if last_failure is not None:
            log.info("expiry sweep works again")
            last_failure = None
        if result.removed:
            log.info("sweeper removed %d expired uploads", result.removed)
