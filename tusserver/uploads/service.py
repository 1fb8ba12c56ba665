"""The upload operations under the HTTP handlers: create, write, finish, terminate.

Handlers parse a request into arguments and a `Caller`, call one method here and render the answer;
everything that happens to an upload (quota, hooks, digests, assembly, bookkeeping) happens here, in
one order, whichever request or background task asks. Each event hook is emitted from one place:
post-create from `_created`, post-finish from `_finished`, post-receive from `append`,
post-terminate from `terminate`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

from ..config import Settings
from ..constants import MAX_INT
from ..errors import (
    BadRequest,
    ChecksumMismatch,
    Forbidden,
    InsufficientStorage,
    LengthMismatch,
    OffsetMismatch,
    TooLarge,
    UploadCompleted,
)
from ..hashing.algorithms import Checksum, Hasher, new_hasher
from ..hooks import Hooks, rejection
from ..locking.base import Locker, ReleaseCallback
from ..models import UploadInfo
from ..state.digest_states import DigestStates
from ..storage.base import MODIFIED
from ..storage.composer import StoreComposer
from ..storage.digest_index import DigestIndex
from ..storage.upload_sets import OWNER_BYTES, TOMBSTONES, UNFINISHED, WAITING_FINALS
from .assembler import Assembler
from .digests import DigestTracker
from .expiration import ExpiryPolicy
from .instant import InstantUpload
from .ledger import Ledger
from .limits import FinalLimits, OwnerBytes, UnfinishedQuota
from .state import MemoryFinalParking

if TYPE_CHECKING:
    from starlette.requests import Request

log = logging.getLogger("tusserver.uploads")


class Caller(Protocol):
    """Who asks, as the auth layer sees them (`protocol.context.RequestCaller`), and the request the
    hooks report."""

    @property
    def request(self) -> Request | None: ...

    @property
    def size_cap(self) -> int | None:
        """The most bytes an upload of theirs may hold (None: no limit)."""
        ...

    def authorize(self, info: UploadInfo) -> None:
        """403 unless the caller may use the upload."""
        ...

    def check_size(self, length: int | None) -> None:
        """413 for a declared length over a limit."""
        ...


class Body(Protocol):
    """A request body as the handlers read it (`protocol.body.BodyReader`)."""

    limit: int
    hashers: list[Hasher]
    released: bool  # cut short because another request wants the upload
    stopped: bool  # cut short because a post-receive hook said StopUpload
    overflow: bool  # longer than `limit`: the rest was not read

    def listen(self, listener: Callable[[int], None]) -> None:
        """`listener(size)` for each batch of body bytes as they arrive."""
        ...

    def stop(self) -> None:
        """End the body now, keeping what arrived."""
        ...

    @property
    def complete(self) -> bool: ...

    def chunks(self) -> AsyncIterator[bytes]: ...


class _Running:
    """A body being stored, and the StopUpload answer that ended it (None while it runs)."""

    __slots__ = ("answer", "body")

    def __init__(self, body: Body) -> None:
        self.body = body
        self.answer: Mapping[str, Any] | None = None


class Uploads:
    def __init__(
        self,
        settings: Settings,
        stores: StoreComposer,
        locker: Locker,
        hooks: Hooks,
        digest_index: DigestIndex,
        digest_states: DigestStates | None = None,
    ) -> None:
        store = stores.core
        self.settings = settings
        self.stores = stores
        self.locker = locker
        self.hooks = hooks
        self.expiry = ExpiryPolicy(settings.expire_after_s)
        # `digest_states`: where running digests are shared between instances (None: this process only)
        self.digests = DigestTracker(store, settings.max_digest_states, digest_states)
        # The sets the sweeper walks: unfinished uploads (shared with the quota) and tombstones (the ledger's).
        self.unfinished = stores.upload_sets(UNFINISHED, counted=True)
        self.tombstones = stores.upload_sets(TOMBSTONES)
        self.quota = UnfinishedQuota(store, self.unfinished, settings.max_unfinished, self.expiry)
        self.finals = FinalLimits(
            store,
            stores.upload_sets(WAITING_FINALS),
            settings.max_size_bytes,
            max_repeats=settings.max_part_repeats,
            max_waiting=settings.max_finals_per_part,
        )
        self.owner_bytes = OwnerBytes(
            store,
            stores.upload_sets(OWNER_BYTES, counted=True),
            settings.max_owner_bytes_bytes,
            max_unfinished=settings.max_unfinished,
        )
        parking = MemoryFinalParking()  # shared by the assembler and the ledger (which forgets ended parts)
        self.ledger = Ledger(
            stores,
            self.quota,
            self.finals,
            self.owner_bytes,
            self.digests,
            self.tombstones,
            parking,
            note_tombstones=self.expiry.enabled,
        )
        self.instant = InstantUpload(stores, digest_index, self.lock, self.ledger.bury)
        self.assembler = Assembler(
            stores,
            locker,
            self.ledger,
            self._finished,
            concat_wait_s=settings.concat_wait_s,
            keep_partials=settings.keep_partials,
            parking=parking,
        )
        self.writers: set[asyncio.Task[object]] = set()  # requests storing a body right now
        self._running: dict[str, _Running] = {}  # bodies being stored, by upload: what StopUpload ends
        self._stopping: set[asyncio.Task[None]] = set()
        hooks.on_stop(self._stop_requested)

    def lock(
        self, upload_id: str, on_release_request: ReleaseCallback | None = None
    ) -> AbstractAsyncContextManager[None]:
        return self.locker.lock(
            upload_id, timeout_s=self.settings.lock_timeout_s, on_release_request=on_release_request
        )

    async def get(self, upload_id: str) -> UploadInfo:
        """The record as stored, without access or expiry checks (those are `load`'s)."""
        return await self.stores.core.get_info(upload_id)

    async def load(self, upload_id: str, caller: Caller) -> UploadInfo:
        info = await self.stores.core.get_info(upload_id)
        caller.authorize(info)
        self.expiry.check_not_expired(info)
        return info

    async def settled(self, upload_id: str, caller: Caller) -> UploadInfo:
        """The record read under the upload's lock: a stale PATCH still holding it is cut first, so the
        offset counts every byte it received (a client resuming after a dropped connection asks HEAD)."""
        async with self.lock(upload_id):
            return await self.load(upload_id, caller)

    # -- creation ------------------------------------------------------------------------------

    async def create(self, info: UploadInfo, caller: Caller) -> bool:
        """Create an upload (pre-create may refuse it); True when instant upload made it complete at once."""
        await self._pre_create(info, caller)
        if info.repr_digest and not info.is_partial and self.settings.instant_upload_enabled:
            if await self.instant.link(info):
                await self._created(info, caller)
                await self._finished(info, caller.request, linked=True)
                return True
        await self._store_new(info, held=info.length or 0)
        await self._created(info, caller)
        return False

    async def create_final(self, info: UploadInfo, parts: list[UploadInfo], caller: Caller) -> UploadInfo | None:
        """Create a final concatenation; the assembled upload if it was ready within `--concat-wait`."""
        await self._pre_create(info, caller)
        await self.finals.check_room_to_wait(parts)
        # Each part counts each time it is named: that many copies are written.
        await self._store_new(info, held=sum(p.length if p.length is not None else p.offset for p in parts))
        await self.finals.note_waiting_parts(info, parts)
        await self._created(info, caller)
        return await self.assembler.wait(info.id, self.assembler.schedule(info.id))

    async def _pre_create(self, info: UploadInfo, caller: Caller) -> None:
        if caller.request is not None:  # uploads the server makes itself have no request to judge
            await self.hooks.pre_create(caller.request, info)

    async def _store_new(self, info: UploadInfo, held: int) -> None:
        """Store a new upload that counts against its owner's `--max-unfinished` (429 past it) and holds
        `held` bytes of its `--max-owner-bytes` (413 past it)."""
        if info.is_complete:  # empty: finished at birth
            await self.stores.core.create(info)
            return
        await self.owner_bytes.hold(info, held)
        try:
            await self.quota.reserve(info)
        except BaseException:
            await self.owner_bytes.release(info)
            raise
        try:
            await self.stores.core.create(info)
        except BaseException:
            await self.ledger.release(info)
            raise

    async def _created(self, info: UploadInfo, caller: Caller) -> None:
        await self.hooks.emit("post-create", info, caller.request)

    # -- writing -------------------------------------------------------------------------------

    async def append(
        self,
        upload_id: str,
        offset: int,
        new_length: int | None,
        content_length: int | None,
        checksum: Checksum | None,
        body: Body,
        caller: Caller,
        on_release_request: ReleaseCallback | None = None,
        complete: bool | None = None,
    ) -> UploadInfo:
        """PATCH: check the offset and any declared length under the lock, store the body, report progress.

        `complete` is the resumable-upload draft's `Upload-Complete` (None for tus): then a complete upload
        takes no more requests (`UploadCompleted`), and True ends the upload where the body ends."""
        async with self.lock(upload_id, on_release_request=on_release_request):
            info = await self.load(upload_id, caller)
            if info.is_final:
                raise Forbidden("final uploads cannot be PATCHed")
            if info.stopped:
                raise BadRequest("upload has been stopped by server")
            if offset != info.offset:
                raise OffsetMismatch(
                    f"Upload-Offset {offset} does not match the upload's offset {info.offset}",
                    expected=info.offset,
                    provided=offset,
                )
            if complete is not None and info.is_complete:
                raise UploadCompleted("the upload is already complete")
            declares_length = new_length is not None and self._check_deferred_length(info, new_length, caller)
            length = new_length if declares_length else info.length
            if length is None:
                cap = caller.size_cap
                limit = max(0, cap - info.offset) if cap is not None else MAX_INT
            else:
                limit = length - info.offset
            if content_length is not None and content_length > limit:
                raise TooLarge(f"body of {content_length} bytes exceeds the {limit} bytes left in the upload")
            if declares_length and length is not None:  # saved only once the request is known to be acceptable
                await self.finals.check_declared_length(info, length)
                await self.owner_bytes.hold(info, length)
                info.length = length
                await self.stores.core.save_info(info)
            body.limit = limit
            await self.write(info, body, checksum, caller)
            if complete and body.complete:
                await self.declare_end(info, caller)
            await self.hooks.emit("post-receive", info, caller.request)
        return info

    async def declare_end(self, info: UploadInfo, caller: Caller) -> None:
        """The client says the upload ends at its offset (the draft's `Upload-Complete: ?1`); under the lock."""
        if info.is_complete:
            return
        if info.length is not None:
            raise LengthMismatch(f"the upload ends at {info.offset} bytes, but its length is {info.length}")
        await self.finals.check_declared_length(info, info.offset)
        info.length = info.offset
        await self.stores.core.save_info(info)
        await self.finish(info, caller)

    def _check_deferred_length(self, info: UploadInfo, length: int, caller: Caller) -> bool:
        """Validate an `Upload-Length` sent on PATCH; True when it sets a deferred length (to be saved)."""
        if info.length is not None:
            if length != info.length:
                raise LengthMismatch("Upload-Length cannot change once set")
            return False
        if length < info.offset:
            raise LengthMismatch(f"Upload-Length {length} is less than the bytes already stored ({info.offset})")
        caller.check_size(length)
        return True

    async def write(self, info: UploadInfo, body: Body, checksum: Checksum | None, caller: Caller) -> int:
        """Store `body` at `info.offset` (the caller holds the lock); the new offset. Raises after
        storing what it may keep: the bytes that fit, a cut body's bytes, never a bad chunk's."""
        chunk_hasher: Hasher | None = None
        if checksum is not None:
            chunk_hasher = new_hasher(checksum.algorithm)
            body.hashers.append(chunk_hasher)
        digest_state = await self.digests.resume(info) if info.repr_digest else None
        if digest_state is not None:
            body.hashers.append(digest_state.hasher)

        def commit_check() -> None:
            if chunk_hasher is None or checksum is None:
                return
            if not body.complete:
                raise ChecksumMismatch("body ended before it was complete; the chunk was discarded")
            if chunk_hasher.digest() != checksum.digest:
                raise ChecksumMismatch(
                    f"{checksum.algorithm} checksum of the body does not match; the chunk was discarded"
                )

        start = info.offset
        task = asyncio.current_task()
        if task is not None:
            self.writers.add(task)  # shutdown waits for these, so a cut body is flushed before the loop stops
        running = self._running[info.id] = _Running(body)
        progress = self.hooks.progress_listener(info, caller.request)
        if progress is not None:
            body.listen(progress)
        try:
            written = await self.stores.core.write_chunk(info, body.chunks(), commit_check if checksum else None)
        except ChecksumMismatch:
            self.digests.forget(info.id)
            raise
        except InsufficientStorage as exc:
            # The bytes that fit are stored and count (the running digest was dropped: it is rebuilt from them).
            if exc.stored:
                info.offset = start + exc.stored
                info.storage[MODIFIED] = time.time()
            exc.message = f"no space left on the server; {info.offset} bytes are stored, resume from there later"
            raise
        finally:
            if task is not None:
                self.writers.discard(task)
            if self._running.get(info.id) is running:
                del self._running[info.id]
        info.offset = start + written
        if written:
            info.storage[MODIFIED] = time.time()  # Upload-Expires on this response counts from this write
        if digest_state is not None:
            await self.digests.advance(info.id, digest_state, info.offset)
        if info.is_complete:
            await self.finish(info, caller)
        elif body.stopped and running.answer is not None:
            # As tusd does: the bytes so far are kept and counted; this PATCH and every later one is refused.
            info.stopped = True
            await self.stores.core.save_info(info)
            raise rejection(running.answer, 400, f"upload has been stopped by server; {info.offset} bytes are stored")
        elif body.released:
            # As tusd does: the client must not take a cut body for a stored one. It learns the offset by HEAD.
            raise BadRequest(
                f"the body was cut short by another request for this upload; {info.offset} bytes are stored"
            )
        if body.overflow:
            raise TooLarge("body is longer than the room left in the upload; the bytes that fit were stored")
        return info.offset

    def _stop_requested(self, upload_id: str, answer: Mapping[str, Any]) -> None:
        """A post-receive hook said StopUpload: end the PATCH storing this upload's body, or, when none runs
        here, mark the upload stopped under its lock (which also asks a PATCH in another process to let go)."""
        running = self._running.get(upload_id)
        if running is not None:
            running.answer = answer
            running.body.stop()
            return
        task = asyncio.create_task(self._mark_stopped(upload_id))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _mark_stopped(self, upload_id: str) -> None:
        try:
            async with self.lock(upload_id):
                info = await self.stores.core.get_info(upload_id)
                if not info.stopped and not info.is_complete:
                    info.stopped = True
                    await self.stores.core.save_info(info)
        except Exception as exc:  # noqa: BLE001 - gone, locked or unreachable: the next answer tries again
            log.warning("could not mark upload %s stopped: %s", upload_id, exc)

    # -- the end of an upload ------------------------------------------------------------------

    async def finish(self, info: UploadInfo, caller: Caller) -> None:
        """The last byte is stored: verify the declared whole-file digest, wake finals waiting on it."""
        if info.repr_digest and not info.is_final:
            if not await self.digests.verify(info):
                await self.ledger.discard(info)
                raise ChecksumMismatch("the file does not match its Repr-Digest; the upload was discarded")
        await self.ledger.release(info)
        if info.is_partial:
            await self.assembler.wake(info.id)
        await self._finished(info, caller.request)

    async def _finished(self, info: UploadInfo, request: Request | None = None, linked: bool = False) -> None:
        """A complete upload (written, assembled, or `linked` by instant upload, which indexed it and
        has nothing left to decide): index its verified digest, run the finish hooks."""
        if not linked:
            if info.repr_digest and self.settings.instant_upload_enabled:
                await self.instant.remember(info)
            await self.hooks.pre_finish(info, request)
        await self.hooks.emit("post-finish", info, request)

    async def terminate(self, upload_id: str, caller: Caller) -> UploadInfo:
        """DELETE: remove the upload under its lock (a running PATCH is asked to let go first)."""
        async with self.lock(upload_id):
            info = await self.stores.core.get_info(upload_id)
            caller.authorize(info)
            await self.ledger.remove(info)
        await self.hooks.emit("post-terminate", info, caller.request)
        return info
