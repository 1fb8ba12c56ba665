"""The store contract (tests/storage/contract.py) run against every in-repo store, and each store's own checks.

`STORES` is the contract-test parameter list: a new store is one line here (or, for a store defined
elsewhere, a `StoreContract` subclass with its own `store` fixture: see test_example_store.py).
Run it with `.venv/bin/pytest tests/storage -q`.
"""

from __future__ import annotations

import asyncio
import errno
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cloud_support import AzureServer, GCSServer
from tests.s3_support import S3Server
from tests.storage.contract import StoreContract, chunks, new_upload, read_all, run
from tusserver.errors import InsufficientStorage, UploadGone, UploadNotFound
from tusserver.models import UploadInfo
from tusserver.storage import local as local_module
from tusserver.storage.azure import AzureStore
from tusserver.storage.base import Store
from tusserver.storage.composer import StoreComposer
from tusserver.storage.gcs import GCSStore
from tusserver.storage.ids import new_upload_id
from tusserver.storage.local import LocalStore
from tusserver.storage.memory import MemoryStore
from tusserver.storage.s3.store import S3Store

# Typing-level conformance: a missing method fails mypy, not just a test.
_local: Store = LocalStore(Path("/nonexistent"))
_memory: Store = MemoryStore()


def _s3(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    server: S3Server = request.getfixturevalue("s3_server")
    return S3Store(server.client(), server.bucket, prefix="contract/")


def _azure(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    server: AzureServer = request.getfixturevalue("azure_server")
    return AzureStore(server.container_client(), prefix="contract/")


def _gcs(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    server: GCSServer = request.getfixturevalue("gcs_server")
    return GCSStore(server.client().bucket(server.bucket), prefix="contract/")  # type: ignore[attr-defined]


STORES: dict[str, Callable[[pytest.FixtureRequest, Path], Store]] = {
    "memory": lambda request, tmp_path: MemoryStore(),
    "local": lambda request, tmp_path: LocalStore(tmp_path / "data"),
    # small buffers: several writes pass through the thread per chunk
    "local-thread": lambda request, tmp_path: LocalStore(
        tmp_path / "data", write_buffer_bytes=64 * 1024, write_in_thread=True
    ),
    "s3": _s3,
    "azure": _azure,
    "gcs": _gcs,
}


class TestInRepoStores(StoreContract):
    @pytest.fixture(params=list(STORES))
    def store(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
        yield STORES[request.param](request, tmp_path)

    def test_every_optional_capability(self, store: Store) -> None:
        """The in-repo stores have them all: the server advertises every extension with any of them."""
        composer = StoreComposer.of(store)
        for name in ("terminater", "concater", "lister", "linker"):
            assert getattr(composer, name) is store, name
        # Stores shared by several processes keep the upload sets beside the data; one-process ones in memory.
        assert (composer.set_keeper is None) == store.one_process


def test_local_store_offset_is_the_file_size(tmp_path: Path) -> None:
    """After a crash the data file is the truth: bytes appended outside any request count."""

    async def go() -> None:
        store = LocalStore(tmp_path)
        info = await new_upload(store, 10)
        with open(tmp_path / info.id, "ab") as fh:
            fh.write(b"1234")
        assert (await store.get_info(info.id)).offset == 4
        assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())

    run(go)


def test_local_store_in_thread_keeps_every_submitted_write_when_cut(tmp_path: Path) -> None:
    """A body cut while a write runs in the thread: that write finishes before the file is closed,
    and every byte handed to the store before the cut is on disk, in order."""
    store = LocalStore(tmp_path / "data", write_buffer_bytes=64 * 1024, write_in_thread=True)
    data = os.urandom(64 * 1024 * 8)
    handed = 0
    cut = asyncio.Event()

    async def cut_after_five() -> AsyncIterator[bytes]:
        nonlocal handed
        for i in range(0, len(data), 64 * 1024):
            if i == 5 * 64 * 1024:
                cut.set()
                await asyncio.sleep(3600)  # the client stalls; the request gets cancelled
            handed += 64 * 1024
            yield data[i : i + 64 * 1024]

    async def scenario() -> UploadInfo:
        info = await new_upload(store, len(data))
        task = asyncio.create_task(store.write_chunk(info, cut_after_five()))
        await cut.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await store.get_info(info.id)

    info = asyncio.run(scenario())
    assert handed == 5 * 64 * 1024
    assert info.offset == handed
    assert (tmp_path / "data" / info.id).read_bytes() == data[:handed]


def test_local_store_uploads_writing_at_once_share_the_buffer_budget(tmp_path: Path) -> None:
    """One upload alone gathers `write_buffer_bytes` per disk write; many at once split the budget,
    so 64 uploads at once hold no more buffered bytes than the budget (memory stays flat)."""
    store = LocalStore(tmp_path / "data", write_buffer_bytes=1024 * 1024, write_buffer_total_bytes=2 * 1024 * 1024)
    seen: list[int] = []
    crowd = 8
    arrived = 0

    async def body(all_arrived: asyncio.Event | None) -> AsyncIterator[bytes]:
        nonlocal arrived
        if all_arrived is not None:  # hold every upload of the crowd until all are writing
            arrived += 1
            if arrived == crowd:
                seen.append(store._buffer_bytes())  # all eight are writing now
                all_arrived.set()
            await all_arrived.wait()
        else:
            seen.append(store._buffer_bytes())
        yield b"x" * 1000

    async def scenario() -> None:
        alone = await new_upload(store, 1000)
        await store.write_chunk(alone, body(None))
        infos = [await new_upload(store, 1000) for _ in range(crowd)]
        all_arrived = asyncio.Event()
        await asyncio.gather(*(store.write_chunk(i, body(all_arrived)) for i in infos))

    asyncio.run(scenario())
    assert seen[0] == 1024 * 1024  # alone: the whole per-upload buffer
    assert seen[1] == 256 * 1024  # eight at once: the 2 MiB budget split eight ways
    assert store._writing == 0


def test_local_store_many_slow_uploads_hold_no_more_than_the_budget(tmp_path: Path) -> None:
    """Bytes received but not yet on disk, summed over every upload writing at once, stay within the budget
    however many write: with more writers than budget / 64 KiB, a per-upload floor multiplied by the crowd
    was what held 2,000 slow uploads' bytes (about 45 MB against a 16 MiB budget)."""
    budget, crowd, piece, pieces = 256 * 1024, 64, 3 * 1024, 12  # a 4 KiB share each; pieces smaller than it
    store = LocalStore(tmp_path / "data", write_buffer_bytes=1024 * 1024, write_buffer_total_bytes=budget)
    handed: dict[str, int] = {}
    held: list[int] = []
    arrived = 0

    def not_on_disk() -> int:
        return sum(n - os.stat(store.data_path(upload_id)).st_size for upload_id, n in handed.items())

    async def slow_body(info: UploadInfo, all_arrived: asyncio.Event) -> AsyncIterator[bytes]:
        nonlocal arrived
        arrived += 1
        if arrived == crowd:
            all_arrived.set()
        await all_arrived.wait()  # every upload of the crowd is writing before any byte flows
        for _ in range(pieces):
            held.append(not_on_disk())
            handed[info.id] += piece
            yield b"x" * piece
            await asyncio.sleep(0)  # the other uploads get their next piece in between: all mid-body at once

    async def scenario() -> None:
        infos = [await new_upload(store, piece * pieces) for _ in range(crowd)]
        handed.update((info.id, 0) for info in infos)
        all_arrived = asyncio.Event()
        await asyncio.gather(*(store.write_chunk(info, slow_body(info, all_arrived)) for info in infos))

    asyncio.run(scenario())
    assert max(held) <= budget, f"{max(held)} bytes received and not yet written, budget {budget}"
    assert not_on_disk() == 0


# -- the local store on a full disk (ENOSPC simulated; tests/security/test_disk_full.py uses a real tmpfs) --


def _no_space() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("in_thread", [False, True], ids=["inline", "thread"])
def test_local_store_full_disk_keeps_and_counts_the_bytes_that_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_thread: bool
) -> None:
    store = LocalStore(tmp_path, write_buffer_bytes=64 * 1024, write_in_thread=in_thread)
    room = 100_000
    real = local_module._pwritev_all

    def disk_of(fd: int, buffers: list[bytes], position: int, total: int) -> int:
        if position + total <= room:
            return real(fd, buffers, position, total)
        fits = max(0, room - position)
        if fits:
            os.pwrite(fd, b"".join(buffers)[:fits], position)
        raise _no_space()

    monkeypatch.setattr(local_module, "_pwritev_all", disk_of)
    data = os.urandom(300_000)

    async def go() -> None:
        info = await new_upload(store, len(data))
        with pytest.raises(InsufficientStorage) as caught:
            await store.write_chunk(info, chunks(data))
        assert caught.value.stored == room
        info = await store.get_info(info.id)
        assert info.offset == room and (tmp_path / info.id).read_bytes() == data[:room]
        monkeypatch.setattr(local_module, "_pwritev_all", real)  # space freed: the client resumes
        await store.write_chunk(info, chunks(data[room:]))
        assert await read_all(store, await store.get_info(info.id)) == data

    run(go)


def test_local_store_failed_record_writes_leave_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path)

    def write_nothing(path: str, data: bytes, flags: int = 0) -> None:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o666))  # the file appears, its bytes do not fit
        raise _no_space()

    async def go() -> None:
        await store.prepare()
        existing = await new_upload(store, None, metadata={"name": "YQ=="})
        before = sorted(os.listdir(tmp_path))
        monkeypatch.setattr(local_module, "write_file", write_nothing)

        def pwrite_nothing(fd: int, data: bytes, position: int) -> None:
            raise _no_space()

        monkeypatch.setattr(local_module, "pwrite_all", pwrite_nothing)  # the marker is written in place
        with pytest.raises(InsufficientStorage):
            await store.create(UploadInfo(id=new_upload_id(), length=10))
        existing.length = 10
        with pytest.raises(InsufficientStorage):
            await store.save_info(existing)
        with pytest.raises(InsufficientStorage):  # the marker of a checksummed chunk
            await store.write_chunk(existing, chunks(b"abc"), lambda: None)
        assert sorted(os.listdir(tmp_path)) == before
        assert (await store.get_info(existing.id)).length is None  # the old record is intact

    run(go)


