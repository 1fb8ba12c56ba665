"""The store contract as tests (storage/base.py says what each method must guarantee).

`StoreContract` is not collected by itself: a test module subclasses it and provides a `store`
fixture (tests/storage/test_contract.py for the in-repo stores, test_example_store.py for a store
defined in a test). Capabilities a store lacks are skipped, as the server switches them off.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable

import pytest

from tusserver.errors import ChecksumMismatch, PlacementRefused, UploadGone, UploadNotFound
from tusserver.models import UploadInfo
from tusserver.storage.base import MODIFIED, Store
from tusserver.storage.composer import StoreComposer
from tusserver.storage.ids import new_upload_id


def run(coro_fn: Callable[[], object]) -> None:
    asyncio.run(coro_fn())  # type: ignore[arg-type]


async def chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def new_upload(store: Store, length: int | None, **kwargs: object) -> UploadInfo:
    await store.prepare()
    info = UploadInfo(id=new_upload_id(), length=length, **kwargs)  # type: ignore[arg-type]
    await store.create(info)
    return await store.get_info(info.id)


async def read_all(store: Store, info: UploadInfo, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([c async for c in store.read(info, start, info.offset if end is None else end)])


async def written_partials(store: Store, pieces: list[bytes], piece_size: int = 64 * 1024) -> list[UploadInfo]:
    """One finished partial upload per piece, read back from the store: what a concatenation takes."""
    parts = []
    for piece in pieces:
        part = await new_upload(store, len(piece), concat="partial")
        await store.write_chunk(part, chunks(piece, piece_size))
        parts.append(await store.get_info(part.id))
    return parts


def capabilities(store: Store, *needed: str) -> StoreComposer:
    """The store's composer; the test is skipped when a capability it needs is missing."""
    composer = StoreComposer.of(store)
    missing = [name for name in needed if getattr(composer, name) is None]
    if missing:
        pytest.skip(f"the store has no {', '.join(missing)}")
    return composer


