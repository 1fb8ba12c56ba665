"""Operator options against a real server: TLS, a Unix socket, JSON logs, metrics on their own
address, and turning downloads or termination off."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import TUS, LiveServer, free_port, require_tool, self_signed_certificate
from tusserver import Settings, create_app

SECRET = "ops-test-secret-" + "x" * 24


class ProbedServer(LiveServer):
    """A LiveServer whose readiness is checked by `probe` (TLS or a Unix socket: not plain HTTP on the port)."""

    def __init__(self, data_dir: Path, *args: str, probe: Callable[[], bool]) -> None:
        super().__init__(data_dir, *args)
        self.probe = probe

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}: {self.log()}")
        try:
            return self.probe()
        except httpx.TransportError:
            return False


@pytest.fixture
def probed(tmp_path: Path) -> Iterator[Callable[..., ProbedServer]]:
    servers: list[ProbedServer] = []

    def start(*args: str, probe: Callable[[], bool]) -> ProbedServer:
        server = ProbedServer(tmp_path / f"data{len(servers)}", *args, probe=probe)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def test_tls_with_a_self_signed_certificate(tmp_path: Path) -> None:
    curl = require_tool("curl")
    cert, key = self_signed_certificate(tmp_path)
    port_holder: dict[str, int] = {}

    def probe() -> bool:
        context = ssl.create_default_context(cafile=str(cert))
        return httpx.options(f"https://127.0.0.1:{port_holder['port']}/files/", verify=context, timeout=2).is_success

    server = ProbedServer(tmp_path / "data", "--tls-cert", str(cert), "--tls-key", str(key), probe=probe)
    port_holder["port"] = server.port
    server.start()
    try:
        base = f"https://127.0.0.1:{server.port}/files/"
        created = subprocess.run(
            [curl, "-sS", "--cacert", str(cert), "-X", "POST", base, "-H", "Tus-Resumable: 1.0.0",
             "-H", "Upload-Length: 0", "-o", "/dev/null", "-D", "-"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        assert " 201" in created.stdout.splitlines()[0]
        location = next(line for line in created.stdout.splitlines() if line.lower().startswith("location:"))
        assert location.split(":", 1)[1].strip().startswith(base)  # the Location says https
        untrusted = subprocess.run([curl, "-sS", base, "-X", "OPTIONS"], capture_output=True, timeout=60)
        assert untrusted.returncode == 60  # curl: the certificate is not trusted: it really is TLS
        plain = subprocess.run([curl, "-sS", f"http://127.0.0.1:{server.port}/files/", "-X", "OPTIONS"], timeout=60)
        assert plain.returncode != 0
    finally:
        server.stop()


def test_unix_socket(probed: Callable[..., ProbedServer], tmp_path: Path) -> None:
    sock = tmp_path / "tus.sock"
    transport = httpx.HTTPTransport(uds=str(sock))

    def probe() -> bool:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock))) as client:
            return client.options("http://localhost/files/", timeout=2).status_code == 204

    probed("--unix-socket", str(sock), probe=probe)
    with httpx.Client(transport=transport, base_url="http://localhost") as client:
        created = client.post("/files/", headers={**TUS, "Upload-Length": "3"})
        assert created.status_code == 201
        url = created.headers["Location"]
        patch = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
        assert client.patch(url, content=b"abc", headers=patch).status_code == 204
        assert client.get(url).content == b"abc"


def _token() -> str:
    env = {**os.environ, "TUSSERVER_JWT_SECRET": SECRET}
    done = subprocess.run(
        [sys.executable, "-m", "tusserver", "token", "--sub", "alice", "--ttl", "600"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_json_logs_one_object_per_line_and_no_token(server_factory: ServerFactory) -> None:
    server = server_factory(
        "--log-format", "json", "--access-log", "--log-level", "info", env={"TUSSERVER_JWT_SECRET": SECRET}
    )
    token = _token()
    auth = {**TUS, "Authorization": f"Bearer {token}"}
    created = httpx.post(server.endpoint, headers={**auth, "Upload-Length": "3"})
    assert created.status_code == 201
    url = created.headers["Location"]
    patch = {**auth, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    assert httpx.patch(url, content=b"abc", headers=patch).status_code == 204
    assert (
        httpx.head(url, headers={**TUS, "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad"}).status_code
        == 401
    )
    server.stop()
    text = server.log_path.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is JSON
    assert all({"time", "level", "logger", "event"} <= record.keys() for record in records)
    upload_id = url.rsplit("/", 1)[1]
    patched = [r for r in records if r["event"] == "request" and r.get("method") == "PATCH"]
    assert len(patched) == 1
    assert patched[0]["upload_id"] == upload_id and patched[0]["status"] == 204 and patched[0]["bytes"] == 3
    assert patched[0]["duration_s"] >= 0
    assert any(r.get("status") == 401 for r in records)
    assert token not in text and "eyJ" not in text and SECRET not in text


def test_metrics_on_their_own_address_need_no_token(server_factory: ServerFactory) -> None:
    metrics_port = free_port()
    server = server_factory(
        "--metrics", "--metrics-listen", f"127.0.0.1:{metrics_port}", env={"TUSSERVER_JWT_SECRET": SECRET}
    )
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert scraped.status_code == 200 and "tusserver_request_seconds" in scraped.text
    assert "tusserver_hook_drops" in scraped.text
    on_main = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {_token()}"})
    assert on_main.status_code == 404  # not on the upload port


def test_disable_download_and_termination(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", disable_download=True, disable_termination=True))

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            options = await client.options("/files/", headers=TUS)
            extensions = options.headers["Tus-Extension"].split(",")
            assert "termination" not in extensions and "creation" in extensions
            created = await client.post("/files/", headers={**TUS, "Upload-Length": "0"})
            url = created.headers["Location"]
            assert (await client.get(url)).status_code == 405
            assert (await client.head(url)).status_code == 412  # no download: a plain HEAD is not a tus one
            assert (await client.head(url, headers=TUS)).headers["Upload-Offset"] == "0"
            assert (await client.delete(url, headers=TUS)).status_code == 405
            assert (await client.head(url, headers=TUS)).status_code == 200

    asyncio.run(run())


def test_termination_and_download_on_by_default(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            options = await client.options("/files/", headers=TUS)
            assert "termination" in options.headers["Tus-Extension"].split(",")
            url = (await client.post("/files/", headers={**TUS, "Upload-Length": "0"})).headers["Location"]
            assert (await client.get(url)).status_code == 200
            assert (await client.delete(url, headers=TUS)).status_code == 204

    asyncio.run(run())


def test_ops_flags_reach_uvicorn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn

    from tusserver import cli

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if not k.startswith("TUSSERVER_")})
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    argv = ["serve", "--tls-cert", str(cert), "--tls-key", str(key), "--unix-socket", str(tmp_path / "s")]
    assert cli.main([*argv, "--log-format", "json"]) == 0
    (call,) = calls
    assert (call["ssl_certfile"], call["ssl_keyfile"]) == (str(cert), str(key))
    assert call["log_config"] is None and "uds" not in call  # bound by serve itself, with its mode
    assert isinstance(call["fd"], int) and not (tmp_path / "s").exists()  # removed once uvicorn returned
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if not k.startswith("TUSSERVER_")})
    assert cli.main(["serve", "--tls-cert", str(cert)]) == 2  # one without the other is refused at start
