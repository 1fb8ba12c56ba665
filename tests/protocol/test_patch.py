from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.protocol.verbs import Case, run
from tests.support import OCTET, TUS, InProcessServer, LiveServer, require_tool


def test_patch_appends(live: InProcessServer) -> None:
    url = live.create(6)
    run(
        live.client,
        url,
        Case("PATCH", {"Upload-Offset": "0", "Content-Type": OCTET}, b"abc", 204, {"Upload-Offset": "3"}),
    )
    run(
        live.client,
        url,
        Case("PATCH", {"Upload-Offset": "3", "Content-Type": OCTET}, b"def", 204, {"Upload-Offset": "6"}),
    )
    assert live.client.get(url).content == b"abcdef"


@pytest.mark.parametrize(
    "case",
    [
        Case("PATCH", {"Upload-Offset": "0", "Content-Type": "text/plain"}, b"ab", 415),
        Case("PATCH", {"Upload-Offset": "0"}, b"ab", 415),
        Case("PATCH", {"Upload-Offset": "1", "Content-Type": OCTET}, b"ab", 409),
        Case("PATCH", {"Upload-Offset": "-1", "Content-Type": OCTET}, b"ab", 400),
        Case("PATCH", {"Upload-Offset": "x", "Content-Type": OCTET}, b"ab", 400),
        Case("PATCH", {"Content-Type": OCTET}, b"ab", 400),
        Case("PATCH", {"Upload-Offset": "0", "Content-Type": OCTET}, b"abcdefgh", 413),
        Case("PATCH", {"Upload-Offset": "0", "Content-Type": OCTET}, b"ab", 412, tus=False),
        Case("PATCH", {"Upload-Offset": "0", "Content-Type": OCTET, "Upload-Length": "9"}, b"ab", 400),
    ],
    ids=lambda c: f"{c.status}-{c.headers.get('Content-Type')}-{c.headers.get('Upload-Offset')}",
)
def test_patch_errors_store_nothing(live: InProcessServer, case: Case) -> None:
    url = live.create(5)
    run(live.client, url, case)
    assert live.client.head(url, headers=TUS).headers["Upload-Offset"] == "0"


def test_patch_unknown_is_404(live: InProcessServer) -> None:
    run(live.client, live.endpoint + "0" * 32, Case("PATCH", {"Upload-Offset": "0", "Content-Type": OCTET}, b"ab", 404))


def test_patch_after_complete_is_rejected(live: InProcessServer) -> None:
    url = live.create(2)
    run(
        live.client,
        url,
        Case("PATCH", {"Upload-Offset": "0", "Content-Type": OCTET}, b"ab", 204, {"Upload-Offset": "2"}),
    )
    r = live.client.patch(url, headers={**TUS, "Upload-Offset": "2", "Content-Type": OCTET}, content=b"c")
    assert r.status_code in (400, 409, 413)
    assert live.client.get(url).content == b"ab"


def test_empty_patch_is_fine(live: InProcessServer) -> None:
    url = live.create(2)
    run(
        live.client, url, Case("PATCH", {"Upload-Offset": "0", "Content-Type": OCTET}, b"", 204, {"Upload-Offset": "0"})
    )


def test_content_type_parameters_are_tolerated(live: InProcessServer) -> None:
    url = live.create(2)
    headers = {"Upload-Offset": "0", "Content-Type": "Application/Offset+Octet-Stream; charset=binary"}
    run(live.client, url, Case("PATCH", headers, b"ab", 204, {"Upload-Offset": "2"}))


def test_curl_expect_100_continue_sends_no_body_on_rejection(server: LiveServer, tmp_path: Path) -> None:
    """curl sends `Expect: 100-continue` for big bodies; a rejected PATCH must not make it upload them."""
    curl = require_tool("curl")
    body = tmp_path / "body.bin"
    body.write_bytes(os.urandom(2_000_000))
    url = server.create(2_000_000)

    def send(offset: int) -> list[str]:
        cmd = [curl, "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_upload}", "-X", "PATCH",
               "-H", "Tus-Resumable: 1.0.0", "-H", f"Upload-Offset: {offset}", "-H", f"Content-Type: {OCTET}",
               "--data-binary", f"@{body}", url]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout.split()

    assert send(7) == ["409", "0"]
    assert send(0) == ["204", "2000000"]
    assert server.client.get(url).content == body.read_bytes()
