"""Whole-file `Repr-Digest` verification, computed while bytes stream in.

The running hash of an upload is kept between PATCHes, keyed by the offset it covers: in this
process's memory, and, when several instances share the uploads (`--locker redis`), saved to Redis
after each PATCH so that whichever instance takes the next one continues the hash
(`hashing.resumable` makes OpenSSL's SHA state portable). When no usable state covers the upload's
offset (a restart, a state from another OpenSSL build, a PATCH cut short) it is rebuilt by reading
the stored bytes once, so verification stays right across resumes, restarts and instances.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ..hashing import resumable as sha_state
from ..hashing.algorithms import DIGEST_ALGORITHMS, Hasher
from ..hashing.repr_digest import parse_repr_digest
from ..models import UploadInfo
from ..state.digest_states import DigestStates
from ..storage.base import Store

log = logging.getLogger("tusserver")


@dataclass
class DigestState:
    hasher: Hasher
    offset: int


class DigestTracker:
    def __init__(self, store: Store, max_entries: int = 4096, shared: DigestStates | None = None) -> None:
        self._store = store
        self._states: dict[str, DigestState] = {}
        self._max_entries = max_entries
        # Shared states need hashers that can be saved; without libcrypto they stay per process.
        self._shared = shared if shared is not None and sha_state.available() else None
        self._pending: set[asyncio.Task[None]] = set()

    def _new_hasher(self, algorithm: str) -> Hasher:
        if self._shared is not None:
            return sha_state.ResumableSha(algorithm)
        return DIGEST_ALGORITHMS[algorithm]()

    async def resume(self, info: UploadInfo) -> DigestState:
        declared = parse_repr_digest(info.repr_digest)
        assert declared is not None
        state = self._states.pop(info.id, None)
        if state is None or state.offset != info.offset:
            state = await self._load_shared(info, declared.algorithm)
        if state is None:
            hasher = self._new_hasher(declared.algorithm)
            async for chunk in self._store.read(info, 0, info.offset):
                hasher.update(chunk)
            state = DigestState(hasher, info.offset)
        return state

    async def _load_shared(self, info: UploadInfo, algorithm: str) -> DigestState | None:
        if self._shared is None:
            return None
        if info.offset == 0:
            return DigestState(self._new_hasher(algorithm), 0)  # nothing to continue (or to read)
        try:
            saved = await self._shared.load(info.id)
        except Exception as exc:  # noqa: BLE001 - Redis down for a moment: re-reading is slower, not wrong
            log.warning("loading the digest state of %s failed, re-reading the upload: %s", info.id, exc)
            return None
        if saved is None or saved[0] != info.offset:
            return None
        hasher = sha_state.ResumableSha.restore(algorithm, saved[1])
        return None if hasher is None else DigestState(hasher, info.offset)

    async def advance(self, upload_id: str, state: DigestState, offset: int) -> None:
        """Remember `state` as covering the upload's first `offset` bytes (before its lock is let go)."""
        state.offset = offset
        if len(self._states) >= self._max_entries:
            self._states.pop(next(iter(self._states)))
        self._states[upload_id] = state
        if self._shared is not None and isinstance(state.hasher, sha_state.ResumableSha):
            try:
                await self._shared.save(upload_id, offset, state.hasher.save())
            except Exception as exc:  # noqa: BLE001 - the next instance re-reads instead
                log.warning("saving the digest state of %s failed: %s", upload_id, exc)

    def forget(self, upload_id: str) -> None:
        self._states.pop(upload_id, None)
        if self._shared is not None:
            # In the background: callers are sync, and a stale state is harmless (it names its offset).
            task = asyncio.get_running_loop().create_task(self._delete_shared(upload_id))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _delete_shared(self, upload_id: str) -> None:
        assert self._shared is not None
        try:
            await self._shared.delete(upload_id)
        except Exception as exc:  # noqa: BLE001 - it expires on its own
            log.warning("deleting the digest state of %s failed: %s", upload_id, exc)

    async def verify(self, info: UploadInfo) -> bool:
        """After the last byte: does the stored file have the declared digest?

        The running hash is used when it covers exactly the stored bytes; otherwise (an empty upload,
        a state evicted or held by another worker) the stored bytes are hashed again.
        """
        declared = parse_repr_digest(info.repr_digest)
        if declared is None:
            return False
        state = self._states.get(info.id)
        if state is None or state.offset != info.offset:
            state = await self.resume(info)
        self.forget(info.id)
        return state.hasher.digest() == declared.digest

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending))
        if self._shared is not None:
            await self._shared.aclose()

    def __len__(self) -> int:
        return len(self._states)