def test_local_store_terminate_needs_no_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path)

    def no_write(path: str, data: bytes, flags: int = 0) -> None:
        raise _no_space()

    real_replace = os.replace

    def no_rename_to_gone(src: str, dst: str) -> None:
        if str(dst).endswith(".gone"):
            raise _no_space()  # a directory that would have to grow
        real_replace(src, dst)

    async def go() -> None:
        kept = await new_upload(store, 3)
        await store.write_chunk(kept, chunks(b"abc"))
        dropped = await new_upload(store, 3)
        await store.write_chunk(dropped, chunks(b"abc"))
        monkeypatch.setattr(local_module, "write_file", no_write)
        await store.terminate(kept.id)
        with pytest.raises(UploadGone):
            await store.get_info(kept.id)
        assert os.path.getsize(tmp_path / f"{kept.id}.gone") == 0  # the record's space is freed too
        monkeypatch.setattr(os, "replace", no_rename_to_gone)
        await store.terminate(dropped.id)  # no tombstone possible: removed anyway (404 rather than 410)
        with pytest.raises(UploadNotFound):
            await store.get_info(dropped.id)
        assert sorted(os.listdir(tmp_path)) == [f"{kept.id}.gone"]

    run(go)


def test_local_store_failed_assembly_leaves_no_partial_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path)

    def half_copy(sources: list[str], target: str) -> None:
        with open(target, "wb") as out:
            out.write(b"half")
        raise _no_space()

    monkeypatch.setattr(local_module, "_concatenate_files", half_copy)

    async def go() -> None:
        part = await new_upload(store, 3, concat="partial")
        await store.write_chunk(part, chunks(b"abc"))
        final = await new_upload(store, 3, concat="final", parts=[part.id])
        with pytest.raises(InsufficientStorage):
            await store.concatenate(final, [await store.get_info(part.id)])
        assert not any(name.endswith(".assembling") for name in os.listdir(tmp_path))
        assert not (await store.get_info(final.id)).is_complete

    run(go)


def test_s3_store_full_spool_disk_is_507_and_sends_nothing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PATCH bodies are spooled to local temp storage before S3: a full temp disk is a 507, not a 500."""
    server: S3Server = request.getfixturevalue("s3_server")
    store = S3Store(server.client(), server.bucket, prefix="spool/")
    real = tempfile.TemporaryFile

    class FullSpool:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def write(self, data: bytes) -> int:
            raise _no_space()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    def full_spool(*args: Any, **kwargs: Any) -> Any:
        return FullSpool(real(*args, **kwargs))

    async def go() -> None:
        info = await new_upload(store, 6)
        await store.write_chunk(info, chunks(b"abc"))
        info = await store.get_info(info.id)
        monkeypatch.setattr(tempfile, "TemporaryFile", full_spool)
        with pytest.raises(InsufficientStorage):
            await store.write_chunk(info, chunks(b"def"))
        monkeypatch.setattr(tempfile, "TemporaryFile", real)
        info = await store.get_info(info.id)
        assert info.offset == 3
        await store.write_chunk(info, chunks(b"def"))
        assert await read_all(store, await store.get_info(info.id)) == b"abcdef"

    run(go)
