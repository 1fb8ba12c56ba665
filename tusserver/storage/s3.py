"""Uploads in S3-compatible object storage, for instances that share no disk.

Layout under `--s3-prefix`: `<id>.info` (the JSON record), `<id>` (the object, built as a multipart
upload), `<id>.part` (a tail shorter than S3's 5 MiB minimum part, carried over to the next PATCH),
`<id>.gone` (tombstone). The offset is always recomputed from S3 (ListParts + the tail), never from
a copy in the record, so a crash between two calls cannot make them disagree.

A request body is spooled to a temporary file first: that keeps memory bounded, lets a failed
`Upload-Checksum` discard the chunk before anything reaches S3, and lets each part be sent with a
known length. boto3 is synchronous, so every call runs in a worker thread. botocore errors are
translated in `map_s3_errors`; nothing above this module sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import partial
from typing import IO, Any

from ..config import Settings, SettingsError
from ..errors import InsufficientStorage, StorageError, UploadGone, UploadNotFound, is_out_of_space
from ..extras import require_extra
from ..models import UploadInfo
from ..types import ChunkStream
from .base import CommitCheck, Store
from .ids import check_upload_id
from .upload_sets import S3UploadSets, UploadSets

MIN_PART = 5 * 1024 * 1024
PART_SIZE = 8 * 1024 * 1024
_READ_SIZE = 1024 * 1024


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextlib.contextmanager
def map_s3_errors(upload_id: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        if _error_code(exc) in ("NoSuchKey", "404", "NoSuchUpload", "NotFound"):
            raise UploadNotFound() from exc
        raise StorageError(f"object storage failed for upload {upload_id}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"object storage failed for upload {upload_id}") from exc


@dataclass(frozen=True)
class S3Config:
    """What the S3 store takes from `Settings`."""

    bucket: str
    endpoint_url: str | None
    region: str
    prefix: str

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Config:
        if not settings.s3_bucket:
            raise SettingsError("--s3-bucket is required with --store s3")
        return cls(settings.s3_bucket, settings.s3_endpoint_url or None, settings.s3_region, settings.s3_prefix)


class S3Store(Store):
    def __init__(self, client: Any, bucket: str, prefix: str = "", part_size: int = PART_SIZE) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.part_size = max(part_size, MIN_PART)

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        config = S3Config.from_settings(settings)
        boto3 = require_extra("boto3", "s3", "--store s3")
        client = boto3.client("s3", endpoint_url=config.endpoint_url, region_name=config.region)
        return cls(client, config.bucket, config.prefix)

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        S3Config.from_settings(settings)

    def upload_sets(self, name: str, counted: bool) -> UploadSets:
        return S3UploadSets(self.client, self.bucket, f"{self.prefix}.sets/{name}/")

    def _key(self, upload_id: str, suffix: str = "") -> str:
        return f"{self.prefix}{check_upload_id(upload_id)}{suffix}"

    async def _run(self, fn: Any, /, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, partial(fn, **kwargs))

    async def prepare(self) -> None:
        with map_s3_errors("*"):
            await self._run(self.client.head_bucket, Bucket=self.bucket)

    async def aclose(self) -> None:
        return None

    # -- records -------------------------------------------------------------------------------

    async def create(self, info: UploadInfo) -> None:
        with map_s3_errors(info.id):
            if not info.is_final:
                created = await self._run(
                    self.client.create_multipart_upload, Bucket=self.bucket, Key=self._key(info.id)
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
            if info.storage.get("completed") or info.is_final:
                size = await self._object_size(self._key(upload_id))
                info.offset = size or 0
            else:
                parts = await self._list_parts(info)
                tail = await self._object_size(self._key(upload_id, ".part"))
                info.offset = sum(p["Size"] for p in parts) + (tail or 0)
                times = [p["LastModified"].timestamp() for p in parts]
                info.storage["mtime"] = max([info.storage["mtime"], *times])
        return info

    async def _exists(self, key: str) -> bool:
        return await self._object_size(key) is not None

    async def _object_size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            head = await self._run(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"])

    async def _list_parts(self, info: UploadInfo) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        marker = 0
        while True:
            page = await self._run(
                self.client.list_parts,
                Bucket=self.bucket,
                Key=self._key(info.id),
                UploadId=info.storage["multipart_id"],
                PartNumberMarker=marker,
            )
            parts.extend(page.get("Parts", []))
            if not page.get("IsTruncated"):
                return parts
            marker = page["NextPartNumberMarker"]

    # -- bytes ---------------------------------------------------------------------------------

    async def write_chunk(self, info: UploadInfo, chunks: ChunkStream, commit_check: CommitCheck | None = None) -> int:
        spool = tempfile.TemporaryFile()
        try:
            received = 0
            try:
                async for chunk in chunks:
                    spool.write(chunk)  # a local page-cache write; S3 calls are what need a thread
                    received += len(chunk)
                spool.flush()
            except OSError as exc:
                if is_out_of_space(exc):  # the local spool disk is full: nothing of this body reached S3
                    raise InsufficientStorage("no space left on the server to receive the body; resume later") from exc
                raise
            if commit_check is not None:
                commit_check()  # raising here discards the chunk: nothing has reached S3 yet
            if received:
                with map_s3_errors(info.id):
                    await self._push(info, spool, received)
            return received
        finally:
            with contextlib.suppress(OSError):  # closing flushes, which fails again on a full disk
                spool.close()

    async def _push(self, info: UploadInfo, spool: IO[bytes], received: int) -> None:
        """Send the old tail plus the new bytes as whole parts; keep a short remainder as the new tail."""
        tail_key = self._key(info.id, ".part")
        tail = b""
        if await self._exists(tail_key):
            obj = await self._run(self.client.get_object, Bucket=self.bucket, Key=tail_key)
            tail = await self._run(obj["Body"].read)
        parts = await self._list_parts(info)
        number = len(parts) + 1
        finishing = info.length is not None and info.offset + received == info.length
        total = len(tail) + received
        spool.seek(0)
        sent = 0
        pending = tail
        while sent < total:
            left = total - sent
            if left < self.part_size and not finishing:
                break  # shorter than a part: becomes the tail
            size = min(self.part_size, left)
            if finishing and left - size < MIN_PART:
                size = left  # never leave a last part the next call could not send
            body = pending + spool.read(size - len(pending))
            pending = b""
            await self._run(
                self.client.upload_part,
                Bucket=self.bucket,
                Key=self._key(info.id),
                UploadId=info.storage["multipart_id"],
                PartNumber=number,
                Body=body,
            )
            number += 1
            sent += size
        remainder = pending + spool.read()
        if remainder:
            await self._run(self.client.put_object, Bucket=self.bucket, Key=tail_key, Body=remainder)
        elif tail:
            await self._run(self.client.delete_object, Bucket=self.bucket, Key=tail_key)
        if finishing:
            await self._complete(info)

    async def _complete(self, info: UploadInfo) -> None:
        parts = await self._list_parts(info)
        await self._run(
            self.client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=self._key(info.id),
            UploadId=info.storage["multipart_id"],
            MultipartUpload={"Parts": [{"ETag": p["ETag"], "PartNumber": p["PartNumber"]} for p in parts]},
        )
        info.storage["completed"] = True
        await self.save_info(info)

    async def read(self, info: UploadInfo, start: int, end: int) -> AsyncIterator[bytes]:
        if end <= start:
            return
        with map_s3_errors(info.id):
            obj = await self._run(
                self.client.get_object, Bucket=self.bucket, Key=self._key(info.id), Range=f"bytes={start}-{end - 1}"
            )
        body = obj["Body"]
        try:
            while True:
                data = await self._run(body.read, amt=_READ_SIZE)
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
            with contextlib.suppress(UploadNotFound, UploadGone):
                info = await self.get_info(upload_id)
                if "multipart_id" in info.storage and not info.storage.get("completed"):
                    with contextlib.suppress(ClientError):
                        await self._run(
                            self.client.abort_multipart_upload,
                            Bucket=self.bucket,
                            Key=self._key(upload_id),
                            UploadId=info.storage["multipart_id"],
                        )
            for suffix in (".info", "", ".part"):
                await self._run(self.client.delete_object, Bucket=self.bucket, Key=self._key(upload_id, suffix))

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
        """Server-side copies (UploadPartCopy); parts under S3's 5 MiB minimum are merged through a spool file."""
        with map_s3_errors(final.id):
            created = await self._run(self.client.create_multipart_upload, Bucket=self.bucket, Key=self._key(final.id))
            upload_id = created["UploadId"]
            etags: list[dict[str, Any]] = []
            small = tempfile.TemporaryFile()
            try:
                for index, part in enumerate(parts):
                    last = index == len(parts) - 1
                    if part.offset >= MIN_PART and small.tell() == 0:
                        copied = await self._run(
                            self.client.upload_part_copy,
                            Bucket=self.bucket,
                            Key=self._key(final.id),
                            UploadId=upload_id,
                            PartNumber=len(etags) + 1,
                            CopySource={"Bucket": self.bucket, "Key": self._key(part.id)},
                        )
                        etags.append({"ETag": copied["CopyPartResult"]["ETag"], "PartNumber": len(etags) + 1})
                        continue
                    async for data in self.read(part, 0, part.offset):
                        small.write(data)
                    if small.tell() >= MIN_PART or last:
                        small.seek(0)
                        response = await self._run(
                            self.client.upload_part,
                            Bucket=self.bucket,
                            Key=self._key(final.id),
                            UploadId=upload_id,
                            PartNumber=len(etags) + 1,
                            Body=small.read(),
                        )
                        etags.append({"ETag": response["ETag"], "PartNumber": len(etags) + 1})
                        small.seek(0)
                        small.truncate()
                await self._run(
                    self.client.complete_multipart_upload,
                    Bucket=self.bucket,
                    Key=self._key(final.id),
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
                    Key=self._key(target.id),
                    UploadId=target.storage.pop("multipart_id"),
                )
            await self._run(
                self.client.copy,
                CopySource={"Bucket": self.bucket, "Key": self._key(source.id)},
                Bucket=self.bucket,
                Key=self._key(target.id),
            )
            target.storage["completed"] = True
            await self.save_info(target)

    async def list_ids(self) -> AsyncIterator[str]:
        with map_s3_errors("*"):
            paginator = self.client.get_paginator("list_objects_v2")
            pages = await self._run(lambda **kw: list(paginator.paginate(**kw)), Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                name = obj["Key"][len(self.prefix) :]
                for suffix in (".info", ".gone"):
                    if name.endswith(suffix):
                        yield name[: -len(suffix)]
