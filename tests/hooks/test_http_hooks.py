"""tusd v2 HTTP hooks against a real `tusserver serve` and a real receiver (tests/hooks/receiver.py)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError

from tests.conftest import AppFactory, ServerFactory
from tests.hooks.receiver import Decision, Receiver
from tests.support import NODE_DIR, OCTET, TUS, require_node_package, wait_for

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PATCH = {**TUS, "Upload-Offset": "0", "Content-Type": OCTET}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def refuse_executables(hook: dict[str, Any]) -> Decision:
    if hook["Type"] == "pre-create" and hook["Event"]["Upload"]["MetaData"].get("filename", "").endswith(".exe"):
        response = {"StatusCode": 422, "Body": "no executables here", "Header": {"X-Policy": "no-exe"}}
        return 200, {"RejectUpload": True, "HTTPResponse": response}
    return 200, {}


def test_tusd_payload_for_each_post_event(app_factory: AppFactory, receiver: Receiver) -> None:
    server = app_factory("--hooks-url", receiver.url)
    url = server.create(3, {"Upload-Metadata": f"filename {b64('a.txt')}"})
    assert server.client.patch(url, content=b"abc", headers=PATCH).status_code == 204
    assert server.client.delete(url, headers=TUS).status_code == 204
    wait_for(lambda: "post-terminate" in receiver.types(), what="post-terminate")
    wait_for(lambda: len(receiver.types()) == 5, what="five hooks")
    # Post-hooks go out concurrently: their order is not promised, each arrives once.
    assert sorted(receiver.types()) == sorted(
        ["pre-create", "post-create", "post-receive", "post-finish", "post-terminate"]
    )
    finished = receiver.of_type("post-finish")[0]["Event"]
    upload = finished["Upload"]
    assert upload["ID"] == url.rsplit("/", 1)[1]
    assert (upload["Size"], upload["Offset"], upload["SizeIsDeferred"]) == (3, 3, False)
    assert upload["MetaData"] == {"filename": "a.txt"}  # decoded, as tusd sends it
    assert (upload["IsPartial"], upload["IsFinal"], upload["PartialUploads"]) == (False, False, None)
    assert upload["Storage"]["Type"] == "file" and upload["Storage"]["Path"].endswith(upload["ID"])
    request = finished["HTTPRequest"]
    assert request["Method"] == "PATCH" and request["URI"] == f"/files/{upload['ID']}"
    assert request["RemoteAddr"].startswith("127.0.0.1:")
    assert request["Header"]["Upload-Offset"] == ["0"]


def test_pre_create_rejection_reaches_tuspy(server_factory: ServerFactory, receiver: Receiver, tmp_path: Path) -> None:
    receiver.decide = refuse_executables
    server = server_factory("--hooks-url", receiver.url)
    raw = httpx.post(
        server.endpoint, headers={**TUS, "Upload-Length": "1", "Upload-Metadata": f"filename {b64('x.exe')}"}
    )
    assert raw.status_code == 422 and raw.text.strip() == "no executables here"
    assert raw.headers["X-Policy"] == "no-exe"
    source = tmp_path / "virus.exe"
    source.write_bytes(b"MZ" * 100)
    uploader = tus_client.TusClient(server.endpoint).uploader(str(source), metadata={"filename": "virus.exe"})
    with pytest.raises(TusCommunicationError) as caught:
        uploader.upload()
    assert caught.value.status_code == 422
    assert "no executables here" in str(caught.value.response_content)
    fine = tmp_path / "fine.txt"
    fine.write_bytes(b"hello")
    ok = tus_client.TusClient(server.endpoint).uploader(str(fine), metadata={"filename": "fine.txt"})
    ok.upload()
    assert httpx.get(ok.url).content == b"hello"
    assert "post-create" not in [
        h["Type"] for h in receiver.requests if h["Event"]["Upload"]["MetaData"].get("filename") == "virus.exe"
    ]


def test_pre_create_rejection_reaches_tus_js_client(
    server_factory: ServerFactory, receiver: Receiver, tmp_path: Path
) -> None:
    node = require_node_package("tus-js-client")
    receiver.decide = refuse_executables
    server = server_factory("--hooks-url", receiver.url)
    source = tmp_path / "setup.exe"  # upload_plain.js sends the file name as `filename`
    source.write_bytes(b"MZ" * 10)
    done = subprocess.run(
        [node, str(NODE_DIR / "upload_plain.js"), str(source), server.endpoint, json.dumps({"retryDelays": []})],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "response code: 422" in done.stderr and "no executables here" in done.stderr


def test_pre_create_changes_id_and_metadata(app_factory: AppFactory, receiver: Receiver) -> None:
    def rename(hook: dict[str, Any]) -> Decision:
        if hook["Type"] != "pre-create":
            return 200, {}
        name = hook["Event"]["Upload"]["MetaData"]["filename"]
        if name == "bad-id":
            return 200, {"ChangeFileInfo": {"ID": "../../etc/passwd"}}
        return 200, {"ChangeFileInfo": {"ID": f"tenant-a-{name}", "MetaData": {"filename": name, "tenant": "a"}}}

    receiver.decide = rename
    server = app_factory("--hooks-url", receiver.url)
    url = server.create(2, {"Upload-Metadata": f"filename {b64('0123456789abcdef')}"})
    assert url == f"{server.endpoint}tenant-a-0123456789abcdef"
    head = server.client.head(url, headers=TUS)
    assert head.status_code == 200
    assert sorted(head.headers["Upload-Metadata"].split(",")) == [
        f"filename {b64('0123456789abcdef')}",
        f"tenant {b64('a')}",
    ]
    assert server.client.patch(url, content=b"hi", headers=PATCH).status_code == 204
    assert server.client.get(url).content == b"hi"
    wait_for(lambda: receiver.of_type("post-create"), what="post-create")
    assert receiver.of_type("post-create")[0]["Event"]["Upload"]["ID"] == "tenant-a-0123456789abcdef"
    # The same ID again is taken, and an ID that is not one we could have made is refused: never stored.
    again = server.client.post(
        server.endpoint, headers={**TUS, "Upload-Length": "1", "Upload-Metadata": f"filename {b64('0123456789abcdef')}"}
    )
    assert again.status_code == 503
    bad = server.client.post(
        server.endpoint, headers={**TUS, "Upload-Length": "1", "Upload-Metadata": f"filename {b64('bad-id')}"}
    )
    assert bad.status_code == 503 and "invalid upload ID" in bad.text


def test_pre_access_refuses_one_upload_and_not_another(app_factory: AppFactory, receiver: Receiver) -> None:
    blocked: set[str] = set()

    def gate(hook: dict[str, Any]) -> Decision:
        if hook["Type"] == "pre-access" and hook["Event"]["Upload"]["ID"] in blocked:
            return 200, {"RejectAccess": True, "HTTPResponse": {"Body": "quarantined"}}
        return 200, {}

    receiver.decide = gate
    server = app_factory("--hooks-url", receiver.url, "--hooks-enabled", "pre-access")
    open_url, shut_url = server.create(3), server.create(3)
    blocked.add(shut_url.rsplit("/", 1)[1])
    refused_head = server.client.head(shut_url, headers=TUS)
    refused_patch = server.client.patch(shut_url, content=b"abc", headers=PATCH)
    assert (refused_head.status_code, refused_patch.status_code) == (403, 403)
    assert refused_patch.text.strip() == "quarantined"
    assert server.client.get(shut_url).status_code == 403
    assert server.client.delete(shut_url, headers=TUS).status_code == 403
    assert server.client.patch(open_url, content=b"abc", headers=PATCH).status_code == 204
    assert server.client.head(open_url, headers=TUS).headers["Upload-Offset"] == "3"
    assert server.client.get(open_url).content == b"abc"
    blocked.clear()
    assert server.client.head(shut_url, headers=TUS).headers["Upload-Offset"] == "0"  # the refused PATCH stored nothing
    methods = [h["Event"]["HTTPRequest"]["Method"] for h in receiver.of_type("pre-access")]
    assert methods == ["HEAD", "PATCH", "GET", "DELETE", "PATCH", "HEAD", "GET", "HEAD"]


def test_pre_access_runs_only_after_auth_accepted_the_token(app_factory: AppFactory, receiver: Receiver) -> None:
    server = app_factory("--hooks-url", receiver.url, "--hooks-enabled", "pre-access", "--jwt-secret", "s" * 32)
    assert server.client.head(f"{server.endpoint}0123456789abcdefghij", headers=TUS).status_code == 401
    assert receiver.attempts == []


def test_pre_terminate_refuses_a_delete(app_factory: AppFactory, receiver: Receiver) -> None:
    keep: set[str] = set()

    def guard(hook: dict[str, Any]) -> Decision:
        if hook["Type"] == "pre-terminate" and hook["Event"]["Upload"]["ID"] in keep:
            return 200, {"RejectTermination": True, "HTTPResponse": {"StatusCode": 409, "Body": "legal hold"}}
        return 200, {}

    receiver.decide = guard
    server = app_factory("--hooks-url", receiver.url, "--hooks-enabled", "pre-terminate,post-terminate")
    held, free = server.create(3), server.create(3)
    keep.add(held.rsplit("/", 1)[1])
    refused = server.client.delete(held, headers=TUS)
    assert refused.status_code == 409 and refused.text.strip() == "legal hold"
    assert server.client.head(held, headers=TUS).status_code == 200  # still there
    assert server.client.delete(free, headers=TUS).status_code == 204
    assert server.client.head(free, headers=TUS).status_code in (404, 410)
    wait_for(lambda: receiver.of_type("post-terminate"), what="post-terminate")
    assert [h["Event"]["Upload"]["ID"] for h in receiver.of_type("post-terminate")] == [free.rsplit("/", 1)[1]]


def test_post_finish_delivered_once_after_two_failures(app_factory: AppFactory, receiver: Receiver) -> None:
    tries = {"post-finish": 0}

    def flaky(hook: dict[str, Any]) -> Decision:
        if hook["Type"] == "post-finish":
            tries["post-finish"] += 1
            if tries["post-finish"] <= 2:
                return 500, None
        return 200, {}

    receiver.decide = flaky
    server = app_factory(
        "--hooks-url", receiver.url, "--hooks-backoff", "0.05", "--hooks-enabled", "post-finish,post-terminate"
    )
    url = server.create(3)
    assert server.client.patch(url, content=b"abc", headers=PATCH).status_code == 204
    wait_for(lambda: receiver.of_type("post-finish"), what="post-finish after retries")
    assert server.client.delete(url, headers=TUS).status_code == 204
    wait_for(lambda: receiver.of_type("post-terminate"), what="post-terminate")  # it follows any late duplicate
    assert len(receiver.of_type("post-finish")) == 1
    assert tries["post-finish"] == 3


def test_unreachable_pre_hook_fails_closed(app_factory: AppFactory) -> None:
    server = app_factory("--hooks-url", "http://127.0.0.1:9/down", "--hooks-retry", "1", "--hooks-backoff", "0.01")
    refused = server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "3"})
    assert refused.status_code == 503 and "pre-create hook" in refused.text


def test_dead_post_hook_endpoint_never_stops_uploads_and_drops_are_counted(server_factory: ServerFactory) -> None:
    server = server_factory(
        "--hooks-url", "http://127.0.0.1:9/down", "--hooks-enabled", "post-create,post-finish",
        "--hooks-retry", "1", "--hooks-backoff", "0.01", "--metrics", "--log-level", "error",
    )  # fmt: skip
    url = server.create(3)
    assert server.client.patch(url, content=b"abc", headers=PATCH).status_code == 204
    assert server.client.get(url).content == b"abc"

    def drops() -> float:
        total = 0.0
        for line in server.client.get(f"{server.url}/metrics").text.splitlines():
            if line.startswith("tusserver_hook_drops_total{") and 'reason="failed"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    wait_for(lambda: drops() == 2, what="two dropped events counted")
    wait_for(lambda: "dropped post-finish hook" in server.log(), what="the drop logged")


def test_slow_or_refusing_pre_hook_endpoint_fails_closed(app_factory: AppFactory, receiver: Receiver) -> None:
    receiver.delay_s = 3.0
    server = app_factory("--hooks-url", receiver.url, "--hooks-timeout", "0.3", "--hooks-retry", "0")
    assert server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "3"}, timeout=30).status_code == 503
    receiver.delay_s = 0.0
    receiver.decide = lambda hook: (404, None)  # a wrong hook path: an answer, not retried, never a yes
    assert server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "3"}).status_code == 503
    receiver.decide = lambda hook: (200, {})
    assert server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "3"}).status_code == 201
