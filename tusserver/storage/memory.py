"""Uploads in memory: the reference backend for tests and embedding; lost when the process ends."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from ..config import Settings
from ..errors import UploadGone, UploadNotFound
from ..models import UploadInfo
from ..types import ChunkStream
from .base import MODIFIED, READ_PIECE_BYTES, CommitCheck, Store
from .ids import check_upload_id


class MemoryStore(Store):
    one_process = True

    def __init__(self) -> None:
        self._records: dict[str, bytes] = {}
        self._data: dict[str, bytearray] = {}
        self._touched: dict[str, float] = {}
        self._gone: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> MemoryStore:
        return cls()

    async def create(self, info: UploadInfo) -> None:
        self._records[check_upload_id(info.id)] = info.to_json()
        if not info.is_final:
            self._data[info.id] = bytearray()
        self._touched[info.id] = time.time()

    async def get_info(self, upload_id: str) -> UploadInfo:
        raw = self._records.get(check_upload_id(upload_id))
        if raw is None:
            raise UploadGone() if upload_id in self._gone else UploadNotFound()
        info = UploadInfo.from_json(raw, offset=len(self._data.get(upload_id, b"")))
        info.storage[MODIFIED] = self._touched.get(upload_id, info.created)
        return info

    async def save_info(self, info: UploadInfo) -> None:
        self._records[info.id] = info.to_json()

    async def write_chunk(self, info: UploadInfo, chunks: ChunkStream, commit_check: CommitCheck | None = None) -> int:
        data = self._data[info.id]
        start = len(data)
        async for chunk in chunks:
            data += chunk
            self._touched[info.id] = time.time()
        if commit_check is not None:
            try:
                commit_check()
            except BaseException:
                del data[start:]
                raise
        return len(data) - start

    async def read(self, info: UploadInfo, start: int, end: int) -> AsyncIterator[bytes]:
        data = self._data.get(info.id, bytearray())
        for position in range(start, end, READ_PIECE_BYTES):
            yield bytes(data[position : min(end, position + READ_PIECE_BYTES)])

    async def terminate(self, upload_id: str) -> None:
        self._records.pop(upload_id, None)
        self._data.pop(upload_id, None)
        self._gone[upload_id] = time.time()

    async def concatenate(self, final: UploadInfo, parts: list[UploadInfo]) -> None:
        self._data[final.id] = bytearray(b"".join(bytes(self._data[p.id]) for p in parts))

    async def link(self, source: UploadInfo, target: UploadInfo) -> None:
        # bytes are immutable once finished, so sharing one buffer is safe
        self._data[target.id] = self._data[source.id]

    async def list_ids(self) -> AsyncIterator[str]:
        for upload_id in list(self._records) + list(self._gone):
            yield upload_id

    async def tombstone_time(self, upload_id: str) -> float | None:
        return self._gone.get(upload_id)

    async def forget_tombstone(self, upload_id: str) -> None:
        self._gone.pop(upload_id, None)