class StoreContract:
    def test_create_write_resume_read(self, store: Store) -> None:
        data = os.urandom(300_000)

        async def go() -> None:
            info = await new_upload(store, len(data), metadata={"filename": "YQ=="}, owner="alice")
            assert info.offset == 0 and info.metadata == {"filename": "YQ=="} and info.owner == "alice"
            assert await store.write_chunk(info, chunks(data[:100_000])) == 100_000
            info = await store.get_info(info.id)
            assert info.offset == 100_000 and not info.is_complete
            await store.write_chunk(info, chunks(data[100_000:]))
            info = await store.get_info(info.id)
            assert info.is_complete
            assert await read_all(store, info) == data
            assert b"".join([c async for c in store.read(info, 10, 20)]) == data[10:20]

        run(go)

    def test_get_info_reports_the_last_write(self, store: Store) -> None:
        """Expiry counts from `storage[MODIFIED]`: set on every load, moved by a write."""

        async def go() -> None:
            before = time.time()
            info = await new_upload(store, 10)
            created = float(info.storage[MODIFIED])
            assert created >= before - 2  # stores with second-resolution clocks round down
            await store.write_chunk(info, chunks(b"12345"))
            assert float((await store.get_info(info.id)).storage[MODIFIED]) >= created

        run(go)

    def test_failed_commit_check_discards_only_that_chunk(self, store: Store) -> None:
        async def go() -> None:
            info = await new_upload(store, 10)
            await store.write_chunk(info, chunks(b"12345"))
            info = await store.get_info(info.id)

            def reject() -> None:
                raise ChecksumMismatch("bad")

            with pytest.raises(ChecksumMismatch):
                await store.write_chunk(info, chunks(b"678"), reject)
            info = await store.get_info(info.id)
            assert info.offset == 5
            await store.write_chunk(info, chunks(b"67890"))
            assert await read_all(store, await store.get_info(info.id)) == b"1234567890"

        run(go)

    def test_unknown_ids(self, store: Store) -> None:
        async def go() -> None:
            await store.prepare()
            with pytest.raises(UploadNotFound):
                await store.get_info(new_upload_id())
            with pytest.raises(UploadNotFound):
                await store.get_info("../../etc/passwd")

        run(go)

    def test_deferred_length_saved(self, store: Store) -> None:
        async def go() -> None:
            info = await new_upload(store, None)
            await store.write_chunk(info, chunks(b"abc"))
            info = await store.get_info(info.id)
            assert info.length is None and info.offset == 3
            info.length = 6
            await store.save_info(info)
            await store.write_chunk(info, chunks(b"def"))
            info = await store.get_info(info.id)
            assert info.is_complete and await read_all(store, info) == b"abcdef"

        run(go)

    def test_terminate_twice_and_forget_the_tombstone(self, store: Store) -> None:
        terminater = capabilities(store, "terminater").terminater
        assert terminater is not None

        async def go() -> None:
            info = await new_upload(store, 3)
            await store.write_chunk(info, chunks(b"abc"))
            await terminater.terminate(info.id)
            await terminater.terminate(info.id)  # a sweep and a DELETE racing: the second is a no-op
            with pytest.raises(UploadGone):
                await store.get_info(info.id)
            assert await terminater.tombstone_time(info.id) is not None
            await terminater.forget_tombstone(info.id)
            with pytest.raises(UploadNotFound):
                await store.get_info(info.id)

        run(go)

    def test_concatenate(self, store: Store) -> None:
        concater = capabilities(store, "concater").concater
        assert concater is not None

        async def go() -> None:
            parts = await written_partials(store, [b"hello ", b"big ", b"world"])
            final = await new_upload(store, 15, concat="final", parts=[p.id for p in parts])
            assert not final.is_complete
            await concater.concatenate(final, parts)
            final = await store.get_info(final.id)
            assert final.is_complete and await read_all(store, final) == b"hello big world"

        run(go)

    def test_link_outlives_the_source(self, store: Store) -> None:
        composer = capabilities(store, "linker", "terminater")
        assert composer.linker is not None and composer.terminater is not None

        async def go() -> None:
            source = await new_upload(store, 5)
            await store.write_chunk(source, chunks(b"hello"))
            source = await store.get_info(source.id)
            twin = await new_upload(store, 5)
            await composer.linker.link(source, twin)  # type: ignore[union-attr]
            await composer.terminater.terminate(source.id)  # type: ignore[union-attr]
            twin = await store.get_info(twin.id)
            assert twin.is_complete and await read_all(store, twin) == b"hello"

        run(go)

    def test_listing_includes_uploads_and_tombstones(self, store: Store) -> None:
        composer = capabilities(store, "lister", "terminater")
        lister, terminater = composer.lister, composer.terminater
        assert lister is not None and terminater is not None

        async def go() -> None:
            live = await new_upload(store, 1)
            gone = await new_upload(store, 1)
            await terminater.terminate(gone.id)
            ids = {i async for i in lister.list_ids()}
            assert {live.id, gone.id} <= ids
            assert await terminater.tombstone_time(gone.id) is not None
            assert await terminater.tombstone_time(live.id) is None

        run(go)

    def test_placed_uploads_are_found_where_they_were_put(self, store: Store) -> None:
        """A pre-create hook's `Storage` (`Placeable`): writing, resuming, reading, concatenation, linking,
        listing and termination all find the bytes at the placed location, and a taken one is refused."""
        composer = capabilities(store, "placer", "concater", "linker", "terminater", "lister")
        placer, concater, linker = composer.placer, composer.concater, composer.linker
        terminater, lister = composer.terminater, composer.lister
        assert placer and concater and linker and terminater and lister
        field = "Key" if "Key" in placer.location(UploadInfo(id=new_upload_id(), length=1)) else "Path"
        tag = new_upload_id()

        async def placed(where: str, length: int, **kwargs: object) -> UploadInfo:
            await store.prepare()
            info = UploadInfo(id=new_upload_id(), length=length, **kwargs)  # type: ignore[arg-type]
            await placer.place(info, {field: f"{tag}/{where}"})
            await store.create(info)
            return await store.get_info(info.id)

        async def go() -> None:
            first = await placed("parts/a.bin", 6, concat="partial")
            assert placer.location(first)[field].endswith(f"{tag}/parts/a.bin")
            await store.write_chunk(first, chunks(b"hel"))
            first = await store.get_info(first.id)
            assert first.offset == 3
            await store.write_chunk(first, chunks(b"lo "))
            second = await placed("parts/b.bin", 5, concat="partial")
            await store.write_chunk(second, chunks(b"world"))
            parts = [await store.get_info(first.id), await store.get_info(second.id)]
            final = await placed("final.bin", 11, concat="final", parts=[p.id for p in parts])
            assert not final.is_complete
            await concater.concatenate(final, parts)
            final = await store.get_info(final.id)
            assert final.is_complete and await read_all(store, final) == b"hello world"
            with pytest.raises(PlacementRefused):
                await placer.place(UploadInfo(id=new_upload_id(), length=1), {field: f"{tag}/final.bin"})
            twin = await placed("twin.bin", 11)
            await linker.link(final, twin)
            listed = {i async for i in lister.list_ids()}
            assert {first.id, second.id, final.id, twin.id} <= listed and not any("/" in i for i in listed)
            await terminater.terminate(final.id)
            assert await read_all(store, await store.get_info(twin.id)) == b"hello world"
            again = await placed("final.bin", 1)  # free again once its upload is gone
            assert placer.location(again)[field].endswith(f"{tag}/final.bin")

        run(go)
