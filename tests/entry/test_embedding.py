"""`create_app` mounted inside another app, as the README shows: Starlette `Mount` and FastAPI `mount()`.

Neither runs a mounted app's lifespan, and both hand it the prefix as the ASGI `root_path`. The app must
prepare its backends on the first request and put the prefix into `Location`, or tuspy gets 404 and every
PATCH a 500. Each test serves the embedding app with real uvicorn and uploads through it with real clients.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tusclient import client as tus_client

from tests.support import NODE_DIR, TUS, free_port, require_node_package, wait_for
from tusserver import Settings, create_app

MiB = 1024 * 1024

STARLETTE_APP = """
    from pathlib import Path

    from starlette.applications import Starlette
    from starlette.routing import Mount

    from tusserver import Settings, create_app

    app = Starlette(routes=[Mount("/uploads", app=create_app(Settings(data_dir=Path({data!r}))))])
"""

FASTAPI_APP = """
    from pathlib import Path

    from fastapi import FastAPI

    from tusserver import Settings, create_app

    app = FastAPI()


    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {{"hello": "world"}}


    app.mount("/api/tus", create_app(Settings(data_dir=Path({data!r}))))
"""


class Embedded:
    def __init__(self, tmp_path: Path, source: str, prefix: str) -> None:
        self.port = free_port()
        self.prefix = prefix
        self.data = tmp_path / "uploads"
        (tmp_path / "embed_app.py").write_text(textwrap.dedent(source.format(data=str(self.data))))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUSSERVER_")}
        self.log = open(tmp_path / "uvicorn.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "embed_app:app", "--app-dir", str(tmp_path), "--port", str(self.port),
             "--log-level", "warning"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        wait_for(self._ready, timeout=30, what="uvicorn serving the embedding app")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}/files/"

    def _ready(self) -> bool:
        assert self.proc.poll() is None, "uvicorn exited"
        try:
            return httpx.options(self.endpoint, headers=TUS, timeout=1).status_code == 204
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)
        self.log.close()


@pytest.fixture(params=["starlette", "fastapi"])
def embedded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Embedded]:
    if request.param == "starlette":
        app = Embedded(tmp_path, STARLETTE_APP, "/uploads")
    else:
        app = Embedded(tmp_path, FASTAPI_APP, "/api/tus")
    yield app
    app.stop()


def test_tuspy_uploads_through_the_mount(embedded: Embedded, tmp_path: Path) -> None:
    source = tmp_path / "three.bin"
    source.write_bytes(os.urandom(3 * MiB + 7))
    uploader = tus_client.TusClient(embedded.endpoint).uploader(str(source), chunk_size=MiB)
    uploader.upload()  # before the fix: 404 on the first PATCH (Location without the prefix), then 500s
    assert uploader.url.startswith(embedded.endpoint)
    assert httpx.get(uploader.url).content == source.read_bytes()
    assert len(list(embedded.data.iterdir())) > 0  # the mounted app's store was prepared without a lifespan


def test_tus_js_client_parallel_uploads_through_the_mount(embedded: Embedded, tmp_path: Path) -> None:
    """Parallel parts exercise the final concatenation, whose Upload-Concat URLs carry the prefix too."""
    node = require_node_package("tus-js-client")
    source = tmp_path / "two.bin"
    source.write_bytes(os.urandom(2 * MiB + 3))
    options = json.dumps({"parallelUploads": 3, "chunkSize": MiB})
    done = subprocess.run(
        [node, str(NODE_DIR / "upload_plain.js"), str(source), embedded.endpoint, options],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    url = json.loads(done.stdout.strip().splitlines()[-1])["url"]
    assert url.startswith(embedded.endpoint)
    head = httpx.head(url, headers=TUS)
    assert all(part.startswith(f"{embedded.prefix}/files/") for part in head.headers["Upload-Concat"][6:].split())
    assert httpx.get(url).content == source.read_bytes()


def test_mounted_without_lifespan_in_process(tmp_path: Path) -> None:
    """The same through httpx's ASGI transport, which runs no lifespan at all: POST, PATCH, HEAD, GET."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    outer = Starlette(routes=[Mount("/deep/mount", app=create_app(Settings(data_dir=tmp_path / "data")))])

    async def run() -> tuple[str, int, bytes]:
        transport = httpx.ASGITransport(app=outer)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as http:
            created = await http.post("/deep/mount/files/", headers={**TUS, "Upload-Length": "5"})
            location = created.headers["Location"]
            patched = await http.patch(
                location,
                headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
                content=b"hello",
            )
            return location, patched.status_code, (await http.get(location)).content

    location, status, body = asyncio.run(run())
    assert location.startswith("http://app.test/deep/mount/files/")
    assert status == 204
    assert body == b"hello"
