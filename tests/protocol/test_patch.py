from __future__ import annotations

import httpx
import pytest

from tests.protocol.table import OCTET, Case, run
from tests.support import TUS, LiveServer


def test_patch_appends(live: LiveServer) -> None:
    url = live.create(6)
    run(url, Case("PATCH", {"Upload-Offset": "0", "Content-Type": OCTET}, b"abc", 204, {"Upload-Offset": "3"}))
    run(url, Case("PATCH", {"Upload-Offset": "3", "Content-Type": OCTET}, b"def", 204, {"Upload-Offset": "6"}))
    assert httpx.get(url).content == b"abcdef"


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
def test_patch_errors_store_nothing(live: LiveServer, case: Case) -> None:
    url = live.create(5)
    run(url, case)
    assert httpx.head(url, headers=TUS).headers["Upload-Offset"] == "0"


def test_patch_unknown_is_404(live: LiveServer) -> None:
    run(live.endpoint + "0" * 32, Case("PATCH", {"Upload-Offset": "0", "Content-Type": OCTET}, b"ab", 404))


def test_patch_after_complete_is_rejected(live: LiveServer) -> None:
    url = live.create(2)
    run(url, Case("PATCH", {"Upload-Offset": "0", "Content-Type": OCTET}, b"ab", 204, {"Upload-Offset": "2"}))
    r = httpx.patch(url, headers={**TUS, "Upload-Offset": "2", "Content-Type": OCTET}, content=b"c")
    assert r.status_code in (400, 409, 413)
    assert httpx.get(url).content == b"ab"


def test_empty_patch_is_fine(live: LiveServer) -> None:
    url = live.create(2)
    run(url, Case("PATCH", {"Upload-Offset": "0", "Content-Type": OCTET}, b"", 204, {"Upload-Offset": "0"}))


def test_content_type_parameters_are_tolerated(live: LiveServer) -> None:
    url = live.create(2)
    headers = {"Upload-Offset": "0", "Content-Type": "Application/Offset+Octet-Stream; charset=binary"}
    run(url, Case("PATCH", headers, b"ab", 204, {"Upload-Offset": "2"}))
