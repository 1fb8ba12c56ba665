"""Concatenation: partial + final uploads, background assembly, concatenation-unfinished, errors, partial retention.

Unknown partial uploads in a final POST get 400 (not 404): the request URL itself exists, it is the
`Upload-Concat` header that names something wrong.
"""

from __future__ import annotations

import ast
import inspect
import os
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import TUS, LiveServer, wait_for

OCTET = {"Content-Type": "application/offset+octet-stream"}


def create_partial(server: LiveServer, length: int | None) -> str:
    headers = {"Upload-Concat": "partial"}
    if length is None:
        headers["Upload-Defer-Length"] = "1"
    return server.create(length, headers)


def upload(url: str, data: bytes, offset: int = 0, extra: dict[str, str] | None = None) -> httpx.Response:
    r = httpx.patch(url, content=data, headers={**TUS, **OCTET, "Upload-Offset": str(offset), **(extra or {})})
    assert r.status_code == 204, r.text
    return r


def create_final(server: LiveServer, urls: list[str]) -> httpx.Response:
    return httpx.post(server.endpoint, headers={**TUS, "Upload-Concat": "final;" + " ".join(urls)})


def assembled(url: str) -> httpx.Response | None:
    r = httpx.head(url, headers=TUS)
    return r if "Upload-Offset" in r.headers else None


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_partials_then_final(server: LiveServer) -> None:
    chunks = [os.urandom(1000), os.urandom(1), os.urandom(70_000)]
    partials = [create_partial(server, len(c)) for c in chunks]
    for url, data in zip(partials, chunks, strict=True):
        upload(url, data)
        head = httpx.head(url, headers=TUS)
        assert head.headers["Upload-Concat"] == "partial"
    r = create_final(server, partials)
    assert r.status_code == 201, r.text
    assert "Upload-Offset" not in r.headers
    final = r.headers["Location"]
    head = wait_for(lambda: assembled(final), what="assembly")
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(sum(map(len, chunks)))
    concat = head.headers["Upload-Concat"]
    assert concat.startswith("final;")
    assert [path_of(u) for u in concat[len("final;") :].split(" ")] == [path_of(u) for u in partials]
    assert httpx.get(final).content == b"".join(chunks)


