from __future__ import annotations

import base64

import pytest

from tests.conftest import AppFactory
from tests.protocol.verbs import ABSENT, Case, patch, run
from tests.support import OCTET, TUS, InProcessServer


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "case",
    [
        Case("POST", {"Upload-Length": "10"}, status=201, expect={"Upload-Offset": ABSENT}),
        Case("POST", {"Upload-Length": "0"}, status=201, expect={"Upload-Offset": "0"}),
        Case("POST", {"Upload-Defer-Length": "1"}, status=201),
        Case("POST", {"Upload-Length": "1000"}, status=201),
        Case("POST", {"Upload-Length": "1001"}, status=413),
        Case("POST", {}, status=400),
        Case("POST", {"Upload-Defer-Length": "2"}, status=400),
        Case("POST", {"Upload-Length": "5", "Upload-Defer-Length": "1"}, status=400),
        Case("POST", {"Upload-Length": "-1"}, status=400),
        Case("POST", {"Upload-Length": "1e3"}, status=400),
        Case("POST", {"Upload-Length": "5", "Upload-Metadata": "a !!"}, status=400),
        Case("POST", {"Upload-Length": "5", "Upload-Metadata": "a YQ==,a YQ=="}, status=400),
        Case("POST", {"Upload-Length": "5"}, status=412, tus=False, expect={"Tus-Version": "1.0.0"}),
        Case("POST", {"Upload-Length": "5", "Tus-Resumable": "0.2.2"}, status=412, expect={"Tus-Version": "1.0.0"}),
    ],
    ids=lambda c: f"{c.status}-{'-'.join(f'{k}={v}' for k, v in c.headers.items())}",
)
def test_post_table(live: InProcessServer, case: Case) -> None:
    r = run(live.client, live.endpoint, case)
    if case.status == 201:
        assert r.headers["Location"].startswith(live.endpoint)


def test_location_is_absolute_and_usable(live: InProcessServer) -> None:
    r = run(live.client, live.endpoint, Case("POST", {"Upload-Length": "3"}, status=201))
    url = r.headers["Location"]
    assert url.startswith(live.endpoint)
    run(live.client, url, Case("HEAD", status=200, expect={"Upload-Offset": "0", "Upload-Length": "3"}))


def test_post_without_trailing_slash(live: InProcessServer) -> None:
    r = run(live.client, live.endpoint.rstrip("/"), Case("POST", {"Upload-Length": "3"}, status=201))
    assert r.headers["Location"].startswith(live.endpoint)


def test_creation_with_upload(live: InProcessServer) -> None:
    r = run(
        live.client, live.endpoint, Case("POST", {"Upload-Length": "11", "Content-Type": OCTET}, b"hello", status=201)
    )
    assert r.headers["Upload-Offset"] == "5"
    url = r.headers["Location"]
    assert patch(live.client, url, 5, b" world").headers["Upload-Offset"] == "11"
    assert live.client.get(url).content == b"hello world"


def test_creation_with_upload_whole_file(live: InProcessServer) -> None:
    r = run(live.client, live.endpoint, Case("POST", {"Upload-Length": "3", "Content-Type": OCTET}, b"abc", status=201))
    assert r.headers["Upload-Offset"] == "3"
    assert live.client.get(r.headers["Location"]).content == b"abc"


def test_creation_with_upload_wrong_content_type(live: InProcessServer) -> None:
    run(
        live.client,
        live.endpoint,
        Case("POST", {"Upload-Length": "3", "Content-Type": "text/plain"}, b"abc", status=415),
    )


def test_creation_with_upload_body_too_long(live: InProcessServer) -> None:
    r = run(
        live.client, live.endpoint, Case("POST", {"Upload-Length": "3", "Content-Type": OCTET}, b"abcdef", status=413)
    )
    assert "Location" in r.headers


def test_defer_length_then_set_on_patch(live: InProcessServer) -> None:
    r = run(live.client, live.endpoint, Case("POST", {"Upload-Defer-Length": "1"}, status=201))
    url = r.headers["Location"]
    run(
        live.client,
        url,
        Case("HEAD", expect={"Upload-Defer-Length": "1", "Upload-Length": ABSENT, "Upload-Offset": "0"}),
    )
    assert patch(live.client, url, 0, b"abc").status_code == 204
    run(live.client, url, Case("HEAD", expect={"Upload-Defer-Length": "1", "Upload-Offset": "3"}))
    r2 = patch(live.client, url, 3, b"de", **{"Upload-Length": "5"})
    assert r2.status_code == 204 and r2.headers["Upload-Offset"] == "5"
    run(live.client, url, Case("HEAD", expect={"Upload-Length": "5", "Upload-Defer-Length": ABSENT}))
    assert live.client.get(url).content == b"abcde"


