"""Benchmark tusserver against @tus/server (Node) and tuspyserver (FastAPI), interleaved in rounds.

    make bench                      # 5 rounds, full sizes (about 20-30 minutes on 2 cores)
    make bench ARGS="--quick"       # smoke run: one round, small sizes
    .venv/bin/python bench/run.py --rounds 3 --only tusserver,tus-node

The peers are installed at run time into a temporary folder (npm and a throwaway venv); nothing of
theirs is committed. Each (round, workload, server) gets a freshly started server on a free loopback
port and an empty data directory, so peak RSS (VmHWM) belongs to that workload. Server CPU is
utime+stime of the server's process tree from /proc. Every upload is verified outside the timed part:
final offset equals length, and the sha256 of the stored bytes (via GET for tusserver, the file on
disk for the peers) equals the sha256 of what was sent.

Numbers on a shared machine are noisy; the per-round ratios tusserver/peer are what count.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GiB = 1 << 30
MiB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
BLOCK = 1 * MiB

NODE_SERVER = r"""
import http from 'node:http';
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';
const [port, dir] = process.argv.slice(2);
const tus = new Server({ path: '/files', datastore: new FileStore({ directory: dir }) });
http.createServer((req, res) => tus.handle(req, res)).listen(Number(port), '127.0.0.1', () => console.log('ready'));
"""

PY_SERVER = r"""
import sys
import uvicorn
from fastapi import FastAPI
from tuspyserver import create_tus_router

port, directory = int(sys.argv[1]), sys.argv[2]
app = FastAPI()
app.include_router(create_tus_router(prefix="files", files_dir=directory, max_size=1 << 40))
uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", access_log=False, log_level="warning")
"""


# -- data ------------------------------------------------------------------------------------------


class Data:
    """A file of random bytes made once, read back in BLOCK-sized pieces."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        seed = os.urandom(16 * MiB)
        with open(path, "wb") as fh:
            for start in range(0, size, len(seed)):
                fh.write(seed[: min(len(seed), size - start)])
        self.fd = os.open(path, os.O_RDONLY)
        self._sha: dict[tuple[int, int], str] = {}

    def blocks(self, start: int, length: int) -> Iterator[bytes]:
        end = start + length
        pos = start
        while pos < end:
            data = os.pread(self.fd, min(BLOCK, end - pos), pos)
            pos += len(data)
            yield data

    def sha256(self, start: int, length: int) -> str:
        key = (start, length)
        if key not in self._sha:
            h = hashlib.sha256()
            for b in self.blocks(start, length):
                h.update(b)
            self._sha[key] = h.hexdigest()
        return self._sha[key]


# -- servers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_pids(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def cpu_seconds(root: int) -> float:
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def peak_rss_mb(root: int) -> float:
    peak = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024


@dataclass
class Peer:
    name: str
    version: str
    command: Callable[[int, Path], list[str]]
    base_path: str = "/files/"
    verify_via_get: bool = False
    env: dict[str, str] = field(default_factory=dict)
    headers: Callable[[], dict[str, str]] | None = None


