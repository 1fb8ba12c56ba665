"""Backends that are not there yet, or go away: the server starts anyway, answers 503 with Retry-After,
/readyz names what is missing, the log has one line (no traceback), and it recovers by itself.

Real parts only: moto's S3 server whose bucket is created after the server started, and a real
`redis-server` stopped and started again under a running server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ServerFactory
from tests.redis_support import RedisProcess
from tests.s3_support import CREDENTIALS, S3Server
from tests.support import PATCH, TUS, free_port, wait_for


def _unavailable(response: httpx.Response) -> bool:
    return response.status_code == 503 and int(response.headers["Retry-After"]) > 0


def test_bucket_created_after_start(server_factory: ServerFactory, s3_server: S3Server) -> None:
    bucket = "created-later"
    flags = ["--store", "s3", "--s3-endpoint-url", s3_server.endpoint, "--s3-bucket", bucket]
    server = server_factory(*flags, "--log-level", "info", env=CREDENTIALS)

    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 503 and bucket in ready.text, ready.text
    created = server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "5"})
    assert _unavailable(created), (created.status_code, created.text)
    head = server.client.head(f"{server.endpoint}0123456789abcdef0123456789abcdef", headers=TUS)
    assert _unavailable(head)

    s3_server.client().create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    wait_for(lambda: httpx.get(f"{server.url}/readyz").status_code == 200, what="readyz once the bucket exists")
    url = server.create(5)
    done = server.client.patch(url, headers={**PATCH, "Upload-Offset": "0"}, content=b"hello")
    assert done.status_code == 204
    log = server.log_path.read_text()  # all of it: a traceback early on counts too
    assert "Traceback" not in log
    assert f"S3 bucket {bucket} does not exist" in log


def test_redis_late_then_stopped_and_started(
    server_factory: ServerFactory, redis_process: RedisProcess, tmp_path: Path
) -> None:
    # Redis is not running when the server starts.
    server = server_factory("--locker", "redis", "--redis-url", redis_process.url, "--log-level", "info")
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 503 and f"Redis at 127.0.0.1:{redis_process.port}" in ready.text
    early = server.create(10)  # creating takes no lock: the file store alone answers
    assert _unavailable(server.client.head(early, headers=TUS))  # this one needs its lock, in Redis

    redis_process.start()
    wait_for(lambda: httpx.get(f"{server.url}/readyz").status_code == 200, what="readyz once redis is up")
    url = server.create(10)
    assert server.client.patch(url, headers={**PATCH, "Upload-Offset": "0"}, content=b"01234").status_code == 204

    redis_process.stop()
    head = server.client.head(url, headers=TUS)
    assert _unavailable(head), head.status_code
    patch = server.client.patch(url, headers={**PATCH, "Upload-Offset": "5"}, content=b"56789")
    assert _unavailable(patch), (patch.status_code, patch.text)
    assert httpx.get(f"{server.url}/readyz").status_code == 503

    redis_process.start()
    wait_for(lambda: server.client.head(url, headers=TUS).status_code == 200, what="HEAD once redis is back")
    assert server.client.head(url, headers=TUS).headers["Upload-Offset"] == "5"
    assert server.client.patch(url, headers={**PATCH, "Upload-Offset": "5"}, content=b"56789").status_code == 204
    assert (server.data_dir / url.rsplit("/", 1)[1]).read_bytes() == b"0123456789"
    log = server.log_path.read_text()  # all of it: a traceback early on counts too
    assert "Traceback" not in log
    assert "is not reachable: start it or fix --redis-url" in log


def test_unreachable_hook_receiver_is_one_log_line(server_factory: ServerFactory) -> None:
    """A blocking hook whose receiver is down: 503 for the client, one line for the operator, no traceback."""
    dead = f"http://127.0.0.1:{free_port()}/hooks"
    server = server_factory("--hooks-url", dead, "--hooks-enabled", "pre-create,post-create", "--hooks-retry", "0")
    refused = server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "5"})
    assert refused.status_code == 503
    log = server.log_path.read_text()
    assert "Traceback" not in log
    assert [line for line in log.splitlines() if "pre-create hook" in line and dead in line]


def test_s3_endpoint_not_reachable(server_factory: ServerFactory) -> None:
    port = free_port()  # nothing listens there
    flags = ["--store", "s3", "--s3-endpoint-url", f"http://127.0.0.1:{port}", "--s3-bucket", "uploads"]
    server = server_factory(*flags, "--log-level", "info", env=CREDENTIALS)
    ready = httpx.get(f"{server.url}/readyz", timeout=60)
    assert ready.status_code == 503 and f"S3 endpoint 127.0.0.1:{port} is not reachable" in ready.text
    for _ in range(3):
        assert _unavailable(server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "5"}))
    log = server.log_path.read_text()
    assert "Traceback" not in log
    # One line per backend, not one per request or object.
    assert log.count("is not reachable: start it or fix --s3-endpoint-url") <= 2


def test_cleanup_with_redis_down_says_so_in_one_line(redis_process: RedisProcess, tmp_path: Path) -> None:
    """`tusserver cleanup` runs from cron: a missing Redis is one line on stderr and exit 1, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "tusserver", "cleanup", "--locker", "redis", "--redis-url", redis_process.url,
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        result.stderr.strip() == f"tusserver cleanup: Redis at 127.0.0.1:{redis_process.port} is not reachable: "
        "start it or fix --redis-url"
    )