def test_relative_urls_and_metadata(server: LiveServer) -> None:
    chunks = [b"abc", b"defg"]
    partials = [create_partial(server, len(c)) for c in chunks]
    for url, data in zip(partials, chunks, strict=True):
        upload(url, data)
    r = httpx.post(
        server.endpoint,
        headers={**TUS, "Upload-Concat": "final;" + " ".join(path_of(u) for u in partials),
                 "Upload-Metadata": "filename ZmluYWwudHh0"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    final = r.headers["Location"]
    wait_for(lambda: assembled(final), what="assembly")
    got = httpx.get(final)
    assert got.content == b"abcdefg"
    assert "final.txt" in got.headers.get("Content-Disposition", "")


def test_final_before_partials_finish(server: LiveServer) -> None:
    """concatenation-unfinished: the final exists first and completes once the last partial does."""
    assert "concatenation-unfinished" in httpx.options(server.endpoint).headers["Tus-Extension"].split(",")
    a, b = os.urandom(5000), os.urandom(7000)
    pa, pb = create_partial(server, len(a)), create_partial(server, None)  # one even with deferred length
    upload(pa, a[:100])
    r = create_final(server, [pa, pb])
    assert r.status_code == 201, r.text
    final = r.headers["Location"]
    head = httpx.head(final, headers=TUS)
    assert head.status_code == 200
    assert "Upload-Offset" not in head.headers
    assert "Upload-Length" not in head.headers  # not known while a partial has a deferred length
    assert head.headers["Upload-Concat"].startswith("final;")
    upload(pa, a[100:], 100)
    upload(pb, b, 0, {"Upload-Length": str(len(b))})
    head = wait_for(lambda: assembled(final), what="assembly after the partials finished")
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(len(a) + len(b))
    assert httpx.get(final).content == a + b


def test_patch_on_final_is_403(server: LiveServer) -> None:
    p = create_partial(server, 3)
    upload(p, b"xyz")
    final = create_final(server, [p]).headers["Location"]
    for offset in ("0", "3"):
        r = httpx.patch(final, content=b"more", headers={**TUS, **OCTET, "Upload-Offset": offset})
        assert r.status_code == 403, r.text
    wait_for(lambda: assembled(final), what="assembly")
    assert httpx.get(final).content == b"xyz"


def test_final_must_not_carry_length(server: LiveServer) -> None:
    p = create_partial(server, 1)
    upload(p, b"1")
    r = httpx.post(server.endpoint, headers={**TUS, "Upload-Concat": f"final;{p}", "Upload-Length": "1"})
    assert r.status_code == 400


@pytest.mark.parametrize(
    "make_url",
    [
        lambda s: f"{s.endpoint}doesnotexist0000000000000000000",  # unknown upload
        lambda s: s.create(3),  # a normal (non-partial) upload
        lambda s: "http://elsewhere.example/other/abc",  # foreign URL
        lambda s: "/files/../etc/passwd",
        lambda s: "/files/",
    ],
)
def test_bad_parts_are_400(server: LiveServer, make_url: object) -> None:
    good = create_partial(server, 1)
    upload(good, b"1")
    bad = make_url(server)  # type: ignore[operator]
    r = create_final(server, [good, bad])
    assert r.status_code == 400, (bad, r.status_code, r.text)
    assert r.text.strip() and "\n" not in r.text.strip()


def test_bad_concat_header_is_400(server: LiveServer) -> None:
    for value in ("final;", "final", "partial;x", "something"):
        r = httpx.post(server.endpoint, headers={**TUS, "Upload-Concat": value, "Upload-Length": "1"})
        assert r.status_code == 400, value


def test_terminated_partial_is_400(server: LiveServer) -> None:
    p = create_partial(server, 2)
    assert httpx.delete(p, headers=TUS).status_code == 204
    assert create_final(server, [p]).status_code == 400


def _assemble_two(server: LiveServer) -> tuple[list[str], str]:
    partials = [create_partial(server, 4), create_partial(server, 4)]
    upload(partials[0], b"1111")
    upload(partials[1], b"2222")
    final = create_final(server, partials).headers["Location"]
    wait_for(lambda: assembled(final), what="assembly")
    return partials, final


def test_partials_kept_by_default(server: LiveServer) -> None:
    partials, final = _assemble_two(server)
    for p in partials:
        assert httpx.head(p, headers=TUS).status_code == 200
    assert httpx.get(partials[0]).content == b"1111"
    assert httpx.get(final).content == b"11112222"


def test_no_keep_partials_removes_them(server_factory: object) -> None:
    server = server_factory("--no-keep-partials")  # type: ignore[operator]
    partials, final = _assemble_two(server)
    for p in partials:
        wait_for(lambda p=p: httpx.head(p, headers=TUS).status_code in (404, 410), what="partial removed")
        assert not (server.data_dir / p.rsplit("/", 1)[1]).exists()
    assert httpx.get(final).content == b"11112222"


def test_large_final_returns_before_assembly(server: LiveServer) -> None:
    """4 x 16 MiB: the POST answers without Upload-Offset; HEAD reports it only once assembly is done."""
    size = 16 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    partials = []
    for i in range(4):
        url = create_partial(server, size)
        piece = bytes([i]) + block[1:]
        upload(url, piece * 16)
        partials.append(url)
    r = create_final(server, partials)
    assert r.status_code == 201
    assert "Upload-Offset" not in r.headers
    final = r.headers["Location"]
    head = httpx.head(final, headers=TUS)
    assert head.status_code == 200
    assert head.headers["Upload-Length"] == str(4 * size)
    # Either still assembling (no offset) or done (offset == length); never a partial offset.
    assert head.headers.get("Upload-Offset", str(4 * size)) == str(4 * size)
    wait_for(lambda: assembled(final), timeout=60, what="assembly")
    with httpx.stream("GET", final) as got:
        position = 0
        for data in got.iter_bytes(1024 * 1024):
            index = position // size
            start = position % len(block)
            expected = (bytes([index]) + block[1:]) * 2
            assert data == expected[start : start + len(data)]
            position += len(data)
    assert position == 4 * size


def test_assembly_is_a_background_task_that_copies_in_the_kernel() -> None:
    """The final POST schedules assembly and returns; LocalStore copies with copy_file_range, no read()."""
    from tusserver.protocol import creation
    from tusserver.storage import local

    source = inspect.getsource(creation.CreationHandler._create_final)
    assert "schedule_assembly(" in source and "await assemble" not in source
    tree = ast.parse(inspect.getsource(local._concatenate_files) + inspect.getsource(local._copy))
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert "copy_file_range" in calls
    assert not {"read", "readinto", "pread"} & calls
