"""Whole-file `Repr-Digest` verification, computed while bytes stream in.

The running hash of an upload is kept in memory between PATCHes, keyed by the offset it covers.
When it is missing or stale (server restarted, another worker took the previous PATCH) it is
rebuilt by reading the stored bytes once, so verification stays right across resumes and restarts.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from ..models import UploadInfo
from ..storage.base import Store
from .checksum import Hasher
from .headers import ReprDigest, parse_repr_digest

_HASHES = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


def new_digest_hasher(algorithm: str) -> Hasher:
    """A hasher for a `Repr-Digest` algorithm ("sha-256" or "sha-512")."""
    return _HASHES[algorithm]()


def format_repr_digest(digest: ReprDigest) -> str:
    return f"{digest.algorithm}=:{base64.b64encode(digest.digest).decode()}:"


@dataclass
class DigestState:
    hasher: Hasher
    offset: int


class DigestTracker:
    def __init__(self, store: Store, max_entries: int = 4096) -> None:
        self._store = store
        self._states: dict[str, DigestState] = {}
        self._max_entries = max_entries

    async def resume(self, info: UploadInfo) -> DigestState:
        declared = parse_repr_digest(info.repr_digest)
        assert declared is not None
        state = self._states.pop(info.id, None)
        if state is None or state.offset != info.offset:
            hasher = _HASHES[declared.algorithm]()
            async for chunk in self._store.read(info, 0, info.offset):
                hasher.update(chunk)
            state = DigestState(hasher, info.offset)
        return state

    def advance(self, upload_id: str, state: DigestState, offset: int) -> None:
        state.offset = offset
        if len(self._states) >= self._max_entries:
            self._states.pop(next(iter(self._states)))
        self._states[upload_id] = state

    def forget(self, upload_id: str) -> None:
        self._states.pop(upload_id, None)

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
        self._states.pop(info.id, None)
        return state.hasher.digest() == declared.digest

    def __len__(self) -> int:
        return len(self._states)
