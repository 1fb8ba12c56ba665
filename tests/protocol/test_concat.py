"""Concatenation: tus-js-client parallelUploads, unfinished partials, partial retention, HEAD, bad parts, big finals.

Unknown partial uploads named in a final POST get 400 (not 404): the request URL exists, the
`Upload-Concat` header names something wrong.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import AppFactory
from tests.support import (
    NODE_DIR,
    PATCH,
    TUS,
    InProcessServer,
    LiveServer,
    Server,
    require_node_package,
    wait_for,
)

MiB = 1024 * 1024


def tus_js_upload(path: Path, endpoint: str, options: dict[str, object]) -> str:
    node = require_node_package("tus-js-client")
    done = subprocess.run(
        [node, str(NODE_DIR / "upload_plain.js"), str(path), endpoint, json.dumps(options)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout.strip().splitlines()[-1])["url"])


def download_when_ready(http: httpx.Client, url: str) -> bytes:
    """A final upload may still be assembling right after tus-js-client's onSuccess: 409 + Retry-After."""
    response = wait_for(lambda: (r := http.get(url, timeout=30)).status_code == 200 and r, what="assembled download")
    return response.content


@pytest.mark.parametrize(
    "options", [{"parallelUploads": 4}, {"chunkSize": MiB}, {"parallelUploads": 3, "chunkSize": 2 * MiB}],
    ids=["parallel-4", "chunk-1MiB", "parallel-3-chunk-2MiB"],
)  # fmt: skip
def test_tus_js_client(real_server: LiveServer, tmp_path: Path, options: dict[str, object]) -> None:
    data = os.urandom(20 * MiB)
    path = tmp_path / "twenty.bin"
    path.write_bytes(data)
    url = tus_js_upload(path, real_server.endpoint, options)
    assert hashlib.sha256(download_when_ready(real_server.client, url)).digest() == hashlib.sha256(data).digest()
    head = real_server.client.head(url, headers=TUS)
    assert head.headers["Upload-Length"] == str(len(data))
    if options.get("parallelUploads"):
        assert head.headers["Upload-Concat"].startswith("final;")
        assert len(head.headers["Upload-Concat"].split(" ")) == options["parallelUploads"]


