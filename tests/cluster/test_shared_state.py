"""The pieces that let any instance continue another's upload: portable SHA states, Redis-held states and index."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cluster.support import sha256_digest
from tusserver.config import Settings
from tusserver.hashing import resumable as sha_state
from tusserver.models import UploadInfo
from tusserver.state.digest_states import RedisDigestStates
from tusserver.storage.digest_index import FileDigestIndex, MemoryDigestIndex
from tusserver.storage.local import LocalStore
from tusserver.storage.memory import MemoryStore
from tusserver.storage.redis_digest_index import RedisDigestIndex
from tusserver.uploads.digests import DigestTracker
from tusserver.wiring import build_digest_index

REFERENCE = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


@pytest.mark.parametrize("algorithm", ["sha-256", "sha-512"])
def test_a_saved_sha_state_continues_exactly_like_hashlib(algorithm: str) -> None:
    assert sha_state.available()  # libcrypto ships with every Python that has hashlib's OpenSSL
    hasher, reference = sha_state.ResumableSha(algorithm), REFERENCE[algorithm]()
    for size in (0, 1, 63, 64, 65, 127, 128, 129, 1000, 100_000, 3):  # across block edges
        data = os.urandom(size)
        hasher.update(data)
        reference.update(data)
        assert hasher.digest() == reference.digest()  # digest() leaves the running state alone
        restored = sha_state.ResumableSha.restore(algorithm, hasher.save())
        assert restored is not None
        hasher = restored
    assert hasher.digest() == reference.digest()


def test_a_state_from_another_algorithm_or_build_is_refused() -> None:
    saved = sha_state.ResumableSha("sha-256").save()
    assert sha_state.ResumableSha.restore("sha-512", saved) is None
    assert sha_state.ResumableSha.restore("sha-256", saved[:-1]) is None
    assert sha_state.ResumableSha.restore("sha-256", saved.replace(b"tusserver", b"elsewhere")) is None


async def _one(chunk: bytes) -> AsyncIterator[bytes]:
    yield chunk


def test_a_second_instance_continues_the_hash_without_reading_the_upload(redis_url: str) -> None:
    """Two trackers on two stores share only Redis: had B re-read, its empty store would fail the digest."""

    async def run() -> None:
        first, second = os.urandom(300_000), os.urandom(200_001)
        store_a, store_b = MemoryStore(), MemoryStore()
        a = DigestTracker(store_a, shared=RedisDigestStates.from_settings(Settings(redis_url=redis_url)))
        b = DigestTracker(store_b, shared=RedisDigestStates.from_settings(Settings(redis_url=redis_url)))
        info = UploadInfo(id="u" * 22, length=len(first) + len(second), repr_digest=sha256_digest(first + second))
        await store_a.create(info)
        state = await a.resume(info)
        state.hasher.update(first)
        info.offset = await store_a.write_chunk(info, _one(first))
        await a.advance(info.id, state, info.offset)

        state = await b.resume(info)  # B never saw the first PATCH, and its store has no bytes
        assert state.offset == len(first)
        state.hasher.update(second)
        info.offset += len(second)
        await b.advance(info.id, state, info.offset)
        assert await b.verify(info)
        await a.aclose()
        await b.aclose()

    asyncio.run(run())


def test_a_state_for_another_offset_is_not_used(redis_url: str) -> None:
    """A PATCH cut after the state was saved leaves it behind the upload: the bytes are re-read instead."""

    async def run() -> None:
        data = os.urandom(1000)
        store = MemoryStore()
        states = RedisDigestStates.from_settings(Settings(redis_url=redis_url))
        tracker = DigestTracker(store, shared=states)
        info = UploadInfo(id="v" * 22, length=len(data), repr_digest=sha256_digest(data))
        await store.create(info)
        stale = sha_state.ResumableSha("sha-256")
        stale.update(b"not these bytes")
        await states.save(info.id, 400, stale.save())
        info.offset = await store.write_chunk(info, _one(data))
        assert await tracker.verify(info)
        await tracker.aclose()

    asyncio.run(run())


def test_redis_digest_index_is_shared_and_removes_only_its_entry(redis_url: str) -> None:
    async def run() -> None:
        settings = Settings(store="s3", locker="redis", redis_url=redis_url)
        store = MemoryStore()  # with the locks in Redis the index goes there too, whatever the store
        one, two = build_digest_index(settings, store), build_digest_index(settings, store)
        assert isinstance(one, RedisDigestIndex) and isinstance(two, RedisDigestIndex)
        await one.put("k", "first-upload")
        assert await two.get("k") == "first-upload"
        await two.put("k", "newer-copy")
        await one.remove("k", "first-upload")  # stale: another instance already replaced it
        assert await one.get("k") == "newer-copy"
        await one.remove("k", "newer-copy")
        assert await two.get("k") is None
        await one.aclose()
        await two.aclose()

    asyncio.run(run())


def test_without_redis_the_index_stays_where_it_was(tmp_path: Path) -> None:
    on_disk = build_digest_index(Settings(store="file", data_dir=str(tmp_path)), LocalStore(tmp_path))
    assert isinstance(on_disk, FileDigestIndex)
    assert isinstance(build_digest_index(Settings(store="memory"), MemoryStore()), MemoryDigestIndex)
