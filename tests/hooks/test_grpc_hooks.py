"""tusd's gRPC hooks (`--hooks-grpc`) against a real `tusserver serve` and a real grpcio receiver.

The same dispatcher as HTTP hooks: refusals, `ChangeFileInfo`, `HTTPResponse` on accepting answers,
post-receive during a PATCH and `StopUpload`, retries, timeouts, the 503 fail-closed and the bounded
post-hook queue (1,000 uploads with a 1 s receiver lose nothing).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.conftest import ServerFactory
from tests.hooks.grpc_receiver import running_grpc_receiver
from tests.hooks.receiver import Decision, Receiver
from tests.hooks.test_progress_and_stop import MiB, offsets, stopped_mid_patch
from tests.support import OCTET, TUS, free_port, self_signed_certificate, wait_for

PATCH = {**TUS, "Content-Type": OCTET}


@pytest.fixture
def grpc_receiver() -> Iterator[Receiver]:
    with running_grpc_receiver(workers=160) as running:
        yield running


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def platform(hook: dict[str, Any]) -> Decision:
    upload = hook["Event"]["Upload"]
    if hook["Type"] == "pre-create":
        name = upload["MetaData"].get("filename", "")
        if name.endswith(".exe"):
            http = {"StatusCode": 422, "Body": "no executables", "Header": {"X-Policy": "no-exe"}}
            return 200, {"RejectUpload": True, "HTTPResponse": http}
        change = {"ID": f"grpc-{name}-0123456789", "MetaData": {"filename": name, "via": "grpc"}}
        return 200, {"ChangeFileInfo": change, "HTTPResponse": {"Header": {"X-Record": "r-7"}}}
    if hook["Type"] == "pre-finish":
        return 200, {"HTTPResponse": {"Body": '{"record": "r-7"}', "Header": {"Content-Type": "application/json"}}}
    return 200, {}


def test_grpc_hooks_refuse_change_and_observe(server_factory: ServerFactory, grpc_receiver: Receiver) -> None:
    grpc_receiver.decide = platform
    events = "pre-create,post-create,post-receive,pre-finish,post-finish"
    server = server_factory("--hooks-grpc", grpc_receiver.url, "--hooks-enabled", events)
    refused = httpx.post(
        server.endpoint, headers={**TUS, "Upload-Length": "3", "Upload-Metadata": f"filename {b64('a.exe')}"}
    )
    assert (refused.status_code, refused.text, refused.headers["X-Policy"]) == (422, "no executables\n", "no-exe")
    created = httpx.post(
        server.endpoint, headers={**TUS, "Upload-Length": "3", "Upload-Metadata": f"filename {b64('a')}"}
    )
    assert created.status_code == 201 and created.headers["X-Record"] == "r-7"
    url = created.headers["Location"]
    assert url == f"{server.endpoint}grpc-a-0123456789"
    done = httpx.patch(url, content=b"abc", headers={**PATCH, "Upload-Offset": "0"})
    assert (done.status_code, done.json(), done.headers["Upload-Offset"]) == (200, {"record": "r-7"}, "3")
    wait_for(lambda: grpc_receiver.of_type("post-finish"), what="post-finish over gRPC")
    finished = grpc_receiver.of_type("post-finish")[0]["Event"]
    assert finished["Upload"]["ID"] == "grpc-a-0123456789" and finished["Upload"]["Offset"] == 3
    assert finished["Upload"]["MetaData"] == {"filename": "a", "via": "grpc"}
    assert finished["Upload"]["Storage"]["Type"] == "file"
    assert finished["HTTPRequest"]["Method"] == "PATCH" and finished["HTTPRequest"]["Header"]["Upload-Offset"] == ["0"]
    wait_for(lambda: grpc_receiver.of_type("post-receive") and grpc_receiver.of_type("post-create"), what="post events")


def test_grpc_progress_during_a_patch_and_stop_upload(server_factory: ServerFactory, grpc_receiver: Receiver) -> None:
    def quota(hook: dict[str, Any]) -> Decision:
        if hook["Type"] == "post-receive" and hook["Event"]["Upload"]["Offset"] >= 2 * MiB:
            return 200, {"StopUpload": True, "HTTPResponse": {"StatusCode": 403, "Body": "banned mid-upload"}}
        return 200, {}

    grpc_receiver.decide = quota
    server = server_factory(
        "--hooks-grpc", grpc_receiver.url, "--hooks-enabled", "post-receive", "--progress-interval", "0"
    )
    size = 8 * MiB
    data = os.urandom(size)
    url = server.create(size)
    upload_id = url.rsplit("/", 1)[1]
    answer = stopped_mid_patch(server, url, data, grpc_receiver)
    assert (answer.status, answer.body) == (403, b"banned mid-upload\n")
    assert len(set(offsets(grpc_receiver, upload_id))) >= 2  # seen while the PATCH ran
    kept = int(httpx.head(url, headers=TUS).headers["Upload-Offset"])
    assert 2 * MiB <= kept < size
    again = httpx.patch(url, content=b"x", headers={**PATCH, "Upload-Offset": str(kept)})
    assert again.status_code == 400 and "stopped by server" in again.text


def test_dead_slow_or_refusing_grpc_receiver_fails_closed(
    server_factory: ServerFactory, grpc_receiver: Receiver
) -> None:
    dead = server_factory(
        "--hooks-grpc", f"127.0.0.1:{free_port()}", "--hooks-retry", "1", "--hooks-backoff", "0.01",
        "--hooks-enabled", "pre-create,post-create", "--metrics",
    )  # fmt: skip
    refused = httpx.post(dead.endpoint, headers={**TUS, "Upload-Length": "3"})
    assert refused.status_code == 503 and "pre-create hook" in refused.text
    server = server_factory(
        "--hooks-grpc", grpc_receiver.url, "--hooks-timeout", "0.3", "--hooks-retry", "1", "--hooks-backoff", "0.01",
        "--hooks-enabled", "pre-create",
    )  # fmt: skip
    grpc_receiver.delay_s = 2.0
    assert httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "3"}, timeout=30).status_code == 503
    wait_for(lambda: len(grpc_receiver.attempts) == 2, timeout=30, what="the timed-out call retried once")
    grpc_receiver.delay_s = 0.0
    grpc_receiver.decide = lambda hook: (404, None)  # an answer, not retried, never a yes
    before = len(grpc_receiver.attempts)
    assert httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "3"}).status_code == 503
    assert len(grpc_receiver.attempts) == before + 1
    grpc_receiver.decide = lambda hook: (200, {})
    assert httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "3"}).status_code == 201


def test_no_event_lost_with_a_one_second_grpc_receiver(server_factory: ServerFactory, grpc_receiver: Receiver) -> None:
    uploads, concurrency = 1000, 128
    grpc_receiver.delay_s = 1.0
    server = server_factory(
        "--hooks-grpc", grpc_receiver.url, "--hooks-enabled", "post-finish", "--hooks-concurrency", str(concurrency),
        "--metrics",
    )  # fmt: skip
    headers = {**TUS, "Upload-Length": "1", "Content-Type": OCTET}
    ids = set()
    with httpx.Client() as client:
        for _ in range(uploads):
            response = client.post(server.endpoint, content=b"x", headers=headers)
            assert response.status_code == 201
            ids.add(response.headers["Location"].rsplit("/", 1)[1])
    wait_for(lambda: len(grpc_receiver.requests) >= uploads, timeout=180, what=f"{uploads} post-finish hooks")
    assert sorted(hook["Event"]["Upload"]["ID"] for hook in grpc_receiver.requests) == sorted(ids)
    drops = [
        line for line in httpx.get(f"{server.url}/metrics").text.splitlines()
        if line.startswith("tusserver_hook_drops_total{") and not line.endswith(" 0.0")
    ]  # fmt: skip
    assert drops == []


def test_grpc_hooks_over_mutual_tls(server_factory: ServerFactory, tmp_path: Path) -> None:
    """tusd's -hooks-grpc-secure with a server certificate and a client certificate: ours are
    --hooks-grpc-ca, --hooks-grpc-cert and --hooks-grpc-key; an untrusted receiver is a failed hook (503)."""
    cert, key = self_signed_certificate(tmp_path)
    pair = (key.read_bytes(), cert.read_bytes())
    tls = grpc.ssl_server_credentials([pair], root_certificates=cert.read_bytes(), require_client_auth=True)
    with running_grpc_receiver(tls=tls) as receiver:
        receiver.decide = lambda hook: (200, {"HTTPResponse": {"Header": {"X-Via": "tls"}}})
        server = server_factory(
            "--hooks-grpc", receiver.url, "--hooks-grpc-ca", str(cert), "--hooks-grpc-cert", str(cert),
            "--hooks-grpc-key", str(key), "--hooks-enabled", "pre-create",
        )  # fmt: skip
        created = httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "1"})
        assert created.status_code == 201 and created.headers["X-Via"] == "tls"
        untrusted = server_factory(
            "--hooks-grpc", receiver.url, "--hooks-grpc-secure", "--hooks-retry", "0", "--hooks-enabled", "pre-create"
        )
        assert httpx.post(untrusted.endpoint, headers={**TUS, "Upload-Length": "1"}).status_code == 503
        assert len(receiver.requests) == 1
