"""Uploads in Google Cloud Storage, for instances that share no disk.

Layout under `--gcs-prefix` in `--gcs-bucket`: `<id>.info` (the JSON record), `<id>` (the object holding
every byte that counts), `<id>.c/<n>` (chunk objects of a PATCH still running), `<id>.gone` (tombstone).
The offset is the size of `<id>`, never a copy in the record.

GCS objects cannot be appended to, so (as tusd's gcsstore) a PATCH body is cut into chunk objects as it
arrives (`part_writer.PartWriter`, the same writer and memory and spool budgets as S3 parts), and at the
end of the body, however it ended, `<id>` is recomposed from itself and the new chunks: one compose is the
commit point. A client that left keeps every byte that arrived (the tail is the last, short chunk); a
failed `Upload-Checksum` or a crash before the compose leaves `<id>` as it was, and the next PATCH removes
the stray chunks. Compose takes at most 32 sources, so more are composed in a tree (groups of 32 into
intermediate objects first). Sessions of resumable uploads are never used to recover: fake-gcs-server
finalizes an object when its session status is queried, and composed objects need no session.

Client: the official `google-cloud-storage` (sync), each call in a thread of this store's own pool, like
boto3 in the S3 store. With `STORAGE_EMULATOR_HOST` set it talks to that emulator with anonymous
credentials. fake-gcs-server ignores preconditions on compose and delete, so the lock (several instances:
`--locker redis`) is what keeps two writers apart; the compose still carries `if_generation_match`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ...config import Settings, SettingsError
from ...errors import StorageError, UploadGone, UploadNotFound
from ...extras import require_extra
from ...models import UploadInfo
from ...types import ChunkStream
from ..base import CommitCheck
from ..object_store import ObjectStore, ids_in, ranged_reads, receive_parts
from ..part_writer import PartBody, PartMemory, PartWriter, SpoolBudget
from ..upload_sets import UploadSets
from .errors import map_gcs_errors
from .sets import GCSUploadSets

__all__ = ["MAX_COMPOSE", "GCSStore", "map_gcs_errors"]

MiB = 1024 * 1024
MAX_COMPOSE = 32  # sources per compose call
CHUNK_SIZE = 8 * MiB
_READ_SIZE = 4 * MiB
ENV_PROJECT = "GOOGLE_CLOUD_PROJECT"
ENV_EMULATOR = "STORAGE_EMULATOR_HOST"


@dataclass(frozen=True)
class GCSConfig:
    """What the GCS store takes from `Settings` (and the standard environment variables)."""

    bucket: str
    project: str | None
    prefix: str

    @classmethod
    def from_settings(cls, settings: Settings) -> GCSConfig:
        if not settings.gcs_bucket:
            raise SettingsError("--gcs-bucket is required with --store gcs")
        project = settings.gcs_project or os.environ.get(ENV_PROJECT) or None
        if os.environ.get(ENV_EMULATOR) and not project:
            raise SettingsError(f"--store gcs with {ENV_EMULATOR} needs --gcs-project or {ENV_PROJECT}")
        return cls(settings.gcs_bucket, project, settings.gcs_prefix)


class GCSStore(ObjectStore):
    max_upload_bytes = 5 * 1024**4  # GCS's largest object: 5 TiB
    thread_name = "tusserver-gcs"

    def __init__(
        self,
        bucket: Any,
        prefix: str = "",
        chunk_size: int = CHUNK_SIZE,
        chunks_in_flight: int = 3,
        memory_bytes: int = 128 * MiB,
        spool_bytes: int = 256 * MiB,
    ) -> None:
        self.bucket = bucket  # a google.cloud.storage.Bucket
        self.prefix = prefix
        self.chunk_size = chunk_size
        self.chunks_in_flight = max(1, chunks_in_flight)
        self.memory = PartMemory(memory_bytes)
        self.spool = SpoolBudget(spool_bytes)

    @classmethod
    def from_settings(cls, settings: Settings) -> GCSStore:
        config = GCSConfig.from_settings(settings)
        storage = require_extra("google.cloud.storage", "gcs", "--store gcs")
        client = storage.Client(project=config.project)  # anonymous credentials under STORAGE_EMULATOR_HOST
        return cls(client.bucket(config.bucket), config.prefix, spool_bytes=settings.store_spool_bytes)

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        GCSConfig.from_settings(settings)

    def upload_sets(self, name: str, counted: bool) -> UploadSets:
        return GCSUploadSets(self.bucket, self._sets_prefix(name), self._run)

    async def prepare(self) -> None:
        with map_gcs_errors("*"):
            await self._run(self.bucket.reload)

    # -- records -------------------------------------------------------------------------------

    async def create(self, info: UploadInfo) -> None:
        await self.save_info(info)

    async def save_info(self, info: UploadInfo) -> None:
        with map_gcs_errors(info.id):
            blob = self.bucket.blob(self._key(info.id, ".info"))
            await self._run(blob.upload_from_string, info.to_json(), content_type="application/json")

    async def get_info(self, upload_id: str) -> UploadInfo:
        record = self.bucket.blob(self._key(upload_id, ".info"))
        try:
            with map_gcs_errors(upload_id):
                body = await self._run(record.download_as_bytes)
        except UploadNotFound:
            if await self._get(self._key(upload_id, ".gone")) is not None:
                raise UploadGone() from None
            raise
        info = UploadInfo.from_json(body)
        with map_gcs_errors(upload_id):
            data = await self._get(self._key(upload_id))
        info.storage["mtime"] = record.updated.timestamp() if record.updated is not None else info.created
        info.offset = 0
        if data is not None:
            info.offset = int(data.size)
            info.storage["mtime"] = max(info.storage["mtime"], data.updated.timestamp())
        return info

    async def _get(self, name: str) -> Any:
        """The object's metadata, or None when there is none."""
        return await self._run(self.bucket.get_blob, name)

    # -- bytes ---------------------------------------------------------------------------------

    async def write_chunk(self, info: UploadInfo, chunks: ChunkStream, commit_check: CommitCheck | None = None) -> int:
        with map_gcs_errors(info.id):
            current = await self._get(self._key(info.id))
            await self._remove_chunks(info.id)  # strays of a PATCH that never composed (failed check, crash)
        started = int(time.time() * 1000)
        sent: dict[int, str] = {}

        async def send(number: int, body: PartBody) -> None:
            name = self._key(info.id, f".c/{started}-{number:06d}")
            blob = self.bucket.blob(name)
            if isinstance(body, bytes):
                await self._run(blob.upload_from_string, body)
            else:
                await self._run(blob.upload_from_file, body, size=os.fstat(body.fileno()).st_size, rewind=True)
            sent[number] = name

        writer = PartWriter(send, self.chunk_size, 1, self.chunks_in_flight, memory=self.memory, spool=self.spool)

        async def commit(received: int, finishing: bool) -> None:
            # Not reached when the commit check fails: the chunks are then removed by the next PATCH.
            with map_gcs_errors(info.id):
                if writer.filled:
                    await send(writer.number, writer.remainder().read())
                if received or (finishing and current is None):
                    sources = ([self._key(info.id)] if current is not None else []) + [sent[n] for n in sorted(sent)]
                    generation = current.generation if current is not None else 0
                    await self._compose(info.id, sources, self._key(info.id), generation)

        try:
            return await receive_parts(info, writer, chunks, commit_check, map_gcs_errors, commit)
        finally:
            await writer.aclose()
            with contextlib.suppress(StorageError, UploadNotFound), map_gcs_errors(info.id):
                await self._remove_chunks(info.id)

    async def _compose(self, upload_id: str, sources: list[str], target: str, generation: int | None = None) -> None:
        """Compose `sources` (in order) into `target`, in a tree of calls of at most 32 sources each."""
        level = 0
        while len(sources) > MAX_COMPOSE:
            grouped: list[str] = []
            for i in range(0, len(sources), MAX_COMPOSE):
                group = sources[i : i + MAX_COMPOSE]
                if len(group) == 1:
                    grouped.append(group[0])
                    continue
                name = self._key(upload_id, f".c/tree-{level}-{i // MAX_COMPOSE:06d}")
                await self._run(self.bucket.blob(name).compose, [self.bucket.blob(s) for s in group])
                grouped.append(name)
            sources, level = grouped, level + 1
        destination = self.bucket.blob(target)
        if not sources:
            await self._run(destination.upload_from_string, b"", if_generation_match=generation)
            return
        await self._run(destination.compose, [self.bucket.blob(s) for s in sources], if_generation_match=generation)

    async def _remove_chunks(self, upload_id: str) -> None:
        from google.api_core.exceptions import NotFound

        prefix = self._key(upload_id, ".c/")
        names = await self._run(lambda: [b.name for b in self.bucket.list_blobs(prefix=prefix)])
        for name in names:
            with contextlib.suppress(NotFound):
                await self._run(self.bucket.delete_blob, name)

    async def read(self, info: UploadInfo, start: int, end: int) -> AsyncIterator[bytes]:
        blob = self.bucket.blob(self._key(info.id))

        async def fetch(position: int, size: int) -> bytes:
            data: bytes = await self._run(blob.download_as_bytes, start=position, end=position + size - 1)
            return data

        async for data in ranged_reads(fetch, start, end, _READ_SIZE, map_gcs_errors, info.id):
            yield data

    # -- capabilities --------------------------------------------------------------------------

    async def terminate(self, upload_id: str) -> None:
        from google.api_core.exceptions import NotFound

        with map_gcs_errors(upload_id):
            await self._run(self.bucket.blob(self._key(upload_id, ".gone")).upload_from_string, str(time.time()))
            for suffix in (".info", ""):
                with contextlib.suppress(NotFound):
                    await self._run(self.bucket.delete_blob, self._key(upload_id, suffix))
            await self._remove_chunks(upload_id)

    async def tombstone_time(self, upload_id: str) -> float | None:
        with map_gcs_errors(upload_id):
            blob = await self._get(self._key(upload_id, ".gone"))
        return None if blob is None else float(blob.updated.timestamp())

    async def forget_tombstone(self, upload_id: str) -> None:
        from google.api_core.exceptions import NotFound

        with map_gcs_errors(upload_id), contextlib.suppress(NotFound):
            await self._run(self.bucket.delete_blob, self._key(upload_id, ".gone"))

    async def concatenate(self, final: UploadInfo, parts: list[UploadInfo]) -> None:
        """Composed from the parts' objects, server-side; the final reads as incomplete until then."""
        with map_gcs_errors(final.id):
            sources = [self._key(p.id) for p in parts if p.offset]
            await self._compose(final.id, sources, self._key(final.id))
            await self._remove_chunks(final.id)
        await self.save_info(final)

    async def link(self, source: UploadInfo, target: UploadInfo) -> None:
        """A server-side compose of the one source object: no byte passes through this server."""
        await self.concatenate(target, [source])

    async def list_ids(self) -> AsyncIterator[str]:
        with map_gcs_errors("*"):
            names = await self._run(lambda: [b.name for b in self.bucket.list_blobs(prefix=self.prefix)])
        for upload_id in ids_in(names, self.prefix):
            yield upload_id
