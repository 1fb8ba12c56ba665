"""What happens when an upload's last byte is stored, and how final concatenations get assembled.

Assembly runs in a task. The final POST waits up to `--concat-wait` for it, so that a 201 with
`Upload-Offset` means the file is there (tus-js-client's `onSuccess` fires on that answer, and a page
downloads right after); a longer assembly (a huge file: tusd's synchronous concatenation times browsers
out, tusd#429) goes on in the background, and until it is done HEAD on the final upload leaves out
`Upload-Offset`, as the spec says, and adds `Retry-After`. Assembly takes the final upload's lock
(nobody PATCHes a final upload) so only one worker assembles it; a HEAD re-triggers it, which also recovers from a
crash mid-assembly.

A final that waits on unfinished parts is woken by the part's last byte, in whichever worker
stores it (`finals_of_part` is kept with the data). Until then it is parked: HEAD and GET re-check
its parts at most every `ASSEMBLY_RECHECK_S` instead of re-reading every part record each time
(500 parts made such a HEAD ~30x a normal one). Parking is per process and in memory, so after a
restart the first HEAD still re-triggers assembly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from starlette.requests import Request

from ..errors import ChecksumMismatch, TusError
from ..locking.base import LockTimeout
from ..models import UploadInfo
from ..storage.base import Concatenatable, Terminatable
from ..storage.digest_index import index_key
from .context import TusContext
from .digest import new_digest_hasher
from .headers import parse_repr_digest
from .limits import check_final_total, final_limit, release_unfinished

log = logging.getLogger("tusserver")

ASSEMBLY_RECHECK_S = 2.0  # how stale a parked final's view of its parts may get (bounds a lost wake-up)
_MAX_PARKED = 10_000


async def finish_upload(ctx: TusContext, info: UploadInfo, request: Request | None = None) -> None:
    """Verify the declared whole-file digest, index it for instant upload, wake finals waiting on it."""
    if info.repr_digest and not info.is_final:
        if not await ctx.digests.verify(info):
            await discard(ctx, info)
            raise ChecksumMismatch("the file does not match its Repr-Digest; the upload was discarded")
        if ctx.settings.instant_upload_enabled:
            await ctx.digest_index.put(index_key(info.owner, info.repr_digest, info.offset), info.id)
    await release_unfinished(ctx, info)
    if info.is_partial:
        await wake_finals(ctx, info.id)
    await ctx.hooks.pre_finish(info, request)
    await ctx.hooks.emit("post-finish", info, request)


async def wake_finals(ctx: TusContext, part_id: str) -> None:
    """A part finished: assemble every final that names it, whichever worker saw it wait."""
    finals = ctx.waiting_finals.pop(part_id, set())
    finals.update(await ctx.finals_of_part.members(part_id, _MAX_PARKED))
    for final_id in finals:
        ctx.parked_finals.pop(final_id, None)
        schedule_assembly(ctx, final_id)
        await ctx.finals_of_part.remove(part_id, final_id)


async def discard(ctx: TusContext, info: UploadInfo) -> None:
    ctx.digests.forget(info.id)
    await release_unfinished(ctx, info)
    if isinstance(ctx.store, Terminatable):
        await ctx.store.terminate(info.id)


def schedule_assembly(ctx: TusContext, final_id: str) -> asyncio.Task[None] | None:
    """Assemble in a task (returned), unless this final is parked (known to wait) or already being tried."""
    now = time.monotonic()
    if ctx.parked_finals.get(final_id, 0.0) > now:
        return None
    if len(ctx.parked_finals) > _MAX_PARKED:
        ctx.parked_finals.clear()
    ctx.parked_finals[final_id] = now + ASSEMBLY_RECHECK_S  # HEADs during the attempt start no other
    task = asyncio.create_task(assemble(ctx, final_id))
    ctx.background.add(task)
    task.add_done_callback(ctx.background.discard)
    return task


async def wait_for_assembly(ctx: TusContext, final_id: str, task: asyncio.Task[None] | None) -> UploadInfo | None:
    """The final upload once assembled within `--concat-wait`; None if it is still (or no longer) being made.

    Shielded: a client that hangs up, or a wait that runs out, leaves the assembly running. No task:
    the final is parked (its parts are unfinished), so there is nothing to wait for.
    """
    if task is None:
        return None
    if ctx.settings.concat_wait_s > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), ctx.settings.concat_wait_s)
    if not task.done():
        return None
    try:
        final = await ctx.store.get_info(final_id)
    except TusError:  # discarded (Repr-Digest mismatch): HEAD tells the client
        return None
    return final if final.is_complete else None


async def assemble(ctx: TusContext, final_id: str) -> None:
    """Concatenate a final upload's parts once they are all finished; a no-op if another worker is on it."""
    store = ctx.store
    if not isinstance(store, Concatenatable):
        return
    try:
        async with ctx.locker.lock(final_id, timeout_s=0, request_release=False):
            final = await store.get_info(final_id)
            if final.is_complete:
                ctx.parked_finals.pop(final_id, None)
                return
            parts = [await store.get_info(part_id) for part_id in final.parts]
            unfinished = [p.id for p in parts if not p.is_complete]
            if unfinished:
                for part_id in unfinished:
                    ctx.waiting_finals.setdefault(part_id, set()).add(final_id)
                ctx.parked_finals[final_id] = time.monotonic() + ASSEMBLY_RECHECK_S
                return
            total = sum(p.offset for p in parts)
            try:
                check_final_total(total, final_limit(ctx, final), "its parts")
            except TusError as exc:  # two deferred lengths declared at once: the last line of defence
                log.warning("final upload %s discarded: %s", final_id, exc.message)
                await discard(ctx, final)
                return
            if final.length != total:
                final.length = total
                await store.save_info(final)
            await store.concatenate(final, parts)
            final.offset = total
            if final.repr_digest and not await _stored_digest_matches(ctx, final):
                log.warning("final upload %s does not match its Repr-Digest; discarded", final_id)
                await discard(ctx, final)
                return
            await release_unfinished(ctx, final)
            ctx.parked_finals.pop(final_id, None)
            if final.repr_digest and ctx.settings.instant_upload_enabled:
                await ctx.digest_index.put(index_key(final.owner, final.repr_digest, total), final.id)
            if not ctx.settings.keep_partials and isinstance(store, Terminatable):
                for part in parts:
                    await store.terminate(part.id)
            await ctx.hooks.pre_finish(final)
            await ctx.hooks.emit("post-finish", final)
    except LockTimeout:
        return
    except TusError as exc:  # stays parked: retried after the back-off, not on every HEAD
        log.warning("assembling final upload %s failed: %s", final_id, exc.message)
    except Exception:
        log.exception("assembling final upload %s failed", final_id)


async def _stored_digest_matches(ctx: TusContext, info: UploadInfo) -> bool:
    declared = parse_repr_digest(info.repr_digest)
    if declared is None:
        return True
    hasher = new_digest_hasher(declared.algorithm)
    async for chunk in ctx.store.read(info, 0, info.offset):
        hasher.update(chunk)
    return hasher.digest() == declared.digest
