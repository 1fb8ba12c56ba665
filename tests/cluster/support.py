"""Several `tusserver serve` instances sharing moto's S3 and a real Redis, behind Debian's nginx.

nginx round-robins without stickiness, streams request bodies (`proxy_request_buffering off`) and
lets tusserver enforce sizes (`client_max_body_size 0`), the settings docs/scaling.md recommends.
Every process gets a free loopback port and its own log under the module's temporary directory.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.redis_support import running_redis
from tests.s3_support import CREDENTIALS, S3Server, running_moto
from tests.support import OCTET, TUS, LiveServer, free_port, require_tool, wait_for

NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format cluster '$msec "$request" $status upstream=$upstream_addr:$upstream_status $request_time s';
    access_log {dir}/access.log cluster;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream tusserver {{
{servers}
        keepalive 16;
        keepalive_timeout 4s;  # under uvicorn's 5 s: never reuse a connection the instance is closing
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout 120s;
        proxy_send_timeout 120s;
        location / {{
            proxy_pass http://tusserver;
        }}
    }}
}}
"""


@contextmanager
def running_nginx(directory: Path, upstreams: list[int]) -> Iterator[str]:
    """nginx with its own config in `directory`, round-robin over `upstreams`; yields its base URL."""
    sbin = Path("/usr/sbin/nginx")  # not on a normal user's PATH
    binary = str(sbin) if sbin.exists() else require_tool("nginx")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in upstreams)
    user = "user root;" if os.geteuid() == 0 else ""  # workers must reach the temp paths in our 0700 tmp dir
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, dir=directory, servers=servers, port=port))
    with open(directory / "stderr.log", "wb") as log:
        proc = subprocess.Popen(
            [binary, "-p", str(directory), "-c", str(conf), "-e", str(directory / "error.log")],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _nginx_answers(proc, url, directory), timeout=15, what="nginx")
            yield url
        finally:
            proc.terminate()
            proc.wait(10)


def _nginx_answers(proc: subprocess.Popen[bytes], url: str, directory: Path) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"nginx exited with {proc.returncode}: {(directory / 'error.log').read_text()}")
    try:
        return httpx.options(f"{url}/files/", headers=TUS, timeout=2).status_code < 500
    except httpx.TransportError:
        return False


@dataclass
class Cluster:
    url: str  # nginx
    instances: list[LiveServer]
    s3: S3Server
    redis_url: str
    nginx_dir: Path

    @property
    def endpoint(self) -> str:
        return f"{self.url}/files/"

    def instance_url(self, index: int, upload_url: str) -> str:
        """The same upload, addressed on instance `index` directly instead of through nginx."""
        return self.instances[index].url + httpx.URL(upload_url).path

    def on(self, index: int, headers: dict[str, str] | None = None) -> httpx.Client:
        """A client for instance `index` alone that says `Host: <nginx>`, as nginx does.

        The instance then builds `Location` URLs on nginx's address, and accepts those URLs in an
        `Upload-Concat` final made on another instance, exactly as behind the proxy.
        """
        host = httpx.URL(self.url).netloc.decode()
        return httpx.Client(
            base_url=self.instances[index].url, headers={**TUS, **(headers or {}), "Host": host}, timeout=60
        )

    def ensure_running(self) -> None:
        """Restart any instance a test killed, so the next test starts with three."""
        for server in self.instances:
            if server.proc is None or server.proc.poll() is not None:
                server.start()

    def diagnose(self, needle: str) -> str:
        """nginx's access-log lines and every instance's log lines that mention `needle`, for a failure message."""
        lines: list[str] = []
        for path in [self.nginx_dir / "access.log", *(s.log_path for s in self.instances)]:
            text = path.read_text(errors="replace") if path.exists() else ""
            lines += [f"{path.name}: {line}" for line in text.splitlines() if needle in line]
        return "\n".join(lines[-60:])

    def errors_in_logs(self) -> list[str]:
        """Lines that say something went wrong inside a server (not a client's bad request)."""
        bad = ("Traceback", "ERROR", "Exception in ASGI", "Task exception was never retrieved")
        found: list[str] = []
        for server in self.instances:
            text = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
            found += [f"{server.port}: {line}" for line in text.splitlines() if any(b in line for b in bad)]
        return found


@dataclass
class Backends:
    """moto and redis-server, started once per test session and shared by the modules' clusters."""

    s3: S3Server
    redis_base: str  # redis://127.0.0.1:<port>
    used: int = 0

    def fresh(self) -> tuple[S3Server, str]:
        """A new bucket and a new Redis database: a cluster that sees nothing of the previous ones."""
        self.used += 1
        s3 = S3Server(self.s3.endpoint, f"cluster-{self.used}")
        s3.client().create_bucket(Bucket=s3.bucket)  # type: ignore[attr-defined]
        return s3, f"{self.redis_base}/{self.used}"


@contextmanager
def running_backends(directory: Path) -> Iterator[Backends]:
    with running_moto(directory) as s3, running_redis(directory) as redis_url:
        yield Backends(s3, redis_url.rsplit("/", 1)[0])


@contextmanager
def running_cluster(directory: Path, backends: Backends, *flags: str, instances: int = 3) -> Iterator[Cluster]:
    """`instances` × `tusserver serve --store s3 --locker redis` on a fresh bucket and Redis database, + nginx."""
    s3, redis_url = backends.fresh()
    with ExitStack() as stack:
        args = [*s3.serve_flags, "--locker", "redis", "--redis-url", redis_url, "--behind-proxy", *flags]
        servers = [LiveServer(directory / f"data{i}", *args, env=CREDENTIALS) for i in range(instances)]
        for server in servers:
            stack.callback(server.stop)
        start_all(servers)
        url = stack.enter_context(running_nginx(directory / "nginx", [s.port for s in servers]))
        yield Cluster(url, servers, s3, redis_url, directory / "nginx")


def start_all(servers: list[LiveServer]) -> None:
    """Start the instances side by side: each spends most of its start-up importing."""
    import threading

    errors: list[BaseException] = []

    def start(server: LiveServer) -> None:
        try:
            server.start()
        except BaseException as exc:  # noqa: BLE001 - re-raised below in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def sha256_digest(data: bytes) -> str:
    """The `Repr-Digest` value of `data`: what instant upload matches on."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def path_of(url: str) -> str:
    return httpx.URL(url).path


def create_upload(http: httpx.Client, length: int, **headers: str) -> str:
    r = http.post("/files/", headers={"Upload-Length": str(length), **headers})
    assert r.status_code == 201, r.text
    return str(r.headers["Location"])


def patch_upload(http: httpx.Client, url: str, offset: int, body: bytes) -> httpx.Response:
    return http.patch(path_of(url), content=body, headers={"Upload-Offset": str(offset), "Content-Type": OCTET})


def final_of_partials(
    zero: httpx.Client, one: httpx.Client, two: httpx.Client, a: bytes, b: bytes, refer: Callable[[str], str] = str
) -> str:
    """The URL of a final made on `two` from partial `a` uploaded on `zero` and `b` on `one`, naming the
    partials as `refer` writes their URLs: each step on another instance."""
    part_a = create_upload(zero, len(a), **{"Upload-Concat": "partial"})
    part_b = create_upload(one, len(b), **{"Upload-Concat": "partial"})
    assert patch_upload(zero, part_a, 0, a).status_code == 204
    assert patch_upload(one, part_b, 0, b).status_code == 204
    r = two.post("/files/", headers={"Upload-Concat": f"final;{refer(part_a)} {refer(part_b)}"})
    assert r.status_code == 201, r.text
    return str(r.headers["Location"])
