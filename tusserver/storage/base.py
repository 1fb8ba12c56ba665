"""What a storage backend must do, and the optional capabilities it may have.

`Store` is the minimum every backend implements. Termination, concatenation and listing (for the
expiry sweeper) are separate runtime-checkable Protocols: `create_app` checks them once and the
advertised `Tus-Extension` follows from the result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol, runtime_checkable

from ..models import UploadInfo
from ..types import ChunkStream

CommitCheck = Callable[[], None]


@runtime_checkable
class Store(Protocol):
    async def prepare(self) -> None:
        """Check the backend works (directory writable, bucket reachable) so a bad setup fails at start."""

    async def aclose(self) -> None: ...

    async def create(self, info: UploadInfo) -> None:
        """Persist a new, empty upload. The id is fresh; nothing exists under it yet."""

    async def get_info(self, upload_id: str) -> UploadInfo:
        """The upload's record with `offset` taken from the stored bytes.

        Raises UploadNotFound for an unknown id and UploadGone for a terminated or expired one.
        """

    async def save_info(self, info: UploadInfo) -> None:
        """Rewrite the record (deferred length set, digest verified); atomic: never half-written."""

    async def write_chunk(self, info: UploadInfo, chunks: ChunkStream, commit_check: CommitCheck | None = None) -> int:
        """Append `chunks` at `info.offset`; return the number of bytes now durably stored from this call.

        The caller caps the stream. When `commit_check` is given it runs after the last byte; if it
        raises, the bytes of this call are discarded (the offset stays where it was) and it re-raises.
        """

    def read(self, info: UploadInfo, start: int, end: int) -> AsyncIterator[bytes]:
        """The stored bytes in [start, end), streamed."""


@runtime_checkable
class Terminatable(Protocol):
    async def terminate(self, upload_id: str) -> None:
        """Remove the upload's bytes and record, leaving a tombstone: later lookups raise UploadGone."""

    def tombstone_time(self, upload_id: str) -> float | None:
        """When the upload was terminated, or None if there is no tombstone."""

    async def forget_tombstone(self, upload_id: str) -> None:
        """Drop the tombstone; later lookups raise UploadNotFound."""


@runtime_checkable
class Concatenatable(Protocol):
    async def concatenate(self, final: UploadInfo, parts: list[UploadInfo]) -> None:
        """Assemble the parts' bytes into `final`; until it returns, `final` reads as incomplete."""


@runtime_checkable
class Listable(Protocol):
    def list_ids(self) -> AsyncIterator[str]:
        """Every upload id the store holds (for the expiry sweeper)."""


@runtime_checkable
class Linkable(Protocol):
    async def link(self, source: UploadInfo, target: UploadInfo) -> None:
        """Make `target` hold the same bytes as the finished `source` without copying them."""
