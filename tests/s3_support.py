"""moto's standalone S3 server on a free loopback port: real HTTP, the closest to S3 that runs here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import IN_CI, free_port, wait_for

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
        message = "moto_server is not installed (pip install 'moto[server]')"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    with open(directory / "moto.log", "wb") as log:
        proc = subprocess.Popen(
            [moto, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **CREDENTIALS},
        )  # fmt: skip
        endpoint = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: httpx.get(endpoint, timeout=1).status_code < 500, timeout=30, what="moto_server")
            server = S3Server(endpoint, "uploads")
            server.client().create_bucket(Bucket=server.bucket)  # type: ignore[attr-defined]
            yield server
        finally:
            proc.terminate()
            proc.wait(10)


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[S3Server]:
    with running_moto(tmp_path) as server:
        yield server
