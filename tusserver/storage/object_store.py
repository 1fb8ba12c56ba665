"""What the object stores (S3, Azure, GCS) share, so each store module keeps only what its service does
differently.

`ObjectStore` runs the blocking SDK calls in a pool of its own (not the loop's default pool, 5 threads
on 2 cores: the parts in flight of many uploads share it). `receive_parts` is the one PATCH body loop
the three stores run around a `PartWriter`: a full spool disk keeps what was received (answered 507
with `stored`), a `commit_check` runs before anything counts, and only then the store commits.
`ranged_reads` is the download loop of the stores that read by byte ranges, `ids_in` the listing of
upload ids from record and tombstone names.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from functools import partial
from typing import Any, ClassVar

from ..errors import InsufficientStorage, TooLarge, is_out_of_space
from ..models import UploadInfo
from ..types import ChunkStream
from .base import CommitCheck, Store
from .ids import check_upload_id
from .part_writer import PartWriter

THREADS = 32  # SDK calls at once per process (boto3's connection pool is sized to match)

ErrorMap = Callable[[str], AbstractContextManager[None]]
"""A store's `map_*_errors`: the SDK's exceptions inside it leave as tusserver errors."""


class ObjectStore(Store):
    thread_name: ClassVar[str] = "tusserver-objects"
    prefix: str  # of every object name this store writes (`--<store>-prefix`)
    _executor: ThreadPoolExecutor | None = None

    def _key(self, upload_id: str, suffix: str = "") -> str:
        """The name of the upload's object with `suffix` (".info", ".gone", ...); the id is checked first."""
        return f"{self.prefix}{check_upload_id(upload_id)}{suffix}"

    def _sets_prefix(self, name: str) -> str:
        return f"{self.prefix}.sets/{name}/"

    async def _run(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(THREADS, thread_name_prefix=self.thread_name)
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args, **kwargs))

    async def aclose(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None


def planned_size(
    info: UploadInfo, plan: Callable[[int | None, int, int], int], preferred: int, max_size: int, too_large: str
) -> int:
    """The upload's part (block) size, planned from its length, or `TooLarge` with `too_large` as reason."""
    try:
        return plan(info.length, preferred, min(info.max_length or max_size, max_size))
    except ValueError:
        raise TooLarge(too_large) from None


async def receive_parts(
    info: UploadInfo,
    writer: PartWriter,
    chunks: ChunkStream,
    commit_check: CommitCheck | None,
    errors: ErrorMap,
    commit: Callable[[int, bool], Awaitable[None]],
    reloaded: int = 0,
) -> int:
    """Feed the body to `writer`, then `commit(received, finishing)`; the bytes received are returned.

    `reloaded` bytes were put into the writer before the body (a short tail read back) and do not
    count as received. If `commit_check` raises, `commit` is never called: the store's bytes of this
    call do not count."""
    full: OSError | None = None
    with errors(info.id):
        try:
            async for chunk in chunks:
                await writer.add(chunk)
        except OSError as exc:
            if not is_out_of_space(exc):
                raise
            full = exc  # the local spool disk is full: keep what was received, answer 507
        await writer.drain()
    received = writer.total - reloaded
    if full is not None and commit_check is not None:
        raise InsufficientStorage("no space left on the server to receive the body") from full
    if commit_check is not None:
        commit_check()
    await commit(received, info.length is not None and info.offset + received == info.length)
    if full is not None:
        error = InsufficientStorage()
        error.stored = received
        raise error from full
    return received


async def ranged_reads(
    fetch: Callable[[int, int], Awaitable[bytes]], start: int, end: int, piece: int, errors: ErrorMap, upload_id: str
) -> AsyncIterator[bytes]:
    """`fetch(position, size)` in pieces of `piece` bytes, one piece in memory at a time."""
    position = start
    while position < end:
        with errors(upload_id):
            data = await fetch(position, min(piece, end - position))
        if not data:
            return
        position += len(data)
        yield data


def ids_in(names: Iterable[str], prefix: str) -> Iterable[str]:
    """The upload ids that own a record or a tombstone among these object names."""
    for key in names:
        name = key[len(prefix) :]
        for suffix in (".info", ".gone"):
            if name.endswith(suffix):
                yield name[: -len(suffix)]
