"""post-receive while a PATCH runs, and `StopUpload` ending it (issue #25), on every body path and on S3.

The body goes out a MiB at a time on a raw socket, and the next MiB only once the receiver has seen a
post-receive with a higher offset than before: progress is seen while the PATCH is still open. A
receiver that answers `StopUpload` ends the PATCH: the client gets the hook's `HTTPResponse`, the bytes
so far are kept (HEAD), and a later PATCH is refused, as tusd does.
"""

from __future__ import annotations

import base64
import hashlib
import os
import select
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.hooks.receiver import Decision, Receiver
from tests.support import OCTET, TUS, LiveServer, RawResponse, half_patch, read_http_response, wait_for

MiB = 1024 * 1024
SIZE = 8 * MiB

# (--body-threads, with Upload-Checksum): which path the body takes (as tests/test_body_progress.py)
PATHS = {
    "body-thread": ("4", False),
    "body-thread-hashing": ("4", True),
    "loop-sink": ("0", False),
    "receive": ("0", True),
}


def start(server_factory: ServerFactory, receiver: Receiver, threads: str, store: Any) -> LiveServer:
    flags, env = store
    return server_factory(
        "--hooks-url", receiver.url, "--hooks-enabled", "post-receive", "--progress-interval", "0",
        "--body-threads", threads, *flags, env=env,
    )  # fmt: skip


def offsets(receiver: Receiver, upload_id: str) -> list[int]:
    events = [h["Event"]["Upload"] for h in receiver.of_type("post-receive")]
    return [upload["Offset"] for upload in events if upload["ID"] == upload_id]


def higher(receiver: Receiver, upload_id: str, than: int) -> bool:
    return max(offsets(receiver, upload_id), default=0) > than


def readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def stopped_mid_patch(server: LiveServer, url: str, data: bytes, receiver: Receiver) -> RawResponse:
    """The answer to one PATCH of `data`, sent a MiB at a time, the next MiB once the receiver saw a
    higher offset, until it saw 2 MiB: for receivers whose hook stops the upload there."""
    upload_id = url.rsplit("/", 1)[1]
    with half_patch(server, url, b"", promised=len(data)) as sock:
        for step in range(len(data) // MiB):
            sock.sendall(data[step * MiB : (step + 1) * MiB])
            seen = max(offsets(receiver, upload_id), default=0)
            if seen >= 2 * MiB:
                break
            wait_for(lambda seen=seen: readable(sock) or higher(receiver, upload_id, seen), timeout=60)
        wait_for(lambda: readable(sock), timeout=60, what="the stopped PATCH's answer")
        return read_http_response(sock)


def checksum_header(data: bytes, on: bool) -> dict[str, str] | None:
    return {"Upload-Checksum": "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()} if on else None


@pytest.mark.parametrize("path", PATHS)
def test_post_receive_during_one_patch(
    server_factory: ServerFactory, receiver: Receiver, path: str, store: Any
) -> None:
    threads, checksum = PATHS[path]
    server = start(server_factory, receiver, threads, store)
    data = os.urandom(SIZE)
    url = server.create(SIZE)
    upload_id = url.rsplit("/", 1)[1]
    seen = 0
    with half_patch(server, url, b"", promised=SIZE, headers=checksum_header(data, checksum)) as sock:
        for step in range(4):
            sock.sendall(data[step * MiB : (step + 1) * MiB])
            wait_for(lambda seen=seen: higher(receiver, upload_id, seen), timeout=60, what="a higher offset")
            seen = max(offsets(receiver, upload_id))
            assert not readable(sock), "the PATCH answered before its body was sent"
        during = offsets(receiver, upload_id)
        sock.sendall(data[4 * MiB :])
        answer = read_http_response(sock)
    assert answer.status == 204, answer
    # post-hooks go out concurrently (as tusd's): the order they arrive in is not promised, the offsets are
    assert len(set(during)) >= 4 and 0 < min(during) and max(during) <= 4 * MiB
    wait_for(lambda: SIZE in offsets(receiver, upload_id), timeout=30, what="post-receive at the last byte")
    assert httpx.get(url).content == data


def test_post_receive_at_the_configured_interval(server_factory: ServerFactory, receiver: Receiver, store: Any) -> None:
    """With `--progress-interval 0.2`, a PATCH whose body takes over a second gets post-receive events while
    it runs, each at a new offset, and never more than one per interval: the count is bounded by the PATCH's
    own duration (the throttle's promise, whatever the machine's load), not by a time this test guesses.
    bench/hook_progress.py measures the same on a 1 GiB PATCH (docs/hooks.md has the figures)."""
    interval, piece, size = 0.2, 64 * 1024, 16 * MiB
    flags, env = store
    server = server_factory(
        "--hooks-url", receiver.url, "--hooks-enabled", "post-receive", "--progress-interval", str(interval),
        *flags, env=env,
    )  # fmt: skip
    data = os.urandom(size)
    url = server.create(size)
    upload_id = url.rsplit("/", 1)[1]
    began = time.monotonic()
    with half_patch(server, url, b"", promised=size) as sock:
        for start_at in range(0, size, piece):
            sock.sendall(data[start_at : start_at + piece])
            time.sleep(0.005)  # a client on a slow link (about 12 MB/s): the body lasts several intervals
        answer = read_http_response(sock)
    took = time.monotonic() - began
    assert answer.status == 204, answer
    wait_for(lambda: size in offsets(receiver, upload_id), timeout=30, what="post-receive at the last byte")
    during = [offset for offset in offsets(receiver, upload_id) if offset < size]
    assert len(during) >= 2 and len(set(during)) == len(during), during
    assert len(during) <= took / interval + 1, (len(during), took)


@pytest.mark.parametrize("path", ["body-thread", "receive"])
def test_stop_upload_ends_the_running_patch(
    server_factory: ServerFactory, receiver: Receiver, path: str, store: Any
) -> None:
    def quota(hook: dict[str, Any]) -> Decision:
        if hook["Type"] == "post-receive" and hook["Event"]["Upload"]["Offset"] >= 2 * MiB:
            answer = {"StatusCode": 413, "Body": "quota exceeded", "Header": {"X-Quota": "2MiB"}}
            return 200, {"StopUpload": True, "HTTPResponse": answer}
        return 200, {}

    receiver.decide = quota
    server = start(server_factory, receiver, PATHS[path][0], store)
    data = os.urandom(SIZE)
    url = server.create(SIZE)
    answer = stopped_mid_patch(server, url, data, receiver)
    assert (answer.status, answer.body, answer.headers.get("x-quota")) == (413, b"quota exceeded\n", "2MiB")
    head = httpx.head(url, headers=TUS)
    kept = int(head.headers["Upload-Offset"])
    assert 2 * MiB <= kept < SIZE
    again = httpx.patch(url, content=data[kept:], headers={**TUS, "Content-Type": OCTET, "Upload-Offset": str(kept)})
    assert again.status_code == 400 and "stopped by server" in again.text
    assert int(httpx.head(url, headers=TUS).headers["Upload-Offset"]) == kept


# A post-receive file hook: notes each offset it is told (one file each), stops the upload past 2 MiB.
STOPPER = """#!{python}
import json, os, sys
hook = json.load(sys.stdin)
offset = hook["Event"]["Upload"]["Offset"]
open(os.path.join({out!r}, str(offset)), "w").close()
if offset >= 2 * 1024 * 1024:
    print(json.dumps({{"StopUpload": True, "HTTPResponse": {{"StatusCode": 409, "Body": "virus found"}}}}))
"""


def test_a_file_hook_sees_progress_and_stops_the_upload(
    server_factory: ServerFactory, tmp_path: Path, store: Any
) -> None:
    hooks_dir, out = tmp_path / "hooks", tmp_path / "seen"
    hooks_dir.mkdir()
    out.mkdir()
    script = hooks_dir / "post-receive"
    script.write_text(STOPPER.format(python=sys.executable, out=str(out)))
    script.chmod(0o755)
    flags, env = store
    server = server_factory(
        "--hooks-dir", str(hooks_dir), "--hooks-enabled", "post-receive", "--progress-interval", "0", *flags, env=env
    )
    data = os.urandom(SIZE)
    url = server.create(SIZE)

    def told() -> int:
        return max((int(p.name) for p in out.iterdir()), default=0)

    with half_patch(server, url, b"", promised=SIZE) as sock:
        for step in range(SIZE // MiB):
            sock.sendall(data[step * MiB : (step + 1) * MiB])
            seen = told()
            if seen >= 2 * MiB:
                break
            wait_for(lambda seen=seen: readable(sock) or told() > seen, timeout=60)
        wait_for(lambda: readable(sock), timeout=60, what="the stopped PATCH's answer")
        answer = read_http_response(sock)
    assert (answer.status, answer.body) == (409, b"virus found\n")
    assert len(list(out.iterdir())) >= 2  # told while the PATCH ran
    kept = int(httpx.head(url, headers=TUS).headers["Upload-Offset"])
    assert 2 * MiB <= kept < SIZE
    again = httpx.patch(url, content=b"x", headers={**TUS, "Content-Type": OCTET, "Upload-Offset": str(kept)})
    assert again.status_code == 400 and "stopped by server" in again.text
