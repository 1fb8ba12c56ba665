"""Final concatenation: the one place that assembles a final upload from its parts.

Assembly runs in a task. The final POST waits up to `--concat-wait` for it, so that a 201 with
`Upload-Offset` means the file is there (tus-js-client's `onSuccess` fires on that answer, and a page
downloads right after); a longer assembly (a huge file: tusd's synchronous concatenation times browsers
out, tusd#429) goes on in the background, and until it is done HEAD on the final upload leaves out
`Upload-Offset`, as the spec says, and adds `Retry-After`. Assembly takes the final upload's lock
(nobody PATCHes a final upload) so only one worker assembles it; a HEAD re-triggers it, which also
recovers from a crash mid-assembly.

Four things start an assembly, all through `schedule`: the final POST, a HEAD or GET on an
unassembled final, and a part's last byte (`wake`), in whichever worker stores it (`finals_of_part`
is kept with the data). Until its parts are finished a final is parked: HEAD and GET re-check its
parts at most every `ASSEMBLY_RECHECK_S` instead of re-reading every part record each time (500
parts made such a HEAD ~30x a normal one). Parking is per process (`state.FinalParking`), so after
a restart the first HEAD still re-triggers assembly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from ..errors import TusError
from ..hashing.algorithms import new_digest_hasher
from ..hashing.repr_digest import parse_repr_digest
from ..locking.base import Locker, LockTimeout
from ..models import UploadInfo
from ..storage.composer import StoreComposer
from .ledger import Ledger
from .limits import HELD, check_final_total
from .state import FinalParking, MemoryFinalParking

log = logging.getLogger("tusserver")

ASSEMBLY_RECHECK_S = 2.0  # how stale a parked final's view of its parts may get (bounds a lost wake-up)
_MAX_WOKEN = 10_000

Finished = Callable[[UploadInfo], Awaitable[None]]


class Assembler:
    def __init__(
        self,
        stores: StoreComposer,
        locker: Locker,
        ledger: Ledger,
        finished: Finished,
        *,
        concat_wait_s: float,
        keep_partials: bool,
        parking: FinalParking | None = None,
    ) -> None:
        self.stores = stores
        self.locker = locker
        self.ledger = ledger
        self.finished = finished  # index the digest, run the finish hooks
        self.concat_wait_s = concat_wait_s
        self.keep_partials = keep_partials
        self.parking = parking or MemoryFinalParking()
        self.tasks: set[asyncio.Task[None]] = set()  # assemblies running in this process

    def schedule(self, final_id: str) -> asyncio.Task[None] | None:
        """Assemble in a task (returned), unless this final is parked (known to wait) or already being tried."""
        if self.parking.is_parked(final_id):
            return None
        self.parking.park(final_id, ASSEMBLY_RECHECK_S)  # HEADs during the attempt start no other
        task = asyncio.create_task(self.assemble(final_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def wake(self, part_id: str) -> None:
        """A part finished: assemble every final that names it, whichever worker saw it wait."""
        finals = self.parking.take_waiting(part_id)
        finals.update(await self.ledger.finals.finals_waiting_on(part_id, _MAX_WOKEN))
        for final_id in finals:
            self.parking.unpark(final_id)
            self.schedule(final_id)
            await self.ledger.finals.forget(part_id, final_id)

    async def wait(self, final_id: str, task: asyncio.Task[None] | None) -> UploadInfo | None:
        """The final upload once assembled within `--concat-wait`; None if it is still (or no longer) being made.

        Shielded: a client that hangs up, or a wait that runs out, leaves the assembly running. No task:
        the final is parked (its parts are unfinished), so there is nothing to wait for.
        """
        if task is None:
            return None
        if self.concat_wait_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), self.concat_wait_s)
        if not task.done():
            return None
        try:
            final = await self.stores.core.get_info(final_id)
        except TusError:  # discarded (Repr-Digest mismatch): HEAD tells the client
            return None
        return final if final.is_complete else None

    async def assemble(self, final_id: str) -> None:
        """Concatenate a final upload's parts once they are all finished; a no-op if another worker is on it."""
        if self.stores.concater is None:
            return
        try:
            async with self.locker.lock(final_id, timeout_s=0, request_release=False):
                await self._assemble_locked(final_id)
        except LockTimeout:
            return
        except TusError as exc:  # stays parked: retried after the back-off, not on every HEAD
            log.warning("assembling final upload %s failed: %s", final_id, exc.message)
        except Exception:
            log.exception("assembling final upload %s failed", final_id)

    async def _assemble_locked(self, final_id: str) -> None:
        store, concater = self.stores.core, self.stores.concater
        assert concater is not None
        final = await store.get_info(final_id)
        if final.is_complete:
            self.parking.unpark(final_id)
            return
        parts = [await store.get_info(part_id) for part_id in final.parts]
        unfinished = [p.id for p in parts if not p.is_complete]
        if unfinished:
            for part_id in unfinished:
                self.parking.wait_on(part_id, final_id)
            self.parking.park(final_id, ASSEMBLY_RECHECK_S)
            return
        total = sum(p.offset for p in parts)
        held = final.storage.get(HELD)
        try:
            check_final_total(total, self.ledger.finals.limit(final), "its parts")
            await self.ledger.owner_bytes.hold(final, total)  # parts whose length was deferred at its POST
        except TusError as exc:  # two deferred lengths declared at once: the last line of defence
            log.warning("final upload %s discarded: %s", final_id, exc.message)
            await self.ledger.discard(final)
            return
        if final.length != total or final.storage.get(HELD) != held:
            final.length = total
            await store.save_info(final)
        await concater.concatenate(final, parts)
        final.offset = total
        if final.repr_digest and not await self._stored_digest_matches(final):
            log.warning("final upload %s does not match its Repr-Digest; discarded", final_id)
            await self.ledger.discard(final)
            return
        await self.ledger.release(final)
        self.parking.unpark(final_id)
        if not self.keep_partials:
            for part in parts:
                await self.ledger.bury(part.id)
        await self.finished(final)

    async def _stored_digest_matches(self, info: UploadInfo) -> bool:
        declared = parse_repr_digest(info.repr_digest)
        if declared is None:
            return True
        hasher = new_digest_hasher(declared.algorithm)
        async for chunk in self.stores.core.read(info, 0, info.offset):
            hasher.update(chunk)
        return hasher.digest() == declared.digest
