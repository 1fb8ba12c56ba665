"""Where an instance can die inside the S3 store, and what the next instance finds.

Found by test_instance_dies.py when the SIGKILL landed on the PATCH that finishes the upload: the
instance had completed the multipart upload but not yet marked the record `completed`, and every
other instance then answered 404 for a whole, stored file (the client gave up: "upload disappeared").
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from tests.s3_support import S3Server
from tusserver.models import UploadInfo
from tusserver.storage.ids import new_upload_id
from tusserver.storage.s3.store import S3Store, UnfinishedUploadUnreadable


async def _one(chunk: bytes) -> AsyncIterator[bytes]:
    yield chunk


def test_dying_between_completing_and_recording_it_loses_nothing(s3_server: S3Server) -> None:
    """CompleteMultipartUpload and the record are two writes: an instance killed between them must not
    leave a whole, stored file that every other instance answers 404 for (seen in 2 of 8 kill runs)."""

    async def run() -> None:
        store = S3Store(s3_server.client(), s3_server.bucket)
        data = os.urandom(6 * 1024 * 1024 + 1)
        info = UploadInfo(id=new_upload_id(), length=len(data))
        await store.create(info)
        client = s3_server.client()
        record_before = client.get_object(Bucket=s3_server.bucket, Key=f"{info.id}.info")["Body"].read()  # type: ignore[attr-defined]
        info.offset = await store.write_chunk(info, _one(data))
        # The instance dies right after CompleteMultipartUpload: the record still says "unfinished".
        client.put_object(Bucket=s3_server.bucket, Key=f"{info.id}.info", Body=record_before)  # type: ignore[attr-defined]
        found = await store.get_info(info.id)
        assert found.offset == len(data) and found.is_complete
        assert b"".join([chunk async for chunk in store.read(found, 0, len(data))]) == data

    asyncio.run(run())


def test_reading_an_unfinished_upload_is_a_clear_conflict(s3_server: S3Server) -> None:
    """S3 has no call that reads the parts of an unfinished multipart upload. Any instance continues a
    Repr-Digest hash from its saved state instead; when none covers the offset (Redis flushed), the
    rebuild must fail with a clear 409, not a 404 that tells the client its upload is gone."""

    async def run() -> None:
        store = S3Store(s3_server.client(), s3_server.bucket)
        data = os.urandom(6 * 1024 * 1024 + 3)  # one part and a tail
        info = UploadInfo(id=new_upload_id(), length=3 * len(data))
        await store.create(info)
        info.offset = await store.write_chunk(info, _one(data))
        found = await store.get_info(info.id)
        assert found.offset == len(data)
        with pytest.raises(UnfinishedUploadUnreadable) as refused:
            b"".join([chunk async for chunk in store.read(found, 0, found.offset)])
        assert refused.value.status_code == 409

    asyncio.run(run())
