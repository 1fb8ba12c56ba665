"""The file store lists its uploads for the expiry sweeper without holding the whole directory at once.

A sweep runs every minute over every upload kept; with `os.listdir` each one made a list of every
name in the data directory (two per upload), the server's largest allocation, and the soak run saw
RSS grow with the uploads kept. Listing in batches keeps the peak flat whatever the directory holds.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path

from tusserver.models import UploadInfo
from tusserver.storage.ids import new_upload_id
from tusserver.storage.local import LIST_BATCH, LocalStore

UPLOADS = 5 * LIST_BATCH + 7  # several batches and a short last one


async def _make_uploads(store: LocalStore, count: int) -> set[str]:
    ids: set[str] = set()
    for _ in range(count):
        info = UploadInfo(id=new_upload_id(), length=10)
        await store.create(info)
        ids.add(info.id)
    return ids


async def _listing_peak(store: LocalStore) -> tuple[int, int]:
    """How many ids were listed, and the traced-memory peak above the start while listing them (the
    ids are counted, not kept, so the peak is what the listing itself holds)."""
    count = 0
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        async for _ in store.list_ids():
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak - base


def test_every_upload_listed_once_across_batches(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = LocalStore(tmp_path / "data")
        await store.prepare()
        ids = await _make_uploads(store, UPLOADS)
        gone = sorted(ids)[:3]
        for upload_id in gone:
            await store.terminate(upload_id)  # tombstones are listed too (the sweeper drops old ones)
        listed = [upload_id async for upload_id in store.list_ids()]
        assert len(listed) == len(set(listed)) == UPLOADS
        assert set(listed) == ids
        await store.aclose()

    asyncio.run(scenario())


def test_listing_memory_does_not_grow_with_the_directory(tmp_path: Path) -> None:
    """The peak while listing 5,000 uploads (10,000 files) is that of one batch, not of all the names."""

    async def scenario() -> None:
        store = LocalStore(tmp_path / "data")
        await store.prepare()
        await _make_uploads(store, UPLOADS)
        listed, peak = await _listing_peak(store)
        assert listed == UPLOADS
        all_names = 2 * UPLOADS * 80  # ~80 bytes per str of an id and its suffix
        assert peak < all_names / 3, f"listing peaked at {peak} bytes for {UPLOADS} uploads"
        await store.aclose()

    asyncio.run(scenario())
