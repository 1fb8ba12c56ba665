"""moto's standalone S3 server on a free loopback port: real HTTP, the closest to S3 that runs here."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, missing, running_process

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class S3Server:
    endpoint: str
    bucket: str

    def client(self) -> object:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", **_keys())

    @property
    def serve_flags(self) -> list[str]:
        return ["--store", "s3", "--s3-endpoint-url", self.endpoint, "--s3-bucket", self.bucket]


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@contextmanager
def running_moto(directory: Path) -> Iterator[S3Server]:
    """moto's standalone S3 server with one bucket, its log in `directory`; stopped on exit."""
    moto = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    if not Path(moto).exists():
        missing("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with running_process(
        [moto, "-H", "127.0.0.1", "-p", str(port)],
        lambda: httpx.get(endpoint, timeout=1).status_code < 500,
        what="moto_server",
        timeout=30,
        log=directory / "moto.log",
        env={**os.environ, **CREDENTIALS},
    ):
        server = S3Server(endpoint, "uploads")
        server.client().create_bucket(Bucket=server.bucket)  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[S3Server]:
    with running_moto(tmp_path) as server:
        yield server
