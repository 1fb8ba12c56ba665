"""Uploads in S3-compatible object storage, for instances that share no disk.

Layout under `--s3-prefix`: `<id>.info` (the JSON record), `<id>` (the object, built as a multipart
upload; or the key a pre-create hook chose with `ChangeFileInfo.Storage.Key`, kept in the record),
`<id>.part` (the commit point: the bytes after the last whole part, and in its metadata how many
parts count), `<id>.gone` (tombstone). The offset is always recomputed from S3 (the parts the
`.part` object names, plus its bytes), never from a copy in the record.

A PATCH body is cut into parts as it arrives (`s3_parts.PartWriter`): under one part of local disk and
a few parts of memory per PATCH, whatever its size, with `--s3-parts-in-flight` parts sent at once.
Parts sent by a PATCH only count once its closing PUT of `<id>.part` names them, so a failed
`Upload-Checksum` (or a crash) leaves the offset where it was: the next PATCH overwrites those part
numbers. Part sizes come from `s3_parts.plan_part_size`, fixed per upload when it is created.

Client: boto3, each call in a thread of this store's own pool (32 threads, and as many pooled
connections). aiobotocore (the async botocore) was measured and not taken. The same 1 GiB multipart
upload (8 MiB parts, 3 in flight) against moto, run twice each way on this 2-core machine: boto3 in
threads 21-25 MB/s at 2.6 client CPU-s/GiB and 72 MB RSS, aiobotocore 3.10 17-18 MB/s at 3.0-3.1
CPU-s/GiB and 99 MB (with `request_checksum_calculation="when_required"`: 35 vs 28 MB/s). It is not
clearer either: the calls are the same botocore calls, plus a client that must be entered as an
async context manager; and it pins botocore to a narrow range (3.10: >=1.43.115,<1.43.118), which
the `s3` extra and the test extra's boto3 would have to follow. In threads, hashing and sending the
multi-MiB part bodies (zlib, hashlib and sockets release the GIL) stay off the event loop that serves
every other request. botocore errors are translated in `map_s3_errors`; nothing above this module
sees them.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import IO, Any

from ...config import Settings, SettingsError
from ...errors import (
    BackendUnavailable,
    Conflict,
    InsufficientStorage,
    PlacementRefused,
    StorageError,
    TooLarge,
    UploadGone,
    UploadNotFound,
    is_out_of_space,
)
from ...extras import require_extra
from ...models import UploadInfo
from ...types import ChunkStream
from ..base import READ_PIECE_BYTES, CommitCheck
from ..object_store import THREADS, ObjectStore, ids_in, planned_size, receive_parts
from ..part_writer import SpoolBudget
from ..placement import PLACED, relative, requested
from ..upload_sets import UploadSets
from .errors import error_code, map_s3_errors, missing_bucket
from .parts import (
    MAX_OBJECT,
    MAX_PART,
    MAX_PARTS,
    MIN_PART,
    PREFERRED_PART,
    MiB,
    PartBody,
    PartMemory,
    PartWriter,
    plan_part_size,
)
from .sets import S3UploadSets

__all__ = ["MAX_OBJECT", "MIN_PART", "S3Store", "UnfinishedUploadUnreadable", "map_s3_errors"]

LEGACY_PART_SIZE = 8 * 1024 * 1024  # uploads created before part sizes were planned used this one
_READ_SIZE = 1024 * 1024
_PARTS_META = "parts"  # metadata key on `<id>.part`: how many parts count
_MAX_KEY_BYTES = 1024  # S3's limit for a key, the prefix included


class UnfinishedUploadUnreadable(Conflict):
    """S3 cannot read back the parts of a multipart upload before it completes (there is no such API)."""

    code = "unfinished_upload_unreadable"

    def __init__(self) -> None:
        super().__init__("the stored bytes of an unfinished upload cannot be read back from S3 until it completes")


@dataclass(frozen=True)
class S3Config:
    """What the S3 store takes from `Settings`."""

    bucket: str
    endpoint_url: str | None
    region: str
    prefix: str
    part_size: int
    parts_in_flight: int
    memory_bytes: int
    spool_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Config:
        if not settings.s3_bucket:
            raise SettingsError("--s3-bucket is required with --store s3")
        if not MIN_PART <= settings.s3_part_size_bytes <= MAX_PART:
            raise SettingsError(f"--s3-part-size must be within 5M-5G (S3 limits); got {settings.s3_part_size_bytes}")
        if settings.s3_parts_in_flight <= 0:
            raise SettingsError(f"--s3-parts-in-flight must be positive, got {settings.s3_parts_in_flight!r}")
        if settings.s3_memory_bytes < MIN_PART:
            raise SettingsError(f"--s3-memory must hold one 5M part at least, got {settings.s3_memory_bytes!r}")
        return cls(
            settings.s3_bucket,
            settings.s3_endpoint_url or None,
            settings.s3_region,
            settings.s3_prefix,
            settings.s3_part_size_bytes,
            settings.s3_parts_in_flight,
            settings.s3_memory_bytes,
            settings.store_spool_bytes,
        )


@dataclass
class _Progress:
    """What S3 holds of an unfinished upload: the parts that count and the tail after them."""

    parts: list[dict[str, Any]] = field(default_factory=list)
    tail_size: int = 0
    tail_exists: bool = False
    mtime: float = 0.0

    @property
    def offset(self) -> int:
        return sum(int(p["Size"]) for p in self.parts) + self.tail_size


class S3Store(ObjectStore):
    max_upload_bytes = MAX_OBJECT  # one multipart upload: 10,000 parts of 5 GiB
    thread_name = "tusserver-s3"

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        part_size: int = PREFERRED_PART,
        parts_in_flight: int = 3,
        max_size: int = 0,
        memory_bytes: int = 128 * MiB,
        spool_bytes: int = 256 * MiB,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.part_size = part_size  # the preferred size; each upload's own is planned from its length
        self.parts_in_flight = max(1, parts_in_flight)
        self.memory = PartMemory(memory_bytes)  # shared by every PATCH of this process
        self.spool = SpoolBudget(spool_bytes)  # and so is the temporary disk
        self.max_size = min(max_size or MAX_OBJECT, MAX_OBJECT)

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        config = S3Config.from_settings(settings)
        boto3 = require_extra("boto3", "s3", "--store s3")
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            config=Config(max_pool_connections=THREADS),
        )
        return cls(
            client,
            config.bucket,
            config.prefix,
            part_size=config.part_size,
            parts_in_flight=config.parts_in_flight,
            memory_bytes=config.memory_bytes,
            spool_bytes=config.spool_bytes,
            max_size=settings.max_size_bytes,
        )

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        S3Config.from_settings(settings)

    def upload_sets(self, name: str, counted: bool) -> UploadSets:
        return S3UploadSets(self.client, self.bucket, self._sets_prefix(name))

    async def prepare(self) -> None:
        try:
            with map_s3_errors("*"):
                await self._run(self.client.head_bucket, Bucket=self.bucket)
        except UploadNotFound as exc:  # HEAD has no body, so a missing bucket is a bare 404
            raise BackendUnavailable(missing_bucket(self.bucket)) from exc

    # -- records -------------------------------------------------------------------------------

    async def create(self, info: UploadInfo) -> None:
        if not info.is_final:
            too_large = f"Upload-Length is over the {MAX_OBJECT} bytes an S3 upload can hold"
            info.storage["part_size"] = planned_size(info, plan_part_size, self.part_size, self.max_size, too_large)
        with map_s3_errors(info.id):
            if not info.is_final:
                created = await self._run(
                    self.client.create_multipart_upload, Bucket=self.bucket, Key=self._object_key(info)
                )
                info.storage["multipart_id"] = created["UploadId"]
            await self.save_info(info)

    async def save_info(self, info: UploadInfo) -> None:
        with map_s3_errors(info.id):
            await self._run(
                self.client.put_object, Bucket=self.bucket, Key=self._key(info.id, ".info"), Body=info.to_json()
            )

    async def get_info(self, upload_id: str) -> UploadInfo:
        try:
            with map_s3_errors(upload_id):
                raw = await self._run(self.client.get_object, Bucket=self.bucket, Key=self._key(upload_id, ".info"))
                body = await self._run(raw["Body"].read)
        except UploadNotFound:
            if await self._exists(self._key(upload_id, ".gone")):
                raise UploadGone() from None
            raise
        info = UploadInfo.from_json(body)
        info.storage["mtime"] = raw["LastModified"].timestamp()
        with map_s3_errors(upload_id):
            if not (info.storage.get("completed") or info.is_final):
                progress = await self._progress(info)
                if progress is not None:
                    info.offset = progress.offset
                    info.storage["mtime"] = max(info.storage["mtime"], progress.mtime)
                    return info
                info.storage["completed"] = True  # completed by a writer that stopped before saving the record
            size = await self._object_size(self._object_key(info))
            info.offset = size or 0
        return info

    async def _exists(self, key: str) -> bool:
        return await self._object_size(key) is not None

    async def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            head: dict[str, Any] = await self._run(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return head

    async def _object_size(self, key: str) -> int | None:
        head = await self._head(key)
        return None if head is None else int(head["ContentLength"])

    async def _progress(self, info: UploadInfo) -> _Progress | None:
        """The parts that count and the tail; None when the multipart upload is already complete.

        `<id>.part` names how many parts count: parts above it were sent by a PATCH that did not finish
        (failed checksum, crash) and are overwritten by the next one. Without that metadata (an upload
        from before it existed) every part counts.
        """
        from botocore.exceptions import ClientError

        head = await self._head(self._key(info.id, ".part"))
        try:
            parts = await self._list_parts(info)
        except ClientError as exc:
            if error_code(exc) == "NoSuchUpload" and await self._exists(self._object_key(info)):
                return None
            raise
        progress = _Progress(parts=parts)
        if head is not None:
            progress.tail_exists = True
            progress.tail_size = int(head["ContentLength"])
            progress.mtime = head["LastModified"].timestamp()
            counted = head.get("Metadata", {}).get(_PARTS_META)
            if counted is not None:
                progress.parts = [p for p in parts if p["PartNumber"] <= int(counted)]
                if len(progress.parts) != int(counted):
                    raise StorageError(f"object storage lost a part of upload {info.id}")
        progress.mtime = max([progress.mtime, *(p["LastModified"].timestamp() for p in progress.parts)])
        return progress

    async def _list_parts(self, info: UploadInfo) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        marker = 0
        while True:
            page = await self._run(
                self.client.list_parts,
                Bucket=self.bucket,
                Key=self._object_key(info),
                UploadId=info.storage["multipart_id"],
                PartNumberMarker=marker,
            )
            parts.extend(page.get("Parts", []))
            if not page.get("IsTruncated"):
                return sorted(parts, key=lambda p: int(p["PartNumber"]))
            marker = page["NextPartNumberMarker"]

    # -- placement (a pre-create hook's ChangeFileInfo.Storage) ---------------------------------------

    def _object_key(self, info: UploadInfo) -> str:
        """The upload's object: `<prefix><id>`, or the key a pre-create hook chose (kept in the record)."""
        placed = info.storage.get(PLACED)
        return self._key(info.id) if placed is None else f"{self.prefix}{relative(placed, 'Key')}"

    async def place(self, info: UploadInfo, storage: Mapping[str, object]) -> None:
        """`Storage.Key` under the prefix, if no object and no unfinished multipart upload has it. S3 cannot
        create a key only if it is free, so two uploads created at once under one key are not told apart:
        a hook must make its keys unique (tusd's documentation says the same of `Path`)."""
        key = f"{self.prefix}{requested(storage, 'Key')}"
        if len(key.encode()) > _MAX_KEY_BYTES:
            raise PlacementRefused(f"Storage.Key under the prefix is longer than {_MAX_KEY_BYTES} bytes")
        with map_s3_errors(info.id):
            taken = await self._exists(key)
            if not taken:
                pending = await self._run(self.client.list_multipart_uploads, Bucket=self.bucket, Prefix=key)
                taken = any(upload["Key"] == key for upload in pending.get("Uploads", []))
        if taken:
            raise PlacementRefused("Storage.Key is taken")
        info.storage[PLACED] = key[len(self.prefix) :]

    def location(self, info: UploadInfo) -> dict[str, str]:
        return {"Bucket": self.bucket, "Key": self._object_key(info)}

    # -- bytes ---------------------------------------------------------------------------------

    def _part_size(self, info: UploadInfo) -> int:
        return int(info.storage.get("part_size") or LEGACY_PART_SIZE)

    async def write_chunk(self, info: UploadInfo, chunks: ChunkStream, commit_check: CommitCheck | None = None) -> int:
        part_size = self._part_size(info)
        if info.length is not None and -(-info.length // part_size) > MAX_PARTS:
            raise TooLarge(f"Upload-Length needs more than {MAX_PARTS} parts of the {part_size} bytes this upload uses")
        with map_s3_errors(info.id):
            progress = await self._progress(info)
            if progress is None:
                return 0  # already complete: nothing is appended to a finished object
            if not progress.tail_exists:  # a commit point before any part is sent, so unfinished sends never count
                await self._commit_tail(info, b"", len(progress.parts))
        first = len(progress.parts) + 1
        writer = PartWriter(
            partial(self._upload_part, info),
            part_size,
            first,
            self.parts_in_flight,
            memory=self.memory,
            spool=self.spool,
        )
        try:
            if progress.tail_size:
                try:
                    await self._load_tail(info, writer)
                except OSError as exc:
                    if is_out_of_space(exc):
                        raise InsufficientStorage("no space left on the server to receive the body") from exc
                    raise

            async def commit(received: int, finishing: bool) -> None:
                # Not reached when the commit check fails: `<id>.part` still names the old parts.
                if received or finishing:  # an empty PATCH that declares the length finishes the upload too
                    with map_s3_errors(info.id):
                        await self._commit(info, writer, received, finishing)

            return await receive_parts(
                info, writer, chunks, commit_check, map_s3_errors, commit, reloaded=progress.tail_size
            )
        finally:
            await writer.aclose()

    async def _load_tail(self, info: UploadInfo, writer: PartWriter) -> None:
        with map_s3_errors(info.id):
            obj = await self._run(self.client.get_object, Bucket=self.bucket, Key=self._key(info.id, ".part"))
        body = obj["Body"]
        try:
            while True:
                with map_s3_errors(info.id):
                    data = await self._run(body.read, amt=_READ_SIZE)
                if not data:
                    return
                await writer.add(data)
        finally:
            body.close()

    async def _upload_part(self, info: UploadInfo, number: int, body: PartBody) -> None:
        if number > MAX_PARTS:
            raise TooLarge(f"the upload is longer than {MAX_PARTS} parts of {self._part_size(info)} bytes")
        await self._run(
            self.client.upload_part,
            Bucket=self.bucket,
            Key=self._object_key(info),
            UploadId=info.storage["multipart_id"],
            PartNumber=number,
            Body=body,
        )

    async def _commit(self, info: UploadInfo, writer: PartWriter, received: int, finishing: bool) -> None:
        """Make the bytes of this PATCH count: the last part and completion, or the new tail."""
        sent = writer.number - 1
        if finishing:
            if writer.filled or not sent:  # S3 completes nothing without a part: an empty upload gets an empty one
                await self._upload_part(info, writer.number, writer.remainder())
                sent += 1
            await self._complete(info, sent)
        else:
            await self._commit_tail(info, writer.remainder(), sent)

    async def _commit_tail(self, info: UploadInfo, body: bytes | IO[bytes], parts: int) -> None:
        await self._run(
            self.client.put_object,
            Bucket=self.bucket,
            Key=self._key(info.id, ".part"),
            Body=body,
            Metadata={_PARTS_META: str(parts)},
        )

    async def _complete(self, info: UploadInfo, count: int) -> None:
        parts = [p for p in await self._list_parts(info) if p["PartNumber"] <= count]
        await self._run(
            self.client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=self._object_key(info),
            UploadId=info.storage["multipart_id"],
            MultipartUpload={"Parts": [{"ETag": p["ETag"], "PartNumber": p["PartNumber"]} for p in parts]},
        )
        info.storage["completed"] = True
        await self.save_info(info)
        await self._run(self.client.delete_object, Bucket=self.bucket, Key=self._key(info.id, ".part"))

    async def read(self, info: UploadInfo, start: int, end: int) -> AsyncIterator[bytes]:
        if end <= start:
            return
        if not (info.storage.get("completed") or info.is_final):
            raise UnfinishedUploadUnreadable()
        with map_s3_errors(info.id):
            obj = await self._run(
                self.client.get_object, Bucket=self.bucket, Key=self._object_key(info), Range=f"bytes={start}-{end - 1}"
            )
        body = obj["Body"]
        try:
            while True:
                data = await self._run(body.read, amt=READ_PIECE_BYTES)
                if not data:
                    return
                yield data
        finally:
            body.close()

    # -- capabilities --------------------------------------------------------------------------

    async def terminate(self, upload_id: str) -> None:
        from botocore.exceptions import ClientError

        with map_s3_errors(upload_id):
            await self._run(
                self.client.put_object, Bucket=self.bucket, Key=self._key(upload_id, ".gone"), Body=str(time.time())
            )
            data_key = self._key(upload_id)
            with contextlib.suppress(UploadNotFound, UploadGone):
                info = await self.get_info(upload_id)
                data_key = self._object_key(info)
                if "multipart_id" in info.storage and not info.storage.get("completed"):
                    with contextlib.suppress(ClientError):
                        await self._run(
                            self.client.abort_multipart_upload,
                            Bucket=self.bucket,
                            Key=data_key,
                            UploadId=info.storage["multipart_id"],
                        )
            for key in (self._key(upload_id, ".info"), data_key, self._key(upload_id, ".part")):
                await self._run(self.client.delete_object, Bucket=self.bucket, Key=key)

    async def tombstone_time(self, upload_id: str) -> float | None:
        from botocore.exceptions import ClientError

        try:
            head = await self._run(self.client.head_object, Bucket=self.bucket, Key=self._key(upload_id, ".gone"))
        except ClientError:
            return None
        return float(head["LastModified"].timestamp())

    async def forget_tombstone(self, upload_id: str) -> None:
        with map_s3_errors(upload_id):
            await self._run(self.client.delete_object, Bucket=self.bucket, Key=self._key(upload_id, ".gone"))

    async def concatenate(self, final: UploadInfo, parts: list[UploadInfo]) -> None:
        """Server-side copies (UploadPartCopy, in ranges of at most 5 GiB); a part too short to be an S3 part
        is gathered with the start of the next one through a spool of under 5 MiB."""
        with map_s3_errors(final.id):
            created = await self._run(
                self.client.create_multipart_upload, Bucket=self.bucket, Key=self._object_key(final)
            )
            upload_id = created["UploadId"]
            etags: list[dict[str, Any]] = []
            small = tempfile.TemporaryFile()

            async def send_small() -> None:
                small.seek(0)
                response = await self._run(
                    self.client.upload_part,
                    Bucket=self.bucket,
                    Key=self._object_key(final),
                    UploadId=upload_id,
                    PartNumber=len(etags) + 1,
                    Body=small.read(),
                )
                etags.append({"ETag": response["ETag"], "PartNumber": len(etags) + 1})
                small.seek(0)
                small.truncate()

            try:
                for part in parts:
                    start = 0
                    if small.tell():
                        start = min(part.offset, MIN_PART - small.tell())
                        async for data in self.read(part, 0, start):
                            small.write(data)
                        if small.tell() >= MIN_PART:
                            await send_small()
                    rest = part.offset - start
                    if 0 < rest < MIN_PART:
                        async for data in self.read(part, start, part.offset):
                            small.write(data)
                        continue
                    size = -(-rest // -(-rest // MAX_PART)) if rest else 0  # equal ranges of at most 5 GiB
                    while start < part.offset:
                        end = min(start + size, part.offset)
                        copied = await self._run(
                            self.client.upload_part_copy,
                            Bucket=self.bucket,
                            Key=self._object_key(final),
                            UploadId=upload_id,
                            PartNumber=len(etags) + 1,
                            CopySource={"Bucket": self.bucket, "Key": self._object_key(part)},
                            CopySourceRange=f"bytes={start}-{end - 1}",
                        )
                        etags.append({"ETag": copied["CopyPartResult"]["ETag"], "PartNumber": len(etags) + 1})
                        start = end
                if small.tell() or not etags:
                    await send_small()  # the last part may be short (or empty, for an empty final)
                await self._run(
                    self.client.complete_multipart_upload,
                    Bucket=self.bucket,
                    Key=self._object_key(final),
                    UploadId=upload_id,
                    MultipartUpload={"Parts": etags},
                )
            finally:
                small.close()
            final.storage["completed"] = True
            await self.save_info(final)

    async def link(self, source: UploadInfo, target: UploadInfo) -> None:
        """A server-side copy: S3 has no hard links, but no byte passes through this server."""
        with map_s3_errors(target.id):
            if "multipart_id" in target.storage:
                await self._run(
                    self.client.abort_multipart_upload,
                    Bucket=self.bucket,
                    Key=self._object_key(target),
                    UploadId=target.storage.pop("multipart_id"),
                )
            await self._run(
                self.client.copy,
                CopySource={"Bucket": self.bucket, "Key": self._object_key(source)},
                Bucket=self.bucket,
                Key=self._object_key(target),
            )
            target.storage["completed"] = True
            await self.save_info(target)

    async def list_ids(self) -> AsyncIterator[str]:
        with map_s3_errors("*"):
            paginator = self.client.get_paginator("list_objects_v2")
            pages = await self._run(lambda **kw: list(paginator.paginate(**kw)), Bucket=self.bucket, Prefix=self.prefix)
        for upload_id in ids_in((obj["Key"] for page in pages for obj in page.get("Contents", [])), self.prefix):
            yield upload_id
