"""Test helpers: the tus header constants, the app in-process (no socket), a real `tusserver serve` on a
free loopback port (for what needs sockets, processes or uvicorn), tools that must exist under CI, polling."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Self, TypeVar

import httpx
import pytest

from tusserver.app import create_app
from tusserver.cli import build_parser, settings_from_args
from tusserver.config import Settings

T = TypeVar("T")
# The constants every test module shares: the protocol header, the PATCH body type, and both together.
TUS = {"Tus-Resumable": "1.0.0"}
OCTET = "application/offset+octet-stream"
PATCH = {**TUS, "Content-Type": OCTET}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing(message: str) -> NoReturn:
    """What a test does without a service or tool it needs: a skip locally, a failure under CI=true."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_tool(name: str) -> str:
    """The path of an external tool; a skip locally when missing, a failure under CI=true."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed (see README: system packages)")
    return path


NODE_DIR = Path(__file__).resolve().parent / "node"


def require_node_package(package: str = "tus-js-client") -> str:
    """The path of `node` once `package` is installed in tests/node; a skip locally, a failure under CI=true."""
    node = require_tool("node")
    if not (NODE_DIR / "node_modules" / package).is_dir():
        missing(f"{package} is not installed: run `make node-deps` (npm install in {NODE_DIR})")
    return node


@contextlib.contextmanager
def small_tmpfs(directory: Path, size: int, purpose: str) -> Iterator[Path]:
    """A tmpfs of `size` bytes mounted at `directory`: a real ENOSPC at a known size, where we are root
    (skipped elsewhere, a failure under CI=true). `purpose` says what it stands for, in the skip message."""
    if os.geteuid() != 0:
        missing(f"mounting a small tmpfs for {purpose} needs root")
    mount, umount = require_tool("mount"), require_tool("umount")
    directory.mkdir()
    subprocess.run([mount, "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], check=True)
    try:
        yield directory
    finally:
        if subprocess.run([umount, str(directory)], capture_output=True).returncode != 0:
            subprocess.run([umount, "-l", str(directory)], check=True)  # still busy: detach it anyway


def wait_for(
    check: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.05, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - polling swallows errors until the deadline
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}" + (f": {last_error!r}" if last_error else ""))


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 valid one day and its key (`cert.pem`, `key.pem` in `directory`), made here
    with `cryptography` (installed with pyjwt[crypto]): no openssl binary needed."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert, key_path = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert, key_path


@contextlib.contextmanager
def running_process(
    command: list[str],
    ready: Callable[[], object],
    *,
    what: str,
    timeout: float,
    log: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """A service started for a test: its output in `log` (or dropped), polled until `ready()` is truthy,
    terminated on exit. The pattern of every emulator and server the tests start on a free port."""
    with open(log, "wb") if log is not None else contextlib.nullcontext(subprocess.DEVNULL) as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            wait_for(ready, timeout=timeout, what=what)
            yield proc
        finally:
            proc.terminate()
            proc.wait(10)


def upload_locked(data_dir: Path, url_or_id: str) -> bool:
    """Whether a request of a file-locked server on `data_dir` holds the upload's lock right now."""
    from tusserver.locking.file import FileLocker

    return FileLocker(data_dir / ".locks").is_locked(url_or_id.rsplit("/", 1)[-1])


class _TusEndpoint:
    """What `LiveServer` and `InProcessServer` share: the uploads endpoint and a POST through `client`."""

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def client(self) -> httpx.Client:
        raise NotImplementedError

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def endpoint(self) -> str:
        return f"{self.url}/files/"  # the default base path

    def restart(self) -> Self:
        """A clean shut-down and a new start on the same data: what a graceful restart keeps."""
        self.stop()
        return self.start()

    def create(self, length: int | None, headers: dict[str, str] | None = None) -> str:
        """POST a new upload and return its absolute URL."""
        h = {**TUS, **(headers or {})}
        if length is not None:
            h["Upload-Length"] = str(length)
        response = self.client.post(self.endpoint, headers=h)
        assert response.status_code == 201, response.text
        return response.headers["Location"]