class Running:
    def __init__(self, peer: Peer, workdir: Path) -> None:
        self.peer = peer
        self.port = free_port()
        self.data_dir = workdir / f"data-{peer.name}-{self.port}"
        self.data_dir.mkdir()
        self.log = open(workdir / f"{peer.name}.log", "ab")  # noqa: SIM115
        env = {**os.environ, **peer.env}
        self.proc = subprocess.Popen(
            peer.command(self.port, self.data_dir), stdout=self.log, stderr=subprocess.STDOUT, env=env
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{peer.name} exited at start; see {self.log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{peer.name} did not listen within 60 s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


# -- client ----------------------------------------------------------------------------------------


class Client:
    """One keep-alive connection speaking tus with http.client; sends the newest X-New-Token if any."""

    def __init__(self, running: Running, token: str | None = None) -> None:
        self.running = running
        self.conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=300)
        self.token = token

    def _headers(self, extra: dict[str, str]) -> dict[str, str]:
        headers = {"Tus-Resumable": "1.0.0", **extra}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def request(self, method: str, path: str, headers: dict[str, str], body: object = None) -> http.client.HTTPResponse:
        self.conn.request(method, path, body=body, headers=self._headers(headers), encode_chunked=False)  # type: ignore[arg-type]
        resp = self.conn.getresponse()
        new = resp.getheader("X-New-Token")
        if new:
            self.token = new
        return resp

    def create(self, length: int) -> str:
        resp = self.request("POST", self.running.peer.base_path, {"Upload-Length": str(length), "Content-Length": "0"})
        resp.read()
        if resp.status != 201:
            raise RuntimeError(f"{self.running.peer.name}: POST answered {resp.status}")
        return urllib.parse.urlsplit(resp.getheader("Location") or "").path

    def patch(
        self, path: str, offset: int, body: Iterator[bytes], length: int, extra: dict[str, str] | None = None
    ) -> int:
        headers = {
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": str(offset),
            "Content-Length": str(length),
            **(extra or {}),
        }
        resp = self.request("PATCH", path, headers, body)
        resp.read()
        if resp.status != 204:
            raise RuntimeError(f"{self.running.peer.name}: PATCH answered {resp.status}")
        return int(resp.getheader("Upload-Offset") or -1)

    def close(self) -> None:
        self.conn.close()


def stored_sha256(running: Running, path: str, token: str | None) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    if running.peer.verify_via_get:
        client = Client(running, token)
        resp = client.request("GET", path, {})
        if resp.status != 200:
            raise RuntimeError(f"GET {path} answered {resp.status}")
        while chunk := resp.read(BLOCK):
            h.update(chunk)
            size += len(chunk)
        client.close()
    else:
        with open(running.data_dir / path.rsplit("/", 1)[1], "rb") as fh:
            while chunk := fh.read(BLOCK):
                h.update(chunk)
                size += len(chunk)
    return h.hexdigest(), size


@dataclass
class Result:
    amount: float  # MB/s or uploads/s
    unit: str
    cpu_s: float
    bytes_sent: int
    uploads: int
    rss_mb: float
    p99_s: float | None = None

    @property
    def cpu_per_gib(self) -> float:
        return self.cpu_s / (self.bytes_sent / GiB) if self.bytes_sent else 0.0

    @property
    def cpu_ms_per_upload(self) -> float:
        return 1000 * self.cpu_s / self.uploads if self.uploads else 0.0


# -- workloads -------------------------------------------------------------------------------------


@dataclass
class Sizes:
    single: int
    chunk: int
    concurrent_n: int
    concurrent_size: int
    small_clients: int
    small_seconds: float
    small_size: int = 4096


def verify(running: Running, data: Data, uploads: list[tuple[str, int, int, int]], token: str | None) -> None:
    """uploads: (path, data start, length, final offset reported)."""
    for path, start, length, final in uploads:
        if final != length:
            raise RuntimeError(f"{running.peer.name}: {path} ended at offset {final}, expected {length}")
        digest, size = stored_sha256(running, path, token)
        if size != length or digest != data.sha256(start, length):
            raise RuntimeError(f"{running.peer.name}: stored bytes of {path} differ from what was sent")


def run_single(
    running: Running, data: Data, sizes: Sizes, token: str | None, chunk: int | None, checksum: bool = False
) -> Result:
    length = sizes.single
    step = chunk or length
    checksums: list[dict[str, str]] = []
    for start in range(0, length, step):  # the client's own hashing stays out of the timed part
        extra: dict[str, str] = {}
        if checksum:
            digest = hashlib.sha256()
            for b in data.blocks(start, min(step, length - start)):
                digest.update(b)
            extra["Upload-Checksum"] = "sha256 " + base64.b64encode(digest.digest()).decode()
        checksums.append(extra)
    client = Client(running, token)
    pid = running.proc.pid
    cpu0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    path = client.create(length)
    offset = 0
    for extra in checksums:
        n = min(step, length - offset)
        offset = client.patch(path, offset, data.blocks(offset, n), n, extra)
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - cpu0
    rss = peak_rss_mb(pid)
    verify(running, data, [(path, 0, length, offset)], client.token)
    client.close()
    return Result(length / elapsed / 1e6, "MB/s", cpu, length, 1, rss)


def run_concurrent(running: Running, data: Data, sizes: Sizes, token: str | None) -> Result:
    n, size = sizes.concurrent_n, sizes.concurrent_size
    clients = [Client(running, token) for _ in range(n)]
    barrier = threading.Barrier(n + 1)
    results: list[tuple[str, int, float] | BaseException] = [RuntimeError("not run")] * n

    def one(i: int) -> None:
        c = clients[i]
        barrier.wait()
        try:
            t = time.perf_counter()
            path = c.create(size)
            final = c.patch(path, 0, data.blocks(i * size % (data.size - size + 1), size), size)
            results[i] = (path, final, time.perf_counter() - t)
        except BaseException as exc:  # noqa: BLE001
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    pid = running.proc.pid
    cpu0 = cpu_seconds(pid)
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - cpu0
    rss = peak_rss_mb(pid)
    done = []
    for i, r in enumerate(results):
        if isinstance(r, BaseException):
            raise RuntimeError(f"{running.peer.name}: concurrent upload {i} failed: {r}") from r
        done.append((r[0], i * size % (data.size - size + 1), size, r[1]))
    verify(running, data, done, token)
    for c in clients:
        c.close()
    latencies = sorted(r[2] for r in results if not isinstance(r, BaseException))
    p99 = latencies[min(len(latencies) - 1, int(round(0.99 * len(latencies))) - 1)]
    return Result(n * size / elapsed / 1e6, "MB/s", cpu, n * size, n, rss, p99)


def run_small(running: Running, data: Data, sizes: Sizes, token: str | None) -> Result:
    size, n = sizes.small_size, sizes.small_clients
    body = next(data.blocks(0, size))
    stop_at = [0.0]
    done: list[list[tuple[str, int]]] = [[] for _ in range(n)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(n + 1)

    def loop(i: int) -> None:
        c = Client(running, token)
        barrier.wait()
        try:
            while time.perf_counter() < stop_at[0]:
                path = c.create(size)
                done[i].append((path, c.patch(path, 0, iter([body]), size)))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        c.close()

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    pid = running.proc.pid
    cpu0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    stop_at[0] = t0 + sizes.small_seconds
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - cpu0
    rss = peak_rss_mb(pid)
    if errors:
        raise RuntimeError(f"{running.peer.name}: small uploads failed: {errors[0]}") from errors[0]
    uploads = [u for per in done for u in per]
    # Verify every upload: the offset each PATCH reported, and the stored bytes (GET for a sample of 100
    # on tusserver, whose GETs would otherwise take longer than the workload; the rest on disk).
    sample = uploads[:100] if running.peer.verify_via_get else uploads
    verify(running, data, [(p, 0, size, f) for p, f in sample], token)
    if running.peer.verify_via_get:
        for p, f in uploads[100:]:
            if f != size or hashlib.sha256((running.data_dir / p.rsplit("/", 1)[1]).read_bytes()).hexdigest() != (
                data.sha256(0, size)
            ):
                raise RuntimeError(f"{running.peer.name}: small upload {p} was not stored whole")
    return Result(len(uploads) / elapsed, "uploads/s", cpu, len(uploads) * size, len(uploads), rss)


# -- peers -----------------------------------------------------------------------------------------


def install_node_peer(root: Path) -> Peer:
    d = root / "tus-node"
    d.mkdir()
    (d / "package.json").write_text(json.dumps({"name": "bench-peer", "private": True, "type": "module"}))
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", "@tus/server@latest", "@tus/file-store@latest"],
        cwd=d,
        check=True,
    )
    (d / "server.mjs").write_text(NODE_SERVER)
    versions = {
        name: json.loads((d / "node_modules" / "@tus" / name / "package.json").read_text())["version"]
        for name in ("server", "file-store")
    }
    return Peer(
        "tus-node",
        f"@tus/server {versions['server']}, @tus/file-store {versions['file-store']}",
        lambda port, data: ["node", str(d / "server.mjs"), str(port), str(data)],
    )


def install_py_peer(root: Path) -> Peer:
    d = root / "tuspy-venv"
    subprocess.run([sys.executable, "-m", "venv", str(d)], check=True)
    py = d / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "tuspyserver", "fastapi", "uvicorn", "uvloop", "httptools"], check=True
    )
    script = root / "tuspy_server.py"
    script.write_text(PY_SERVER)
    out = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m; print(m.version('tuspyserver'), m.version('uvicorn'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return Peer(
        "tuspyserver",
        f"tuspyserver {out[0]} (FastAPI, uvicorn {out[1]} + uvloop + httptools)",
        lambda port, data: [str(py), str(script), str(port), str(data)],
    )


def tusserver_peer(extra: list[str] | None = None, name: str = "tusserver") -> Peer:
    import tusserver

    exe = str(Path(sys.executable).parent / "tusserver")
    return Peer(
        name,
        f"tusserver {tusserver.__version__}",
        lambda port, data: [
            exe,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            *(extra or []),
        ],
        verify_via_get=True,
    )


def auth_available() -> bool:
    try:
        import tusserver.auth.middleware  # noqa: F401
    except ImportError:
        return False
    return True


def mint_token(secret: str) -> str:
    exe = str(Path(sys.executable).parent / "tusserver")
    out = subprocess.run(
        [exe, "token", "--sub", "bench", "--ttl", "600", "--jwt-secret", secret],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


# -- reporting -------------------------------------------------------------------------------------


def fmt_range(values: list[float], digits: int = 0) -> str:
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def machine_info() -> list[str]:
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    try:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        node = "absent"
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [
        f"- CPU: {os.cpu_count()} cores (`nproc`), {cpu}",
        f"- Memory: {mem_kb / 1024 / 1024:.1f} GiB",
        f"- Kernel: {platform.release()}",
        f"- Python: {platform.python_version()}; Node: {node}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one round, small sizes: a smoke test of the bench")
    parser.add_argument("--only", default="", help="comma-separated servers: tusserver,tus-node,tuspyserver")
    parser.add_argument(
        "--workloads", default="", help="comma-separated: single,chunked,concurrent,small,checksum,auth"
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"), help="markdown report ('' for none)")
    args = parser.parse_args(argv)
    if args.quick:
        sizes = Sizes(64 * MiB, 8 * MiB, 16, 1 * MiB, 8, 2.0)
        rounds = 1 if args.rounds == 5 else args.rounds
    else:
        sizes = Sizes(GiB, 8 * MiB, 64, 16 * MiB, 32, 10.0)
        rounds = args.rounds
    only = set(filter(None, args.only.split(",")))
    wanted = set(filter(None, args.workloads.split(","))) or {
        "single",
        "chunked",
        "concurrent",
        "small",
        "checksum",
        "auth",
    }
    workdir = Path(tempfile.mkdtemp(prefix="tusbench-"))
    print(f"work dir {workdir}", flush=True)
    try:
        data = Data(workdir / "data.bin", max(sizes.single, sizes.concurrent_size * 4))
        data.sha256(0, sizes.single)
        peers = [tusserver_peer()]
        if not only or "tus-node" in only:
            peers.append(install_node_peer(workdir))
        if not only or "tuspyserver" in only:
            peers.append(install_py_peer(workdir))
        if only:
            peers = [p for p in peers if p.name in only]

        secret = "bench-secret-" + os.urandom(8).hex()
        extra_workloads: list[tuple[str, Peer, Callable[..., Result], str | None]] = []
        notes: list[str] = []
        if "checksum" in wanted:
            extra_workloads.append(
                (
                    "sha256 per 8 MiB PATCH",
                    tusserver_peer(),
                    lambda r, d, s, t: run_single(r, d, s, t, s.chunk, checksum=True),
                    None,
                )
            )
        if "auth" in wanted:
            if auth_available():
                extra_workloads.append(
                    (
                        "auth + token rotation, 8 MiB PATCHes",
                        tusserver_peer(["--jwt-secret", secret], "tusserver-auth"),
                        lambda r, d, s, t: run_single(r, d, s, t, s.chunk),
                        "token",
                    )
                )
            else:
                msg = "auth workload skipped: tusserver.auth.middleware is not on this branch yet (branch `auth`)"
                print(msg, flush=True)
                notes.append(msg)

        workloads: list[tuple[str, str, Callable[..., Result]]] = [
            (
                "single",
                f"single stream: {sizes.single // MiB} MiB in one PATCH",
                lambda r, d, s, t: run_single(r, d, s, t, None),
            ),
            (
                "chunked",
                f"chunked: {sizes.single // MiB} MiB in {sizes.chunk // MiB} MiB PATCHes",
                lambda r, d, s, t: run_single(r, d, s, t, s.chunk),
            ),
            (
                "concurrent",
                f"concurrent: {sizes.concurrent_n} × {sizes.concurrent_size // MiB} MiB at once",
                run_concurrent,
            ),
            (
                "small",
                f"small: POST + {sizes.small_size // 1024} KiB PATCH, {sizes.small_clients} clients, "
                f"{sizes.small_seconds:g} s",
                run_small,
            ),
        ]
        workloads = [w for w in workloads if w[0] in wanted]
        results: dict[tuple[str, str], list[Result]] = {}
        for rnd in range(rounds):
            order = peers[rnd % len(peers) :] + peers[: rnd % len(peers)]
            for _key, title, fn in workloads:
                for peer in order:
                    running = Running(peer, workdir)
                    try:
                        res = fn(running, data, sizes, None)
                    finally:
                        running.stop()
                    results.setdefault((title, peer.name), []).append(res)
                    print(
                        f"round {rnd + 1} {title:55s} {peer.name:12s} {res.amount:8.1f} {res.unit:9s} "
                        f"cpu {res.cpu_per_gib:5.2f} s/GiB rss {res.rss_mb:6.1f} MB",
                        flush=True,
                    )
            for title, peer, fn2, tok in extra_workloads:
                running = Running(peer, workdir)
                try:
                    token = mint_token(secret) if tok else None
                    res = fn2(running, data, sizes, token)
                finally:
                    running.stop()
                results.setdefault((title, peer.name), []).append(res)
                print(
                    f"round {rnd + 1} {title:55s} {peer.name:12s} {res.amount:8.1f} {res.unit:9s} "
                    f"cpu {res.cpu_per_gib:5.2f} s/GiB rss {res.rss_mb:6.1f} MB",
                    flush=True,
                )

        report = render(results, workloads, extra_workloads, peers, rounds, sizes, argv, notes)
        print(report)
        if args.output:
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            Path(args.output).write_text(report)
            print(f"wrote {args.output}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def render(
    results: dict[tuple[str, str], list[Result]],
    workloads: list[tuple[str, str, Callable[..., Result]]],
    extra: list[tuple[str, Peer, Callable[..., Result], str | None]],
    peers: list[Peer],
    rounds: int,
    sizes: Sizes,
    argv: list[str] | None,
    notes: list[str],
) -> str:
    cmd = "make bench" + (
        f' ARGS="{" ".join(argv if argv is not None else sys.argv[1:])}"'
        if (argv if argv is not None else sys.argv[1:])
        else ""
    )
    lines = [
        "# Benchmarks",
        "",
        "tusserver (default settings, one worker, `tusserver serve`) against @tus/server with @tus/file-store (Node)",
        "and tuspyserver (FastAPI on uvicorn with uvloop and httptools), all storing on local disk, on loopback.",
        "",
        f"Command: `{cmd}` ({rounds} round{'s' if rounds != 1 else ''}, workloads interleaved, server order rotated "
        "per round, a fresh server and empty data directory for every measurement).",
        "",
        "**The machine is shared** (2 cores, several engineers running test suites at the same time), so absolute",
        "figures are noisy. What counts are the ratios tusserver/peer, computed within each round (same minute,",
        "same load) and summarised as median (min–max) over rounds. The client (Python http.client, one thread per",
        "connection, bodies streamed from a file made once) shares the two cores with the server under test.",
        "",
        "## Machine",
        "",
        *machine_info(),
        "",
        "## Servers",
        "",
        *[f"- {p.name}: {p.version}" for p in peers],
        "",
        "## Results",
        "",
        "Throughput is MB/s (10^6 bytes per second) of upload payload, or uploads per second; server CPU is",
        "utime+stime of the server's process tree per GiB of payload (for small uploads, CPU-ms per upload);",
        "peak RSS is the largest VmHWM in that tree. Cells: median (min–max) over rounds.",
        "",
    ]
    others = [p.name for p in peers if p.name != "tusserver"]
    header = (
        "| workload | server | throughput | server CPU | peak RSS MB | p99 upload s | "
        + " | ".join(f"ratio vs {o}" for o in others)
        + " |"
    )
    lines += [header, "|" + "---|" * (6 + len(others))]
    for _key, title, _fn in workloads:
        for p in peers:
            rs = results.get((title, p.name), [])
            if not rs:
                continue
            small = rs[0].unit == "uploads/s"
            cpu = (
                (fmt_range([r.cpu_ms_per_upload for r in rs], 2) + " ms/upload")
                if small
                else (fmt_range([r.cpu_per_gib for r in rs], 2) + " s/GiB")
            )
            p99 = fmt_range([r.p99_s for r in rs if r.p99_s is not None], 2) if rs[0].p99_s is not None else "–"
            ratios = []
            for o in others:
                if p.name != "tusserver":
                    ratios.append("")
                    continue
                ors = results.get((title, o), [])
                vals = [a.amount / b.amount for a, b in zip(rs, ors, strict=False) if b.amount]
                ratios.append(fmt_range(vals, 2) + "×" if vals else "–")
            lines.append(
                f"| {title} | {p.name} | {fmt_range([r.amount for r in rs])} {rs[0].unit} | {cpu} | "
                f"{fmt_range([r.rss_mb for r in rs])} | {p99} | " + " | ".join(ratios) + " |"
            )
    if extra:
        lines += [
            "",
            "### tusserver only",
            "",
            "| workload | throughput | server CPU s/GiB | peak RSS MB | vs tusserver single stream (same round) |",
            "|---|---|---|---|---|",
        ]
        base = results.get((workloads[0][1], "tusserver"), []) if workloads and workloads[0][0] == "single" else []
        for title, peer, _fn, _tok in extra:
            rs = results.get((title, peer.name), [])
            if not rs:
                continue
            vals = [a.amount / b.amount for a, b in zip(rs, base, strict=False) if b.amount]
            lines.append(
                f"| {title} | {fmt_range([r.amount for r in rs])} MB/s | {fmt_range([r.cpu_per_gib for r in rs], 2)} | "
                f"{fmt_range([r.rss_mb for r in rs])} | {fmt_range(vals, 2) + '×' if vals else '–'} |"
            )
    for note in notes:
        lines += ["", f"Note: {note}."]
    lines += [
        "",
        "## What is measured",
        "",
        f"1. single stream: one upload of {sizes.single // MiB} MiB sent in ONE PATCH.",
        f"2. chunked: the same upload in {sizes.chunk // MiB} MiB PATCHes on one keep-alive connection.",
        f"3. concurrent: {sizes.concurrent_n} uploads of {sizes.concurrent_size // MiB} MiB at once, one connection "
        "each (POST + one PATCH); aggregate MB/s and the p99 of per-upload time.",
        f"4. small: {sizes.small_clients} clients each looping POST + one {sizes.small_size // 1024} KiB PATCH for "
        f"{sizes.small_seconds:g} s.",
        "5. tusserver only: chunked with `Upload-Checksum: sha256` on every PATCH (the client hashes before the",
        "   timed part), and with `--jwt-secret` auth where every request",
        "   carries the newest `X-New-Token`.",
        "",
        "Every upload is verified after the timed part: final offset = length, and sha256 of the stored bytes",
        "(GET for tusserver, except small uploads past the first 100, checked on disk; the data file for peers).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
