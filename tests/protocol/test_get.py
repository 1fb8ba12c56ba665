"""GET downloads: Range, safe Content-Type and Content-Disposition, no Tus-Resumable needed."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.protocol.verbs import Case, run
from tests.support import OCTET, TUS, InProcessServer

DATA = bytes(range(256)) * 4


def _finished(app: InProcessServer, metadata: dict[str, str]) -> str:
    encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items())
    url = app.create(len(DATA), {"Upload-Metadata": encoded} if metadata else {})
    r = app.client.patch(
        url, content=DATA, headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    )
    assert r.status_code == 204
    return httpx.URL(url).path


@pytest.mark.parametrize(
    "case",
    [
        Case("GET", content=DATA, expect={"Content-Length": "1024", "Accept-Ranges": "bytes"}, tus=False),
        Case(
            "GET",
            {"Range": "bytes=10-19"},
            status=206,
            content=DATA[10:20],
            tus=False,
            expect={"Content-Range": "bytes 10-19/1024", "Content-Length": "10"},
        ),
        Case("GET", {"Range": "bytes=1000-"}, status=206, content=DATA[1000:], tus=False),
        Case("GET", {"Range": "bytes=-4"}, status=206, content=DATA[-4:], tus=False),
        Case("GET", {"Range": "bytes=5000-"}, status=416, expect={"Content-Range": "bytes */1024"}, tus=False),
        Case("GET", {"Range": "bytes=0-1,5-6"}, status=200, content=DATA, tus=False),
        Case("HEAD", status=200, expect={"Content-Length": "1024"}, tus=False),
    ],  # fmt: skip
    ids=["whole", "range", "open-range", "suffix", "unsatisfiable", "multi-range-ignored", "head-without-tus"],
)
def test_download(app: InProcessServer, case: Case) -> None:
    run(app.client, app.url + _finished(app, {}), case)


@pytest.mark.parametrize(
    ("metadata", "content_type", "disposition"),
    [
        (
            {"filename": "report.pdf", "filetype": "application/pdf"},
            "application/pdf",
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf",
        ),
        (
            {"filename": "cat.png", "filetype": "image/png"},
            "image/png",
            "inline; filename=\"cat.png\"; filename*=UTF-8''cat.png",
        ),
        (
            {"filename": 'a"b\\c.txt'},
            "application/octet-stream",
            "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a%22b%5Cc.txt",
        ),
        (
            {"filename": "r\u00e9sum\u00e9.txt"},
            "application/octet-stream",
            "attachment; filename=\"r_sum_.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt",
        ),
        (
            {"filename": "x\r\nSet-Cookie: a=b"},
            "application/octet-stream",
            "attachment; filename=\"x__Set-Cookie: a=b\"; filename*=UTF-8''x%0D%0ASet-Cookie%3A%20a%3Db",
        ),
        ({"filetype": "text/html\r\nX-Evil: 1"}, "application/octet-stream", "attachment"),
        ({"filetype": "text/html"}, "text/html; charset=utf-8", "attachment"),
    ],  # fmt: skip
    ids=["pdf", "inline-image", "quotes", "utf8", "crlf-filename", "crlf-type", "html-is-attachment"],
)
def test_download_headers_are_safe(
    app: InProcessServer, metadata: dict[str, str], content_type: str, disposition: str
) -> None:
    path = _finished(app, metadata)
    r = app.client.get(app.url + path)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == content_type
    assert r.headers["Content-Disposition"] == disposition
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Evil" not in r.headers and "Set-Cookie" not in r.headers


def test_unfinished_upload_is_409(app: InProcessServer) -> None:
    url = app.create(10)
    run(app.client, url, Case("GET", status=409, tus=False))


def test_unknown_upload_is_404(app: InProcessServer) -> None:
    run(app.client, app.endpoint + "AAAAAAAAAAAAAAAAAAAAAA", Case("GET", status=404, tus=False))


def finished(app: InProcessServer, data: bytes) -> str:
    r = app.client.post(
        app.endpoint, headers={**TUS, "Upload-Length": str(len(data)), "Content-Type": OCTET}, content=data
    )
    assert r.status_code == 201
    return r.headers["Location"]


@pytest.mark.parametrize("range_", ["bytes=-5", "bytes=0-", "bytes=0-0"])
def test_any_range_of_an_empty_upload_is_416(app: InProcessServer, range_: str) -> None:
    """Was 206 with `Content-Range: bytes 0--1/0` for a suffix range."""
    r = app.client.get(app.create(0), headers={"Range": range_})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */0"


def test_suffix_longer_than_the_upload(app: InProcessServer) -> None:
    r = app.client.get(finished(app, b"abc"), headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == b"abc"
    assert r.headers["Content-Range"] == "bytes 0-2/3"


def test_get_response_carries_tus_resumable(app: InProcessServer) -> None:
    """The spec wants Tus-Resumable on every response but OPTIONS."""
    r = app.client.get(finished(app, b"abc"))
    assert r.status_code == 200 and r.headers["Tus-Resumable"] == "1.0.0"