class LiveServer(_TusEndpoint):
    """`python -m tusserver serve` in a subprocess, talking real HTTP on 127.0.0.1."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = list(args)
        self.extra_env = env or {}
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client(self) -> httpx.Client:
        """An httpx client opening a new connection per request (as `httpx.get` does), so a restart or a
        kill never leaves it a dead keep-alive connection: the same API as `InProcessServer.client`."""
        if self._client is None:
            self._client = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))
        return self._client

    def start(self) -> LiveServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUSSERVER_")}
        env.update(self.extra_env)
        cmd = [
            sys.executable, "-m", "tusserver", "serve",
            "--port", str(self.port), "--data-dir", str(self.data_dir), "--log-level", "warning",
            *self.args,
        ]  # fmt: skip
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        wait_for(self._ready, timeout=30, what=f"server on port {self.port}")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}: {self.log()}")
        try:
            return httpx.options(self.endpoint, timeout=1).status_code < 500  # any answer: it is serving
        except httpx.TransportError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no clean-up code runs, like a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if hasattr(self, "_log"):
            self._log.close()
        if self._client is not None:
            self._client.close()
            self._client = None


def serve_settings(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Settings:
    """The Settings `tusserver serve --data-dir DATA_DIR ARGS` would run with, given only `env` (no os.environ)."""
    namespace = build_parser().parse_args(["serve", "--data-dir", str(data_dir), *args])
    return settings_from_args(namespace, environ=env or {})


class _AppThread(httpx.BaseTransport):
    """A sync httpx transport over `httpx.ASGITransport`: one event loop in a thread runs the app from
    start-up to shut-down, so what the app starts in the background (a sweep, an assembly, hook deliveries)
    goes on between requests, as in a server. Bodies are read whole both ways (no streaming)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.asgi = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))  # a loopback peer, as in a server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="in-process-app", daemon=True)
        self.lifespan: contextlib.AbstractAsyncContextManager[Any] | None = None

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.lifespan = self.app.router.lifespan_context(self.app)  # the app's own start-up and shut-down
        self.call(self.lifespan.__aenter__())

    def stop(self) -> None:
        if self.lifespan is not None:
            self.call(self.lifespan.__aexit__(None, None, None))
            self.lifespan = None
        self.call(self._cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    @staticmethod
    async def _cancel_the_rest() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=body)

        async def send() -> httpx.Response:
            response = await self.asgi.handle_async_request(forwarded)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self.call(send())


class InProcessServer(_TusEndpoint):
    """`create_app` behind `httpx.ASGITransport`: the same requests and responses as `LiveServer`, with no
    subprocess or socket. The app's lifespan runs on `start()` and `stop()` (its sweeper and hook queue
    start; writers are flushed and the store closed at the end).

    Use it for anything at the HTTP level; keep `LiveServer` for crashes, workers, raw sockets, timeouts,
    TLS, uvicorn's own behaviour and external clients. `client` is an httpx.Client; absolute URLs (such as
    a `Location`) work because the transport ignores the host.
    """

    port = 1080  # only the port in its URLs: nothing listens

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = list(args)
        self.settings = serve_settings(data_dir, *args, env=env)
        self._app: _AppThread | None = None
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        assert self._client is not None, "start() the server first"
        return self._client

    def start(self) -> InProcessServer:
        self._app = _AppThread(create_app(self.settings))
        self._app.start()
        self._client = httpx.Client(transport=self._app, base_url=self.url, timeout=30)
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._app is not None:
            self._app.stop()
            self._app = None


Server = LiveServer | InProcessServer


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes  # Content-Length bytes (none without the header, as for a 204)
    rest: bytes  # what arrived after it: the next pipelined response
    lines: list[tuple[str, str]] = field(default_factory=list)  # every header line, duplicates kept, names lower-cased


def read_http_response(sock: socket.socket, buffered: bytes = b"") -> RawResponse:
    """One HTTP/1.1 response read off a raw socket; a connection closed before it is complete fails the test."""
    raw = buffered
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {raw[:200]!r}"
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    header_lines = [(n.strip().lower(), v.strip()) for n, _, v in (line.partition(":") for line in lines[1:])]
    headers = dict(header_lines)
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed {length - len(body)} bytes into a response body"
        body += chunk
    return RawResponse(int(lines[0].split()[1]), headers, body[:length], body[length:], header_lines)


def half_patch(
    server: LiveServer,
    url: str,
    sent: bytes,
    promised: int,
    offset: int = 0,
    auth: str = "",
    headers: dict[str, str] | None = None,
) -> socket.socket:
    """A PATCH on a raw socket that announces `promised` bytes, sends `sent`, and then goes quiet with the
    socket open: a stalled or vanished client (the caller closes the socket). `headers` are added."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = (
        f"PATCH {httpx.URL(url).path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: {offset}\r\nContent-Type: {OCTET}\r\nContent-Length: {promised}\r\n"
        + (f"Authorization: Bearer {auth}\r\n" if auth else "")
        + "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        + "\r\n"
    )
    sock.sendall(head.encode() + sent)
    return sock


class TlsServer(LiveServer):
    """A LiveServer over TLS with `cert`/`key`: ready once an HTTPS OPTIONS trusting `cert` answers 204."""

    def __init__(self, data_dir: Path, cert: Path, key: Path, *args: str) -> None:
        super().__init__(data_dir, "--tls-cert", str(cert), "--tls-key", str(key), *args)
        self.cert = cert
        self.context = ssl.create_default_context(cafile=str(cert))

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}: {self.log()}")
        try:
            return httpx.options(self.endpoint, verify=self.context, timeout=2).status_code == 204
        except httpx.TransportError:
            return False
