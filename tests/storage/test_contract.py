"""One suite for every store: direct async calls, each test wrapped in asyncio.run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tusserver.errors import ChecksumMismatch, UploadGone, UploadNotFound
from tusserver.models import UploadInfo
from tusserver.storage.base import Concatenatable, Linkable, Listable, Store, Terminatable
from tusserver.storage.ids import new_upload_id
from tusserver.storage.local import LocalStore
from tusserver.storage.memory import MemoryStore

# Typing-level conformance: mypy fails here if a backend misses a method of the protocols.
_local: Store = LocalStore(Path("unused"))
_memory: Store = MemoryStore()
_t1: Terminatable = LocalStore(Path("unused"))
_t2: Terminatable = MemoryStore()

StoreFactory = Callable[[Path], Store]


@pytest.fixture(params=["memory", "local"])
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    if request.param == "memory":
        return lambda _: MemoryStore()
    return lambda path: LocalStore(path / "store")


def run(factory: StoreFactory, tmp_path: Path, body: Callable[[Store], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        store = factory(tmp_path)
        await store.prepare()
        try:
            return await body(store)
        finally:
            await store.aclose()

    return asyncio.run(main())


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read_all(store: Store, info: UploadInfo, start: int = 0, end: int | None = None) -> bytes:
    out = b""
    async for chunk in store.read(info, start, info.offset if end is None else end):
        out += chunk
    return out


async def new(store: Store, length: int | None = 10, **kwargs: Any) -> UploadInfo:
    info = UploadInfo(id=new_upload_id(), length=length, **kwargs)
    await store.create(info)
    return await store.get_info(info.id)


def test_store_has_every_capability(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store(tmp_path)
    for proto in (Store, Terminatable, Concatenatable, Listable, Linkable):
        assert isinstance(store, proto), proto


def test_create_and_get(make_store: StoreFactory, tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        info = await new(store, 10, metadata={"filename": "YS50eHQ=", "flag": None}, owner="alice")
        assert (info.length, info.offset, info.metadata, info.owner) == (
            10, 0, {"filename": "YS50eHQ=", "flag": None}, "alice",
        )  # fmt: skip
        assert not info.is_complete

    run(make_store, tmp_path, body)


@pytest.mark.parametrize("upload_id", ["0" * 32, "../../etc/passwd", "", "a" * 65, "x.info"])
def test_unknown_ids(make_store: StoreFactory, tmp_path: Path, upload_id: str) -> None:
    async def body(store: Store) -> None:
        with pytest.raises(UploadNotFound):
            await store.get_info(upload_id)

    run(make_store, tmp_path, body)


def test_write_append_and_read(make_store: StoreFactory, tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        info = await new(store, 10)
        assert await store.write_chunk(info, chunks(b"ab", b"", b"cd")) == 4
        info = await store.get_info(info.id)
        assert info.offset == 4
        assert await store.write_chunk(info, chunks(b"efghij")) == 6
        info = await store.get_info(info.id)
        assert info.offset == 10 and info.is_complete
        assert await read_all(store, info) == b"abcdefghij"
        assert await read_all(store, info, 3, 7) == b"defg"

    run(make_store, tmp_path, body)


def test_big_write_crosses_buffers(make_store: StoreFactory, tmp_path: Path) -> None:
    data = bytes(range(256)) * 20000  # ~5 MB, more than the write buffer

    async def body(store: Store) -> None:
        info = await new(store, len(data))
        parts = [data[i : i + 65536] for i in range(0, len(data), 65536)]
        assert await store.write_chunk(info, chunks(*parts)) == len(data)
        info = await store.get_info(info.id)
        assert await read_all(store, info) == data

    run(make_store, tmp_path, body)


def test_failed_commit_check_discards_the_chunk(make_store: StoreFactory, tmp_path: Path) -> None:
    def reject() -> None:
        raise ChecksumMismatch("nope")

    async def body(store: Store) -> None:
        info = await new(store, 10)
        await store.write_chunk(info, chunks(b"abc"))
        info = await store.get_info(info.id)
        with pytest.raises(ChecksumMismatch):
            await store.write_chunk(info, chunks(b"def"), reject)
        info = await store.get_info(info.id)
        assert info.offset == 3
        assert await read_all(store, info) == b"abc"
        assert await store.write_chunk(info, chunks(b"xyz"), lambda: None) == 3

    run(make_store, tmp_path, body)


def test_stream_error_keeps_what_was_written(make_store: StoreFactory, tmp_path: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"abc"
        raise ConnectionError("client went away")

    async def body(store: Store) -> None:
        info = await new(store, 10)
        with pytest.raises(ConnectionError):
            await store.write_chunk(info, broken())
        info = await store.get_info(info.id)
        assert info.offset in (0, 3)  # never more than was sent, never garbage
        assert await read_all(store, info) == b"abc"[: info.offset]

    run(make_store, tmp_path, body)


def test_save_info_sets_deferred_length(make_store: StoreFactory, tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        info = await new(store, None)
        assert info.length is None
        info.length = 7
        await store.save_info(info)
        assert (await store.get_info(info.id)).length == 7

    run(make_store, tmp_path, body)


def test_terminate_leaves_a_tombstone(make_store: StoreFactory, tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        assert isinstance(store, Terminatable)
        info = await new(store, 3)
        await store.write_chunk(info, chunks(b"abc"))
        await store.terminate(info.id)
        with pytest.raises(UploadGone):
            await store.get_info(info.id)
        assert store.tombstone_time(info.id) is not None
        await store.forget_tombstone(info.id)
        with pytest.raises(UploadNotFound):
            await store.get_info(info.id)
        assert store.tombstone_time(info.id) is None

    run(make_store, tmp_path, body)


def test_list_ids(make_store: StoreFactory, tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        assert isinstance(store, Listable)
        a, b = await new(store), await new(store)
        ids = [i async for i in store.list_ids()]
        assert sorted(ids) == sorted([a.id, b.id])

    run(make_store, tmp_path, body)


def test_concatenate(make_store: StoreFactory, tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        assert isinstance(store, Concatenatable)
        p1, p2 = await new(store, 3, concat="partial"), await new(store, 2, concat="partial")
        await store.write_chunk(p1, chunks(b"abc"))
        await store.write_chunk(p2, chunks(b"de"))
        final = await new(store, 5, concat="final", parts=[p1.id, p2.id])
        assert not final.is_complete
        await store.concatenate(final, [await store.get_info(p1.id), await store.get_info(p2.id)])
        final = await store.get_info(final.id)
        assert final.is_complete and await read_all(store, final) == b"abcde"

    run(make_store, tmp_path, body)


def test_link_shares_bytes_and_survives_deleting_the_source(make_store: StoreFactory, tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        assert isinstance(store, Linkable) and isinstance(store, Terminatable)
        src = await new(store, 3)
        await store.write_chunk(src, chunks(b"abc"))
        src = await store.get_info(src.id)
        target = await new(store, 3)
        await store.link(src, target)
        await store.terminate(src.id)
        target = await store.get_info(target.id)
        assert target.offset == 3 and await read_all(store, target) == b"abc"

    run(make_store, tmp_path, body)
