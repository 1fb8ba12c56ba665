"""The servers under test: tusserver, and peers installed at run time into a temporary folder.

Nothing of the peers is kept in this repository: @tus/server and @tus/file-store come from npm,
tuspyserver from PyPI into a throwaway virtual environment, each with a tiny launcher written here.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

TUS_NODE_LAUNCHER = """\
import { Server } from '@tus/server'
import { FileStore } from '@tus/file-store'
const [port, dir] = process.argv.slice(2)
const server = new Server({ path: '/files', datastore: new FileStore({ directory: dir }) })
server.listen({ host: '127.0.0.1', port: Number(port) })
"""

TUSPY_LAUNCHER = """\
import os
from fastapi import FastAPI
from tuspyserver import create_tus_router

app = FastAPI()
app.include_router(create_tus_router(prefix="files", files_dir=os.environ["BENCH_DATA_DIR"]))
"""


def tus_connection(port: int, deadline_s: float = 30.0, timeout_s: float = 120.0) -> http.client.HTTPConnection:
    """A connection to the tus server starting on `port`, once it answers an OPTIONS (polled until the deadline)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
            conn.request("OPTIONS", "/files/", headers={"Tus-Resumable": "1.0.0"})
            conn.getresponse().read()
            return conn
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no tus server answered on port {port} within {deadline_s:.0f} s") from None
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Peer:
    name: str
    command: list[str]  # {port} and {data} are filled in
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    version: str = ""
    extra_args: list[str] = field(default_factory=list)
    raw: bool = False  # no HTTP: a receiver that takes one connection's bytes and exits (bench/limit.py)


@dataclass
class Running:
    peer: Peer
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes]
    finished: bool = False  # a raw receiver closed its connection: it is exiting
    usage: tuple[float, int] | None = None  # (CPU s, peak RSS) of a raw receiver that has exited

    @property
    def endpoint_path(self) -> str:
        return "/files/" if self.peer.name.startswith("tusserver") else "/files"

    def stats(self) -> tuple[float, int]:
        """(CPU seconds so far, peak RSS bytes) of the server process."""
        if self.peer.raw and self.finished and self.usage is None:
            self._reap()
        if self.usage is not None:
            return self.usage
        cpu, hwm = 0.0, 0
        for pid in _process_tree(self.proc.pid):  # `--workers N`: the supervisor and its workers
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                status = Path(f"/proc/{pid}/status").read_text().splitlines()
            except FileNotFoundError:
                continue  # a helper process that just exited
            cpu += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            hwm += sum(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
        return cpu, hwm

    def _reap(self) -> None:
        """Wait for a raw receiver to exit, keeping its CPU time (its /proc entry goes with it)."""
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        # Peak RSS unknown (0): ru_maxrss of a child started by fork counts the parent's pages at the fork.
        self.usage = (usage.ru_utime + usage.ru_stime, 0)

    def stored_path(self, upload_id: str) -> Path:
        return self.data_dir / upload_id

    def stop(self, keep_data: bool = False) -> None:
        """Stop the server and remove its data, unless `keep_data` (the caller removes it later)."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if not keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def start(peer: Peer, workdir: Path) -> Running:
    port = free_port()
    data_dir = workdir / f"data-{re.sub(r'[^A-Za-z0-9._-]+', '-', peer.name)}-{port}"  # socat parses ':'s
    data_dir.mkdir(parents=True)
    command = [part.format(port=port, data=data_dir) for part in peer.command] + peer.extra_args
    env = {**os.environ, "BENCH_DATA_DIR": str(data_dir), **peer.env}
    proc = subprocess.Popen(command, cwd=peer.cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    running = Running(peer, port, data_dir, proc)
    deadline = time.monotonic() + 60
    while peer.raw:  # one connection only: wait until it listens instead of probing
        if _listening(port):
            return running
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{peer.name} did not start")
        time.sleep(0.02)
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("OPTIONS", running.endpoint_path, headers={"Tus-Resumable": "1.0.0"})
            conn.getresponse().read()
            conn.close()
            return running
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{peer.name} did not start") from None
            time.sleep(0.05)


def _listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port` (from /proc/net/tcp, without connecting)."""
    wanted = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "0A":
            return True
    return False


def _process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(child) for child in task.read_text().split()]
            except FileNotFoundError:
                continue
    return found


def tusserver_peer(*extra: str) -> Peer:
    from tusserver import __version__

    name = "tusserver" + ("" if not extra else "")
    return Peer(name, [sys.executable, "-m", "tusserver", "serve", "--port", "{port}", "--data-dir", "{data}", *extra],
                version=__version__)  # fmt: skip


def install_peers(workdir: Path) -> list[Peer]:
    """npm @tus/server + @tus/file-store, and tuspyserver in a venv with uvloop and httptools.

    An install already in `workdir` (from an earlier run with --peers-dir) is reused as it is.
    """
    peers: list[Peer] = []
    node_dir = node_package(workdir / "node-peer", "server.mjs", TUS_NODE_LAUNCHER, "@tus/server", "@tus/file-store")
    node_version = package_version(node_dir, "@tus/server")
    peers.append(Peer("@tus/server", ["node", "server.mjs", "{port}", "{data}"], cwd=node_dir, version=node_version))

    venv = workdir / "tuspy-venv"
    if not (venv / "bin" / "uvicorn").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "tuspyserver", "uvicorn", "uvloop", "httptools"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    app_dir = workdir / "tuspy-app"
    app_dir.mkdir(exist_ok=True)
    (app_dir / "bench_app.py").write_text(TUSPY_LAUNCHER)
    probe = "import importlib.metadata as m; print(m.version('tuspyserver'))"
    version = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True).stdout.strip()
    peers.append(Peer("tuspyserver", [str(venv / "bin" / "uvicorn"), "bench_app:app", "--port", "{port}",
                                      "--loop", "uvloop", "--http", "httptools", "--log-level", "warning"],
                      cwd=app_dir, version=version))  # fmt: skip
    return peers


def node_package(node_dir: Path, launcher: str, code: str, *packages: str) -> Path:
    """A folder with `launcher` (an ES module) and `packages` from npm, installed once (the last one tells)."""
    node_dir.mkdir(parents=True, exist_ok=True)
    (node_dir / "package.json").write_text('{"private": true, "type": "module"}\n')
    (node_dir / launcher).write_text(code)
    if not (node_dir / "node_modules" / packages[-1]).is_dir():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", *packages],
                       cwd=node_dir, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return node_dir


def package_version(node_dir: Path, package: str) -> str:
    import json

    return str(json.loads((node_dir / "node_modules" / package / "package.json").read_text()).get("version", "?"))