def test_defer_length_too_large_or_too_small(live: InProcessServer) -> None:
    url = run(live.client, live.endpoint, Case("POST", {"Upload-Defer-Length": "1"}, status=201)).headers["Location"]
    assert patch(live.client, url, 0, b"abcd").status_code == 204
    assert patch(live.client, url, 4, b"", **{"Upload-Length": "1001"}).status_code == 413
    assert patch(live.client, url, 4, b"", **{"Upload-Length": "3"}).status_code == 400
    assert patch(live.client, url, 4, b"e", **{"Upload-Length": "5"}).status_code == 204
    assert patch(live.client, url, 5, b"", **{"Upload-Length": "6"}).status_code == 400


def test_defer_length_capped_by_max_size(live: InProcessServer) -> None:
    url = run(live.client, live.endpoint, Case("POST", {"Upload-Defer-Length": "1"}, status=201)).headers["Location"]
    assert patch(live.client, url, 0, b"x" * 1001).status_code == 413
    head = live.client.head(url, headers=TUS)
    assert int(head.headers["Upload-Offset"]) <= 1000


def test_metadata_round_trip(live: InProcessServer) -> None:
    meta = f"filename {b64('a, b.txt')},empty,filetype {b64('text/plain')}"
    url = run(
        live.client, live.endpoint, Case("POST", {"Upload-Length": "1", "Upload-Metadata": meta}, status=201)
    ).headers["Location"]
    run(live.client, url, Case("HEAD", expect={"Upload-Metadata": meta}))


def test_behind_proxy_trusts_forwarded_headers(app_factory: AppFactory) -> None:
    server = app_factory("--behind-proxy")
    r = server.client.post(
        server.endpoint,
        headers={**TUS, "Upload-Length": "1", "X-Forwarded-Host": "up.example", "X-Forwarded-Proto": "https"},
    )
    assert r.status_code == 201
    assert r.headers["Location"].startswith("https://up.example/files/")
    r = server.client.post(
        server.endpoint, headers={**TUS, "Upload-Length": "1", "Forwarded": "host=b.example;proto=https"}
    )
    assert r.headers["Location"].startswith("https://b.example/files/")
    r = server.client.post(
        server.endpoint,
        headers={**TUS, "Upload-Length": "1", "Forwarded": 'for=10.0.0.1;host="c.example:8443";proto=HTTPS, host=d'},
    )
    assert r.headers["Location"].startswith("https://c.example:8443/files/")
    r = server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "1", "X-Forwarded-Host": "e.ex/@x y"})
    assert r.headers["Location"].startswith("http://e.exxy/files/")  # nothing but host characters survive


def test_forwarded_headers_ignored_without_flag(live: InProcessServer) -> None:
    headers = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "Forwarded": "host=evil;proto=https"}
    r = run(live.client, live.endpoint, Case("POST", {"Upload-Length": "1", **headers}, status=201))
    assert r.headers["Location"].startswith(live.endpoint)


def test_method_override_head_patch_delete(live: InProcessServer) -> None:
    url = live.create(3)
    r = live.client.post(
        url,
        headers={**TUS, "X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0", "Content-Type": OCTET},
        content=b"ab",
    )
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "2"
    r = live.client.post(url, headers={**TUS, "X-HTTP-Method-Override": "HEAD"})
    assert r.status_code == 200 and r.headers["Upload-Offset"] == "2"
    r = live.client.post(url, headers={**TUS, "X-HTTP-Method-Override": "DELETE"})
    assert r.status_code == 204
    assert live.client.head(url, headers=TUS).status_code in (404, 410)


def test_rejected_patch_does_not_set_the_deferred_length(live: InProcessServer) -> None:
    url = run(live.client, live.endpoint, Case("POST", {"Upload-Defer-Length": "1"}, status=201)).headers["Location"]
    assert patch(live.client, url, 0, b"abcd", **{"Upload-Length": "2"}).status_code == 413
    run(
        live.client,
        url,
        Case("HEAD", expect={"Upload-Defer-Length": "1", "Upload-Length": ABSENT, "Upload-Offset": "0"}),
    )
    assert patch(live.client, url, 0, b"abcd", **{"Upload-Length": "4"}).status_code == 204
