from __future__ import annotations

import base64

import httpx
import pytest

from tests.protocol.table import OCTET
from tests.support import TUS, LiveServer

DATA = bytes(range(256)) * 3  # 768 bytes


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def finished(live: LiveServer, data: bytes = DATA, metadata: str | None = None) -> str:
    headers = {**TUS, "Upload-Length": str(len(data)), "Content-Type": OCTET}
    if metadata:
        headers["Upload-Metadata"] = metadata
    r = httpx.post(live.endpoint, headers=headers, content=data)
    assert r.status_code == 201 and r.headers["Upload-Offset"] == str(len(data))
    return r.headers["Location"]


def test_get_needs_no_tus_resumable(live: LiveServer) -> None:
    r = httpx.get(finished(live))
    assert r.status_code == 200
    assert r.content == DATA
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-Disposition"] == "attachment"
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["Tus-Resumable"] == "1.0.0"


@pytest.mark.parametrize(
    ("range_", "start", "end"),
    [("bytes=0-9", 0, 10), ("bytes=700-", 700, 768), ("bytes=-8", 760, 768), ("bytes=760-10000", 760, 768)],
)
def test_range(live: LiveServer, range_: str, start: int, end: int) -> None:
    r = httpx.get(finished(live), headers={"Range": range_})
    assert r.status_code == 206
    assert r.content == DATA[start:end]
    assert r.headers["Content-Range"] == f"bytes {start}-{end - 1}/768"


@pytest.mark.parametrize("range_", ["bytes=768-", "bytes=900-1000", "bytes=-0", "bytes=5-2"])
def test_unsatisfiable_range(live: LiveServer, range_: str) -> None:
    r = httpx.get(finished(live), headers={"Range": range_})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */768"


def test_unparseable_range_is_ignored(live: LiveServer) -> None:
    r = httpx.get(finished(live), headers={"Range": "lines=1-2"})
    assert r.status_code == 200 and r.content == DATA


def test_type_and_name_from_metadata(live: LiveServer) -> None:
    url = finished(live, b"hi", f"filename {b64('notes.txt')},filetype {b64('text/plain')}")
    r = httpx.get(url)
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.headers["Content-Disposition"] == "inline; filename=\"notes.txt\"; filename*=UTF-8''notes.txt"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("name", ['a"b.txt', "evil\r\nSet-Cookie: x=1.txt", "résumé ☃.pdf", "back\\slash;x=y"])
def test_filename_is_safely_quoted(live: LiveServer, name: str) -> None:
    url = finished(live, b"hi", f"filename {b64(name)},filetype {b64('text/html')}")
    r = httpx.get(url)
    assert r.status_code == 200
    disposition = r.headers["Content-Disposition"]
    assert "set-cookie" not in {k.lower() for k in r.headers}
    assert "\r" not in disposition and "\n" not in disposition
    assert disposition.startswith('attachment; filename="')  # text/html is never inline
    quoted = disposition.split('filename="', 1)[1].split('"; filename*=', 1)[0]
    assert '"' not in quoted and "\\" not in quoted
    assert all(0x20 <= ord(c) < 0x7F for c in quoted)
    from urllib.parse import unquote

    assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == name


def test_bad_filetype_falls_back(live: LiveServer) -> None:
    evil = b64("text/html; x\r\nX-Evil: 1")
    url = finished(live, b"hi", f"filetype {evil}")
    r = httpx.get(url)
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert "x-evil" not in r.headers


def test_get_unfinished_is_409(live: LiveServer) -> None:
    assert httpx.get(live.create(5)).status_code == 409


def test_get_unknown_is_404(live: LiveServer) -> None:
    assert httpx.get(live.endpoint + "0" * 32).status_code == 404


def test_get_empty_upload(live: LiveServer) -> None:
    r = httpx.get(live.create(0))
    assert r.status_code == 200 and r.content == b""


@pytest.mark.parametrize("range_", ["bytes=-5", "bytes=0-", "bytes=0-0"])
def test_any_range_of_an_empty_upload_is_416(live: LiveServer, range_: str) -> None:
    r = httpx.get(live.create(0), headers={"Range": range_})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */0"


def test_suffix_longer_than_the_upload(live: LiveServer) -> None:
    r = httpx.get(finished(live, b"abc"), headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == b"abc"
    assert r.headers["Content-Range"] == "bytes 0-2/3"
