"""A final concatenation names its parts by URL; a URL of another host is not one of our uploads.

The attack of issue #11: `final;http://other-host/files/<id>` was taken as the local upload <id>, so
whatever checked URLs in front of the server (a proxy rule, an audit of which hosts a final names)
saw another host while the server concatenated its own upload.
"""

from __future__ import annotations

import httpx

from tests.conftest import AppFactory
from tests.support import TUS, InProcessServer, Server

PATCH = {**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}


def finished_partial(server: Server) -> str:
    url = server.create(3, {"Upload-Concat": "partial"})
    assert server.client.patch(url, headers=PATCH, content=b"abc").status_code == 204
    return url


def final(server: Server, parts: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return server.client.post(server.endpoint, headers={**TUS, **(headers or {}), "Upload-Concat": f"final;{parts}"})


def test_urls_of_other_hosts_are_400(app: InProcessServer) -> None:
    server = app
    part = finished_partial(server)
    upload_id = part.rsplit("/", 1)[-1]
    for url in (
        f"http://other-host/files/{upload_id}",
        f"https://other-host:{server.port}/files/{upload_id}",
        f"//other-host/files/{upload_id}",
        f"http://user@127.0.0.1:{server.port}/files/{upload_id}",
        f"ftp://127.0.0.1:{server.port}/files/{upload_id}",
        f"http://127.0.0.1:{server.port + 1}/files/{upload_id}",
    ):
        r = final(server, url)
        assert r.status_code == 400, (url, r.text)
        assert "not an upload URL of this server" in r.text and r.text.count("\n") == 1
        assert final(server, f"{part} {url}").status_code == 400  # one bad URL among good ones is enough


def test_relative_urls_and_our_own_host_still_work(app: InProcessServer) -> None:
    server = app
    part = finished_partial(server)
    path = part[len(server.url) :]
    assert part.startswith(f"http://127.0.0.1:{server.port}/")  # Location is absolute with our Host
    for parts in (part, path, f"{part} {path}", f"HTTP://127.0.0.1:{server.port}{path}"):
        r = final(server, parts)
        assert r.status_code == 201, (parts, r.text)


def test_forwarded_host_counts_only_behind_a_proxy(app_factory: AppFactory) -> None:
    forwarded = {"X-Forwarded-Host": "uploads.example", "X-Forwarded-Proto": "https"}
    proxied = app_factory("--behind-proxy")
    part = finished_partial(proxied)
    public = f"https://uploads.example{part[len(proxied.url) :]}"
    assert final(proxied, public, forwarded).status_code == 201  # the URL the client was given
    assert final(proxied, public.replace("uploads.example", "evil.example"), forwarded).status_code == 400

    direct = app_factory()
    part = finished_partial(direct)
    public = f"https://uploads.example{part[len(direct.url) :]}"
    assert final(direct, public, forwarded).status_code == 400  # forwarded headers are not trusted here
