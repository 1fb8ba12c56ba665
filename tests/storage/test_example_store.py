"""Adding a store needs one module and no edit elsewhere: a dict-backed store defined here is registered
by name, passes the store contract and serves tus requests in-process.

It implements only the required methods, so the composer switches termination, concatenation,
expiration and instant upload off, and OPTIONS stops advertising them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Self

import httpx
import pytest

from tests.storage.contract import StoreContract
from tusserver import storage
from tusserver.app import create_app
from tusserver.config import Settings
from tusserver.errors import UploadNotFound
from tusserver.models import UploadInfo
from tusserver.storage.base import MODIFIED, CommitCheck, Store
from tusserver.storage.ids import check_upload_id
from tusserver.types import ChunkStream
from tusserver.wiring import build_store, check

TUS = {"Tus-Resumable": "1.0.0"}


class DictStore(Store):
    """Records and bytes in two dicts: the smallest store the contract accepts."""

    one_process = True  # --workers > 1 is refused, as for the memory store

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}
        self.data: dict[str, bytes] = {}
        self.written: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls()

    async def create(self, info: UploadInfo) -> None:
        self.records[check_upload_id(info.id)] = info.to_json()
        self.data[info.id] = b""
        self.written[info.id] = info.created

    async def get_info(self, upload_id: str) -> UploadInfo:
        raw = self.records.get(check_upload_id(upload_id))
        if raw is None:
            raise UploadNotFound()
        info = UploadInfo.from_json(raw, offset=len(self.data[upload_id]))
        info.storage[MODIFIED] = self.written[upload_id]
        return info

    async def save_info(self, info: UploadInfo) -> None:
        self.records[info.id] = info.to_json()

    async def write_chunk(self, info: UploadInfo, chunks: ChunkStream, commit_check: CommitCheck | None = None) -> int:
        received = b"".join([chunk async for chunk in chunks])
        if commit_check is not None:
            commit_check()  # raises before anything is kept: the chunk is discarded
        self.data[info.id] += received
        self.written[info.id] = time.time()
        return len(received)

    async def read(self, info: UploadInfo, start: int, end: int) -> AsyncIterator[bytes]:
        yield self.data[info.id][start:end]


@pytest.fixture
def registered() -> Iterator[str]:
    storage.register_store("dict", DictStore)
    yield "dict"
    storage.unregister_store("dict")


class TestDictStoreContract(StoreContract):
    @pytest.fixture
    def store(self, registered: str) -> Store:
        return build_store(check(Settings(store=registered)))


def test_the_registry_finds_it_by_name(registered: str) -> None:
    assert registered in storage.store_names()
    assert check(Settings(store=registered)).locker == "memory"  # its class's default_locker
    with pytest.raises(ValueError, match="one process"):
        check(Settings(store=registered, workers=2, locker="file"))


def test_tus_requests_in_process(registered: str) -> None:
    app = create_app(Settings(store=registered, expire_after_s=0))
    assert isinstance(app.state.tus.store, DictStore)

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            options = await client.options("/files/", headers=TUS)
            assert options.status_code == 204
            extensions = options.headers["Tus-Extension"].split(",")
            assert "creation" in extensions and "checksum" in extensions
            assert not {"termination", "concatenation", "expiration"} & set(extensions)

            created = await client.post("/files/", headers={**TUS, "Upload-Length": "11"})
            assert created.status_code == 201
            url = created.headers["Location"]
            octet = {**TUS, "Content-Type": "application/offset+octet-stream"}
            first = await client.patch(url, headers={**octet, "Upload-Offset": "0"}, content=b"hello ")
            assert (first.status_code, first.headers["Upload-Offset"]) == (204, "6")
            stale = await client.patch(url, headers={**octet, "Upload-Offset": "0"}, content=b"x")
            assert stale.status_code == 409
            rest = await client.patch(url, headers={**octet, "Upload-Offset": "6"}, content=b"world")
            assert (rest.status_code, rest.headers["Upload-Offset"]) == (204, "11")
            head = await client.head(url, headers=TUS)
            assert (head.headers["Upload-Offset"], head.headers["Upload-Length"]) == ("11", "11")
            assert (await client.get(url)).content == b"hello world"
            refused = await client.delete(url, headers=TUS)
            assert refused.status_code == 400 and "termination" in refused.text
            concat = await client.post("/files/", headers={**TUS, "Upload-Length": "1", "Upload-Concat": "partial"})
            assert concat.status_code == 400

    asyncio.run(go())
