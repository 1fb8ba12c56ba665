"""The store contract: what every storage backend must do, and the optional capabilities it may have.

`Store` is the minimum every backend implements. Termination, concatenation, listing (for the expiry
sweeper), linking (instant upload), shared upload sets and placement (a hook's `ChangeFileInfo.Storage`)
are separate runtime-checkable Protocols;
`composer.StoreComposer` checks them once, in `wiring.build`, and everything above asks the composer.

Every method is async (a backend that blocks runs its calls in a thread), so no store call stalls the
event loop, the expiry sweep included. Errors leave a store only as `TusError`s (UploadNotFound,
UploadGone, InsufficientStorage, StorageError): each backend maps its own in one context manager.

Duties every backend has, checked by `tests/storage/test_contract.py`:
- **Offset**: the stored bytes are the truth. `get_info` computes `offset` from them, never from a
  copy in the record, so a crash between two writes cannot make them disagree.
- **Last write**: `get_info` sets `info.storage[MODIFIED]` to when bytes were last stored (epoch
  seconds; `info.created` before the first byte). Expiry counts from it. It is set on every load, so a
  copy that `save_info` happens to persist is never read back as the truth.
- **Commit check**: `write_chunk` runs `commit_check` after the last byte; if it raises, every byte of
  that call is discarded (the offset stays where it was) and the exception propagates.
- **Partial writes count**: without a `commit_check`, bytes stored before the stream broke (client
  gone, cancellation, a full disk) stay and count. On a full disk `InsufficientStorage.stored` says
  how many were kept.
- **Records are atomic**: `create` and `save_info` never leave a half-written record.

A new backend is one module: a class with these methods and the class attributes below, and
`from_settings` building its own config object from `Settings`. Register it by name in
`storage/__init__.py` (in-repo) or under the `tusserver.stores` entry-point group (a plug-in), and add
one line to the contract-test parameters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, ClassVar, Protocol, Self, runtime_checkable

from ..models import UploadInfo
from ..types import ChunkStream

if TYPE_CHECKING:
    from ..config import Settings
    from .upload_sets import UploadSets

CommitCheck = Callable[[], None]
MODIFIED = "mtime"  # the `info.storage` key `get_info` must set (see the module docstring)
# The largest piece `read` yields. A download reads its next piece only once the socket has taken the
# last one (http_protocol._DrainingCycle), so a client that stops reading leaves about one piece in the
# server until --write-timeout: with 1 MiB pieces 1,000 stalled GETs held 2.4 GB (issue #22).
READ_PIECE_BYTES = 256 * 1024


@runtime_checkable
class Store(Protocol):
    # What the rest of the server needs to know about the backend, answered by the class, not by name.
    default_locker: ClassVar[str] = "memory"  # the locker used when --locker is not given
    shares_disk_index: ClassVar[bool] = False  # the digest index lives in files under --data-dir
    one_process: ClassVar[bool] = False  # uploads live in this process only: refuses --workers > 1
    max_upload_bytes: ClassVar[int] = 0  # the largest upload the backend can hold; 0: no limit of its own

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """Build the backend from `Settings` (via its own config object); connect later, in `prepare`."""
        ...

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        """Raise `SettingsError` naming the option when the backend cannot run with `settings`."""
        return None

    async def prepare(self) -> None:
        """Check the backend works (directory writable, bucket reachable) so a bad setup fails at start.

        The default (for a subclass) has nothing to check."""
        return None

    async def aclose(self) -> None:
        """Release connections and threads; the store is not used afterwards. The default has none."""
        return None

    async def create(self, info: UploadInfo) -> None:
        """Persist a new, empty upload. The id is fresh; nothing exists under it yet.

        A final upload (`info.is_final`) has no bytes until `Concatenatable.concatenate` makes them."""
        ...

    async def get_info(self, upload_id: str) -> UploadInfo:
        """The upload's record with `offset` taken from the stored bytes and `storage[MODIFIED]` set.

        Raises UploadNotFound for an unknown (or malformed) id and UploadGone for a terminated one.
        """
        ...

    async def save_info(self, info: UploadInfo) -> None:
        """Rewrite the record (deferred length set, final length fixed); atomic: never half-written."""
        ...

    async def write_chunk(self, info: UploadInfo, chunks: ChunkStream, commit_check: CommitCheck | None = None) -> int:
        """Append `chunks` at `info.offset`; return the number of bytes now durably stored from this call.

        The caller holds the upload's lock and caps the stream. When `commit_check` is given it runs
        after the last byte; if it raises, the bytes of this call are discarded (the offset stays
        where it was) and it re-raises. `info` itself is not changed: the caller moves the offset.
        """
        ...

    def read(self, info: UploadInfo, start: int, end: int) -> AsyncIterator[bytes]:
        """The stored bytes in [start, end), streamed in pieces of at most `READ_PIECE_BYTES`."""
        ...


@runtime_checkable
class Terminatable(Protocol):
    async def terminate(self, upload_id: str) -> None:
        """Remove the upload's bytes and record, leaving a tombstone: later lookups raise UploadGone."""
        ...

    async def tombstone_time(self, upload_id: str) -> float | None:
        """When the upload was terminated (epoch seconds), or None if there is no tombstone."""
        ...

    async def forget_tombstone(self, upload_id: str) -> None:
        """Drop the tombstone; later lookups raise UploadNotFound."""
        ...


@runtime_checkable
class Concatenatable(Protocol):
    async def concatenate(self, final: UploadInfo, parts: list[UploadInfo]) -> None:
        """Assemble the parts' bytes into `final`; until it returns, `final` reads as incomplete."""
        ...


@runtime_checkable
class Listable(Protocol):
    def list_ids(self) -> AsyncIterator[str]:
        """Every upload id the store holds, tombstones included (for the expiry sweeper)."""
        ...


@runtime_checkable
class Linkable(Protocol):
    async def link(self, source: UploadInfo, target: UploadInfo) -> None:
        """Make the created `target` hold the same bytes as the finished `source` without copying them."""
        ...


@runtime_checkable
class SharesUploadSets(Protocol):
    def upload_sets(self, name: str, counted: bool) -> UploadSets:
        """Named sets of upload ids kept beside the data, so every worker sharing the store shares them.

        A store without this capability gets in-memory sets (right for one process only)."""
        ...


@runtime_checkable
class Placeable(Protocol):
    """A store that says where an upload's bytes are, and can put a new upload's bytes where a pre-create
    hook asks (tusd's `ChangeFileInfo.Storage`). The location is kept in the upload's record
    (`info.storage`), so every later request, on any instance and after a restart, finds the bytes there."""

    async def place(self, info: UploadInfo, storage: Mapping[str, object]) -> None:
        """Check the location `storage` asks for (`storage/placement.py` and the store's own checks: not
        taken, nothing in the way) and note it in `info.storage` for `create`; raise `PlacementRefused`
        with a one-line reason otherwise. `create` fails the same way if it was taken in between."""
        ...

    def location(self, info: UploadInfo) -> dict[str, str]:
        """Where the bytes are, as tusd's hook payloads say it (`Path` on disk; `Bucket` and `Key`)."""
        ...