def _partial(server: Server, data: bytes, send: bool = True) -> str:
    url = server.create(len(data), {"Upload-Concat": "partial"})
    if send:
        assert server.client.patch(url, content=data, headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    return url


def test_final_before_its_parts_finish_answers_at_once(app: InProcessServer) -> None:
    """concatenation-unfinished: the final POST never waits for parts; it completes when they do."""
    server = app
    pieces = [os.urandom(3 * MiB), os.urandom(2 * MiB)]
    first = _partial(server, pieces[0])
    second = _partial(server, pieces[1], send=False)
    r = server.client.post(server.endpoint, headers={**TUS, "Upload-Concat": f"final;{first} {second}"})
    assert r.status_code == 201
    final = r.headers["Location"]
    head = server.client.head(final, headers=TUS)
    assert "Upload-Offset" not in head.headers
    assert head.headers["Upload-Length"] == str(5 * MiB)
    got = server.client.get(final)
    assert got.status_code == 409
    assert server.client.patch(final, content=b"x", headers={**PATCH, "Upload-Offset": "0"}).status_code == 403
    half = MiB
    assert (
        server.client.patch(second, content=pieces[1][:half], headers={**PATCH, "Upload-Offset": "0"}).status_code
        == 204
    )
    assert "Upload-Offset" not in server.client.head(final, headers=TUS).headers
    r = server.client.patch(second, content=pieces[1][half:], headers={**PATCH, "Upload-Offset": str(half)})
    assert r.status_code == 204
    wait_for(
        lambda: server.client.head(final, headers=TUS).headers.get("Upload-Offset") == str(5 * MiB), what="assembly"
    )
    assert download_when_ready(server.client, final) == b"".join(pieces)


@pytest.mark.parametrize("keep", [True, False], ids=["keep-partials", "no-keep-partials"])
def test_partials_after_assembly(app_factory: AppFactory, keep: bool) -> None:
    server = app_factory("--keep-partials" if keep else "--no-keep-partials")
    parts = [_partial(server, b"abc"), _partial(server, b"def")]
    final = server.client.post(server.endpoint, headers={**TUS, "Upload-Concat": "final;" + " ".join(parts)})
    assert download_when_ready(server.client, final.headers["Location"]) == b"abcdef"
    statuses = {server.client.head(p, headers=TUS).status_code for p in parts}
    assert statuses == ({200} if keep else {410})


def test_foreign_and_unfinished_rules(app: InProcessServer) -> None:
    server = app
    plain = server.create(3)
    r = server.client.post(server.endpoint, headers={**TUS, "Upload-Concat": f"final;{plain}"})
    assert r.status_code == 400 and "partial" in r.text
    r = server.client.post(
        server.endpoint, headers={**TUS, "Upload-Concat": "final;http://elsewhere/other/AAAAAAAAAAAAAAAAAAAAAA"}
    )
    assert r.status_code == 400
    r = server.client.post(server.endpoint, headers={**TUS, "Upload-Concat": "final;/files/AAAAAAAAAAAAAAAAAAAAAA"})
    assert r.status_code == 400 and "does not exist" in r.text


def create_partial(server: Server, length: int | None) -> str:
    headers = {"Upload-Concat": "partial"}
    if length is None:
        headers["Upload-Defer-Length"] = "1"
    return server.create(length, headers)


def upload(
    http: httpx.Client, url: str, data: bytes, offset: int = 0, extra: dict[str, str] | None = None
) -> httpx.Response:
    r = http.patch(url, content=data, headers={**PATCH, "Upload-Offset": str(offset), **(extra or {})})
    assert r.status_code == 204, r.text
    return r


def create_final(server: Server, urls: list[str]) -> httpx.Response:
    return server.client.post(server.endpoint, headers={**TUS, "Upload-Concat": "final;" + " ".join(urls)})


def assembled(http: httpx.Client, url: str) -> httpx.Response | None:
    r = http.head(url, headers=TUS)
    return r if "Upload-Offset" in r.headers else None


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_partials_then_final(shared: InProcessServer) -> None:
    chunks = [os.urandom(1000), os.urandom(1), os.urandom(70_000)]
    partials = [create_partial(shared, len(c)) for c in chunks]
    for url, data in zip(partials, chunks, strict=True):
        upload(shared.client, url, data)
        head = shared.client.head(url, headers=TUS)
        assert head.headers["Upload-Concat"] == "partial"
    r = create_final(shared, partials)
    assert r.status_code == 201, r.text
    assert r.headers["Upload-Offset"] == str(sum(map(len, chunks)))  # assembled within --concat-wait
    final = r.headers["Location"]
    head = assembled(shared.client, final)
    assert head is not None
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(sum(map(len, chunks)))
    concat = head.headers["Upload-Concat"]
    assert concat.startswith("final;")
    assert [path_of(u) for u in concat[len("final;") :].split(" ")] == [path_of(u) for u in partials]
    assert shared.client.get(final).content == b"".join(chunks)


def test_relative_urls_and_metadata(shared: InProcessServer) -> None:
    chunks = [b"abc", b"defg"]
    partials = [create_partial(shared, len(c)) for c in chunks]
    for url, data in zip(partials, chunks, strict=True):
        upload(shared.client, url, data)
    r = shared.client.post(
        shared.endpoint,
        headers={**TUS, "Upload-Concat": "final;" + " ".join(path_of(u) for u in partials),
                 "Upload-Metadata": "filename ZmluYWwudHh0"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    final = r.headers["Location"]
    wait_for(lambda: assembled(shared.client, final), what="assembly")
    got = shared.client.get(final)
    assert got.content == b"abcdefg"
    assert "final.txt" in got.headers.get("Content-Disposition", "")


def test_final_before_partials_finish(shared: InProcessServer) -> None:
    """concatenation-unfinished: the final exists first and completes once the last partial does."""
    assert "concatenation-unfinished" in shared.client.options(shared.endpoint).headers["Tus-Extension"].split(",")
    a, b = os.urandom(5000), os.urandom(7000)
    pa, pb = create_partial(shared, len(a)), create_partial(shared, None)  # one even with deferred length
    upload(shared.client, pa, a[:100])
    r = create_final(shared, [pa, pb])
    assert r.status_code == 201, r.text
    final = r.headers["Location"]
    head = shared.client.head(final, headers=TUS)
    assert head.status_code == 200
    assert "Upload-Offset" not in head.headers
    assert "Upload-Length" not in head.headers  # not known while a partial has a deferred length
    assert head.headers["Upload-Concat"].startswith("final;")
    upload(shared.client, pa, a[100:], 100)
    upload(shared.client, pb, b, 0, {"Upload-Length": str(len(b))})
    head = wait_for(lambda: assembled(shared.client, final), what="assembly after the partials finished")
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(len(a) + len(b))
    assert shared.client.get(final).content == a + b


def test_final_must_not_carry_length(shared: InProcessServer) -> None:
    p = create_partial(shared, 1)
    upload(shared.client, p, b"1")
    r = shared.client.post(shared.endpoint, headers={**TUS, "Upload-Concat": f"final;{p}", "Upload-Length": "1"})
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
def test_bad_parts_are_400(shared: InProcessServer, make_url: Callable[[InProcessServer], str]) -> None:
    good = create_partial(shared, 1)
    upload(shared.client, good, b"1")
    bad = make_url(shared)
    r = create_final(shared, [good, bad])
    assert r.status_code == 400, (bad, r.status_code, r.text)
    assert r.text.strip() and "\n" not in r.text.strip()


def test_bad_concat_header_is_400(shared: InProcessServer) -> None:
    for value in ("final;", "final", "partial;x", "something"):
        r = shared.client.post(shared.endpoint, headers={**TUS, "Upload-Concat": value, "Upload-Length": "1"})
        assert r.status_code == 400, value


def test_terminated_partial_is_400(shared: InProcessServer) -> None:
    p = create_partial(shared, 2)
    assert shared.client.delete(p, headers=TUS).status_code == 204
    assert create_final(shared, [p]).status_code == 400


def test_large_final_returns_before_assembly(app_factory: AppFactory) -> None:
    """4 x 16 MiB, --concat-wait 0: the POST answers without Upload-Offset; HEAD reports it only once
    assembly is done, and says Retry-After until then."""
    shared = app_factory("--concat-wait", "0")
    size = 16 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    partials = []
    for i in range(4):
        url = create_partial(shared, size)
        piece = bytes([i]) + block[1:]
        upload(shared.client, url, piece * 16)
        partials.append(url)
    r = create_final(shared, partials)
    assert r.status_code == 201
    assert "Upload-Offset" not in r.headers
    final = r.headers["Location"]
    head = shared.client.head(final, headers=TUS)
    assert head.status_code == 200
    assert head.headers["Upload-Length"] == str(4 * size)
    # Either still assembling (no offset, Retry-After) or done (offset == length); never a partial offset.
    assert head.headers.get("Upload-Offset", str(4 * size)) == str(4 * size)
    assert ("Retry-After" in head.headers) == ("Upload-Offset" not in head.headers)
    wait_for(lambda: assembled(shared.client, final), timeout=60, what="assembly")
    with shared.client.stream("GET", final) as got:
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
    from tusserver.storage import local
    from tusserver.uploads import service

    source = inspect.getsource(service.Uploads.create_final)
    assert "assembler.schedule(" in source and "await self.assembler.assemble" not in source
    tree = ast.parse(inspect.getsource(local._concatenate_files) + inspect.getsource(local._copy))
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert "copy_file_range" in calls
    assert not {"read", "readinto", "pread"} & calls


def test_concatenation_falls_back_when_copy_file_range_copies_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some filesystems answer copy_file_range with 0 instead of an error: sendfile takes over."""
    from tusserver.storage import local

    sources = []
    for i in range(3):
        source = tmp_path / f"part{i}"
        source.write_bytes(bytes([i]) * (100_000 + i))
        sources.append(source)
    monkeypatch.setattr(local.os, "copy_file_range", lambda *args: 0, raising=False)
    target = tmp_path / "final"
    local._concatenate_files(sources, target)
    assert target.read_bytes() == b"".join(s.read_bytes() for s in sources)


def test_final_waiting_on_parts_survives_a_restart(server: LiveServer) -> None:
    """Which finals wait on which parts is kept in memory; after a restart a HEAD or GET still assembles."""
    first = create_partial(server, 3)
    upload(server.client, first, b"abc")
    second = create_partial(server, 3)
    final = create_final(server, [first, second]).headers["Location"]
    server.kill()
    server.start()
    upload(server.client, second, b"def")
    wait_for(lambda: assembled(server.client, final), what="assembly after restart")
    assert server.client.get(final).content == b"abcdef"
