"""`/files%2f<id>` is not the upload `/files/<id>`: an encoded slash matches no upload (404).

The attack of issue #11: Starlette routes on the decoded path, so `/files%2f<id>` reached the upload
while a proxy or access rule in front of the server saw another resource. Sent over a raw socket so
no client library normalises the path.
"""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.support import TUS, LiveServer


def raw(server: LiveServer, method: str, path: str, extra: str = "") -> bytes:
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nTus-Resumable: 1.0.0\r\n"
        f"Connection: close\r\n{extra}\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("slash", ["%2f", "%2F"])
def test_encoded_slash_matches_no_upload(server: LiveServer, slash: str) -> None:
    url = server.create(3)
    upload_id = url.rsplit("/", 1)[-1]
    assert raw(server, "HEAD", f"/files/{upload_id}").startswith(b"HTTP/1.1 200 ")
    patch = "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 3\r\n"
    for method, extra in (("HEAD", ""), ("GET", ""), ("PATCH", patch), ("DELETE", "")):
        for path in (f"/files{slash}{upload_id}", f"/files/%2E%2E{slash}files{slash}{upload_id}",
                     f"/files/{upload_id[:4]}%{ord(upload_id[4]):02X}{upload_id[5:]}"):  # fmt: skip
            answer = raw(server, method, path, extra)
            assert answer.startswith(b"HTTP/1.1 404 "), (method, path, answer[:200])
    # Nothing reached the upload: not deleted, no byte written.
    head = httpx.head(url, headers=TUS)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "0"
