"""Uploads in Azure Blob Storage (block blobs), for instances that share no disk.

Layout under `--azure-prefix` in `--azure-container`: `<id>.info` (the JSON record: tus metadata stays
there, since blob metadata keys must be C# identifiers and values ASCII), `<id>` (the block blob holding
the bytes), `<id>.gone` (tombstone). The offset is the size of the committed blob, never a copy in the
record.

A PATCH body is cut into blocks as it arrives (`part_writer.PartWriter`, the same writer and the same
memory and spool budgets as S3 parts); each full block is staged while the body streams. Staged blocks
count only once the PATCH commits the block list, which it does at the end of its body, however the body
ended: a client that left keeps every byte that arrived (the tail becomes a short last block), a failed
`Upload-Checksum` or a crash before the commit leaves the offset where it was. Azure allows 50,000
committed blocks per blob: block sizes are planned per upload from its length like S3 parts
(`plan_block_size`), and a short last block left by a cut PATCH is read back and merged into the next
PATCH's first block, so at most one short block is ever committed. The commit is conditional on the
blob's ETag (or on its absence), so a second writer that got past the lock could never interleave blocks.

Client: the official `azure-storage-blob` (sync), each call in a thread of this store's own pool, like
boto3 in the S3 store. Block ids are random, fixed-length (uuid4 hex): Azure requires one length per blob.
Azurite does not implement `stage_block_from_url`, so a final concatenation copies its parts' bytes
through this server (streamed, one block of memory at a time).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ...config import Settings, SettingsError
from ...errors import UploadGone, UploadNotFound
from ...extras import require_extra
from ...models import UploadInfo
from ...types import ChunkStream
from ..base import CommitCheck
from ..object_store import ObjectStore, ids_in, planned_size, ranged_reads, receive_parts
from ..part_writer import PartBody, PartMemory, PartWriter, SpoolBudget
from ..upload_sets import UploadSets
from .errors import map_azure_errors
from .sets import AzureUploadSets

__all__ = ["MAX_BLOCKS", "AzureStore", "map_azure_errors", "plan_block_size"]

MiB = 1024 * 1024
MAX_BLOCKS = 50_000
MAX_BLOCK = 4000 * MiB
MAX_BLOB = (MAX_BLOCKS - 1) * MAX_BLOCK  # one block is kept free for a short tail
PREFERRED_BLOCK = 8 * MiB
_READ_SIZE = 4 * MiB
ENV_CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"


def plan_block_size(length: int | None, preferred: int = PREFERRED_BLOCK, max_length: int | None = None) -> int:
    """The size of every block but the last, so that the upload fits in 49,999 blocks (plus one short tail)."""
    size = length if length is not None else (max_length or MAX_BLOB)
    if size > MAX_BLOB:
        raise ValueError(f"{size} bytes do not fit in {MAX_BLOCKS} blocks of {MAX_BLOCK} bytes")
    needed = -(-size // (MAX_BLOCKS - 1))
    block = max(preferred, 1)
    if needed > block:
        block = min(-(-needed // MiB) * MiB, MAX_BLOCK)
    return block


@dataclass(frozen=True)
class AzureConfig:
    """What the Azure store takes from `Settings` (and the standard environment variable)."""

    container: str
    connection_string: str
    prefix: str

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureConfig:
        if not settings.azure_container:
            raise SettingsError("--azure-container is required with --store azure")
        connection_string = settings.azure_connection_string or os.environ.get(ENV_CONNECTION_STRING, "")
        if not connection_string:
            raise SettingsError(f"--store azure needs --azure-connection-string or {ENV_CONNECTION_STRING}")
        return cls(settings.azure_container, connection_string, settings.azure_prefix)


class AzureStore(ObjectStore):
    max_upload_bytes = MAX_BLOB
    thread_name = "tusserver-azure"

    def __init__(
        self,
        container: Any,
        prefix: str = "",
        block_size: int = PREFERRED_BLOCK,
        blocks_in_flight: int = 3,
        max_size: int = 0,
        memory_bytes: int = 128 * MiB,
        spool_bytes: int = 256 * MiB,
    ) -> None:
        self.container = container  # an azure.storage.blob.ContainerClient
        self.prefix = prefix
        self.block_size = block_size
        self.blocks_in_flight = max(1, blocks_in_flight)
        self.max_size = min(max_size or MAX_BLOB, MAX_BLOB)
        self.memory = PartMemory(memory_bytes)
        self.spool = SpoolBudget(spool_bytes)

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureStore:
        config = AzureConfig.from_settings(settings)
        blob = require_extra("azure.storage.blob", "azure", "--store azure")
        # The SDK logs every request and its headers at INFO, our default level: several lines per block.
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
        service = blob.BlobServiceClient.from_connection_string(config.connection_string)
        return cls(
            service.get_container_client(config.container),
            config.prefix,
            max_size=settings.max_size_bytes,
            spool_bytes=settings.store_spool_bytes,
        )

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        AzureConfig.from_settings(settings)

    def upload_sets(self, name: str, counted: bool) -> UploadSets:
        return AzureUploadSets(self.container, self._sets_prefix(name), self._run)

    def _blob(self, upload_id: str, suffix: str = "") -> Any:
        return self.container.get_blob_client(self._key(upload_id, suffix))

    async def prepare(self) -> None:
        with map_azure_errors("*"):
            await self._run(self.container.get_container_properties)

    # -- records -------------------------------------------------------------------------------

    async def create(self, info: UploadInfo) -> None:
        if not info.is_final:
            too_large = f"Upload-Length is over the {MAX_BLOB} bytes an Azure blob can hold"
            info.storage["block_size"] = planned_size(info, plan_block_size, self.block_size, self.max_size, too_large)
        await self.save_info(info)

    async def save_info(self, info: UploadInfo) -> None:
        with map_azure_errors(info.id):
            await self._run(self._blob(info.id, ".info").upload_blob, info.to_json(), overwrite=True)

    async def get_info(self, upload_id: str) -> UploadInfo:
        try:
            with map_azure_errors(upload_id):
                record = self._blob(upload_id, ".info")
                downloader = await self._run(record.download_blob)
                body = await self._run(downloader.readall)
        except UploadNotFound:
            if await self._properties(self._blob(upload_id, ".gone")) is not None:
                raise UploadGone() from None
            raise
        info = UploadInfo.from_json(body)
        info.storage["mtime"] = downloader.properties.last_modified.timestamp()
        with map_azure_errors(upload_id):
            props = await self._properties(self._blob(upload_id))
        if props is not None:
            info.offset = int(props.size)
            info.storage["mtime"] = max(info.storage["mtime"], props.last_modified.timestamp())
        else:
            info.offset = 0
        return info

    async def _properties(self, blob: Any) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return await self._run(blob.get_blob_properties)
        except ResourceNotFoundError:
            return None

    # -- bytes ---------------------------------------------------------------------------------

    async def write_chunk(self, info: UploadInfo, chunks: ChunkStream, commit_check: CommitCheck | None = None) -> int:
        block_size = int(info.storage.get("block_size") or self.block_size)
        blob = self._blob(info.id)
        with map_azure_errors(info.id):
            props = await self._properties(blob)
            committed: list[Any] = []
            if props is not None:
                committed, _ = await self._run(blob.get_block_list, "committed")
        keep = [block.id for block in committed]
        staged: dict[int, str] = {}

        async def stage(number: int, body: PartBody) -> None:
            block_id = uuid.uuid4().hex
            length = None if isinstance(body, bytes) else os.fstat(body.fileno()).st_size
            await self._run(blob.stage_block, block_id, body, length=length)
            staged[number] = block_id

        writer = PartWriter(stage, block_size, 1, self.blocks_in_flight, memory=self.memory, spool=self.spool)
        tail = 0
        try:
            if committed and committed[-1].size < block_size and info.offset:
                tail = int(committed[-1].size)  # a short last block: merged into this PATCH's first block
                await self._load(info, writer, info.offset - tail, info.offset)
                keep.pop()

            async def commit(received: int, finishing: bool) -> None:
                # Not reached when the commit check fails: the staged blocks are then dropped by Azure.
                if received or (finishing and props is None):
                    with map_azure_errors(info.id):
                        if writer.filled:
                            await stage(writer.number, writer.remainder().read())
                        await self._commit(blob, props, keep + [staged[n] for n in sorted(staged)])

            return await receive_parts(info, writer, chunks, commit_check, map_azure_errors, commit, reloaded=tail)
        finally:
            await writer.aclose()

    async def _commit(self, blob: Any, props: Any, block_ids: list[str]) -> None:
        from azure.core import MatchConditions
        from azure.storage.blob import BlobBlock

        condition: dict[str, Any] = {"match_condition": MatchConditions.IfMissing}
        if props is not None:
            condition = {"etag": props.etag, "match_condition": MatchConditions.IfNotModified}
        await self._run(blob.commit_block_list, [BlobBlock(block_id=b) for b in block_ids], **condition)

    async def _load(self, info: UploadInfo, writer: PartWriter, start: int, end: int) -> None:
        async for data in self.read(info, start, end):
            await writer.add(data)

    async def read(self, info: UploadInfo, start: int, end: int) -> AsyncIterator[bytes]:
        blob = self._blob(info.id)

        async def fetch(position: int, size: int) -> bytes:
            downloader = await self._run(blob.download_blob, offset=position, length=size)
            data: bytes = await self._run(downloader.readall)
            return data

        async for data in ranged_reads(fetch, start, end, _READ_SIZE, map_azure_errors, info.id):
            yield data

    # -- capabilities --------------------------------------------------------------------------

    async def terminate(self, upload_id: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with map_azure_errors(upload_id):
            await self._run(self._blob(upload_id, ".gone").upload_blob, str(time.time()), overwrite=True)
            for suffix in (".info", ""):
                with contextlib.suppress(ResourceNotFoundError):
                    await self._run(self._blob(upload_id, suffix).delete_blob)

    async def tombstone_time(self, upload_id: str) -> float | None:
        with map_azure_errors(upload_id):
            props = await self._properties(self._blob(upload_id, ".gone"))
        return None if props is None else float(props.last_modified.timestamp())

    async def forget_tombstone(self, upload_id: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with map_azure_errors(upload_id), contextlib.suppress(ResourceNotFoundError):
            await self._run(self._blob(upload_id, ".gone").delete_blob)

    async def concatenate(self, final: UploadInfo, parts: list[UploadInfo]) -> None:
        """The parts' bytes staged as the final's blocks (through this server: Azurite has no
        `stage_block_from_url`), committed at once, so the final reads as incomplete until then."""
        final.storage["block_size"] = plan_block_size(final.length or 0, self.block_size)
        final.offset = 0
        source = UploadInfo(id=final.id, length=final.length, storage=dict(final.storage))

        async def chunks() -> AsyncIterator[bytes]:
            for part in parts:
                async for data in self.read(part, 0, part.offset):
                    yield data

        await self.write_chunk(source, chunks())
        await self.save_info(final)

    async def link(self, source: UploadInfo, target: UploadInfo) -> None:
        """A copy of the finished source's bytes; the client sends none of them again."""
        await self.concatenate(target, [source])

    async def list_ids(self) -> AsyncIterator[str]:
        with map_azure_errors("*"):
            names = await self._run(lambda: [b.name for b in self.container.list_blobs(name_starts_with=self.prefix)])
        for upload_id in ids_in(names, self.prefix):
            yield upload_id
