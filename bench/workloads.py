"""The workloads, as plain HTTP/1.1 clients (stdlib http.client): one streamed PATCH, chunked PATCHes,
many uploads at once, many small uploads. Every upload is checked after the timed part: the final
offset from the server and the sha256 of the bytes it stored."""

from __future__ import annotations

import base64
import hashlib
import http.client
import mmap
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .peers import Running

MiB = 1024 * 1024
CHUNK = 8 * MiB  # workload 2's and 5a's PATCH size, and the chunk of 5a's hashed limit (bench/limit.py)
OCTET = "application/offset+octet-stream"


@dataclass
class Result:
    seconds: float
    bytes: int = 0
    uploads: int = 0
    latencies: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    peak_rss: int = 0
    steal: float = 0.0  # share of the machine's CPU time the hypervisor took during the timed part

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / 1e6

    @property
    def uploads_per_s(self) -> float:
        return self.uploads / self.seconds

    @property
    def cpu_per_gib(self) -> float:
        return self.cpu_s / (self.bytes / 1024**3) if self.bytes else 0.0

    @property
    def p99_s(self) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


class Payload:
    """A body of `size` bytes made of one random MiB repeated: cheap to stream, known digest."""

    def __init__(self, size: int, block: bytes) -> None:
        self.size = size
        self.block = block
        digest = hashlib.sha256()
        for piece in self.pieces(0, size):
            digest.update(piece)
        self.sha256 = digest.hexdigest()

    def pieces(self, start: int, end: int) -> Iterator[bytes]:
        position = start
        while position < end:
            offset = position % len(self.block)
            piece = self.block[offset : min(len(self.block), offset + end - position)]
            position += len(piece)
            yield piece


SEND_BUFFER = 4 * MiB  # what an independent driver sets (issue #28): the kernel queues more of each 1 MiB sendall


def tune_sending(sock: socket.socket) -> None:
    """The client socket as a tuned driver has it: a large send buffer, and no Nagle delay for the head.

    With the default buffer (autotuned from 16 KiB) the client's own pacing shaped what the server
    saw; a driver that sets these sent bursts the default never did, and the servers' figures moved
    against the limit's (issue #28). Every workload and the limit's sender use the same socket.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _TunedConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        tune_sending(self.sock)


class Client:
    def __init__(self, server: Running, token: str | None = None) -> None:
        self.server = server
        self.conn = _TunedConnection("127.0.0.1", server.port, timeout=300)
        self.token = token

    def _headers(self, extra: dict[str, str]) -> dict[str, str]:
        headers = {"Tus-Resumable": "1.0.0", **extra}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _send(self, method: str, path: str, headers: dict[str, str], body: object = None) -> http.client.HTTPResponse:
        self.conn.request(method, path, body=body, headers=self._headers(headers))  # type: ignore[arg-type]
        response = self.conn.getresponse()
        response.read()
        fresh = response.getheader("X-New-Token")
        if fresh:
            self.token = fresh
        return response

    def create(self, length: int) -> str:
        response = self._send("POST", self.server.endpoint_path, {"Upload-Length": str(length)})
        assert response.status == 201, response.status
        return urlsplit(response.getheader("Location", "")).path

    def patch(self, path: str, offset: int, length: int, body: object, extra: dict[str, str] | None = None) -> int:
        headers = {"Upload-Offset": str(offset), "Content-Type": OCTET, "Content-Length": str(length), **(extra or {})}
        response = self._send("PATCH", path, headers, body)
        assert response.status == 204, response.status
        return int(response.getheader("Upload-Offset", "-1"))

    def reconnect(self) -> None:
        """Start the next request on a new connection (a microsecond's work).

        Warming memory between the POST and the timed PATCH can take longer than a server's
        keep-alive timeout (5 s for uvicorn) when the machine is busy; the server then closes the idle
        connection and the PATCH fails with a broken pipe.
        """
        self.conn.close()

    def close(self) -> None:
        self.conn.close()


def verify(server: Running, path: str, payload: Payload) -> None:
    verify_file(server.peer.name, server.stored_path(path.rstrip("/").rsplit("/", 1)[1]), payload)


def verify_file(name: str, stored: Path, payload: Payload) -> None:
    digest = hashlib.sha256()
    with open(stored, "rb") as fh:
        while block := fh.read(8 * MiB):
            digest.update(block)
    assert digest.hexdigest() == payload.sha256, f"{name}: stored bytes differ"


WARM = {"enabled": True}  # bench/run.py --no-warm turns it off


def warm_memory(size: int) -> None:
    """Touch and free `size` bytes so the page cache a server is about to fill is backed by the host.

    On this kind of virtual machine (virtio_balloon free-page reporting) memory freed for ~2 s goes
    back to the host, and filling it again costs the writer's kernel 1.3–1.7 CPU-s per GiB more than
    warm memory does (0.2 s/GiB): measured by writing 1 GiB 0, 0.5, 3, 5 and 10 s after touching
    1.5 GiB. Without this, whichever server runs after a pause pays that, at random. Real servers
    recycle their own page cache, so warm is the realistic case; every server gets the same treatment.
    """
    size = min(size, _available_bytes() // 2)
    if not WARM["enabled"] or size <= 0:
        return
    area = mmap.mmap(-1, size)
    for offset in range(0, size, mmap.PAGESIZE):
        area[offset] = 1
    area.close()


def settle_disk() -> None:
    """Write back what earlier runs left dirty before the clock starts, so no server pays for another's.

    Without it the kernel flushes a run's data about 30 s later (`dirty_expire_centisecs`), in the
    middle of whichever run comes then: block allocation and I/O submission on the same two cores.
    With a fixed order that was always the same server. The sync runs outside the timed part.
    """
    os.sync()


def _available_bytes() -> int:
    for line in open("/proc/meminfo").read().splitlines():  # noqa: SIM115 - tiny procfs file
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_times() -> tuple[int, int]:
    """(steal, total) clock ticks of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7] if len(fields) > 7 else 0, sum(fields[:8])


def _measure(server: Running, run: object, warm: int = 0) -> Result:
    settle_disk()
    warm_memory(warm)
    steal0, total0 = cpu_times()
    cpu0, _ = server.stats()
    start = time.perf_counter()
    result: Result = run()  # type: ignore[operator]
    result.seconds = time.perf_counter() - start
    cpu1, hwm = server.stats()
    result.cpu_s, result.peak_rss = cpu1 - cpu0, hwm
    steal1, total1 = cpu_times()
    result.steal = (steal1 - steal0) / max(1, total1 - total0)
    return result


def single_stream(server: Running, payload: Payload, token: str | None = None) -> Result:
    client = Client(server, token)
    path = client.create(payload.size)

    def run() -> Result:
        client.reconnect()
        offset = client.patch(path, 0, payload.size, payload.pieces(0, payload.size))
        assert offset == payload.size
        return Result(0, bytes=payload.size, uploads=1)

    result = _measure(server, run, warm=payload.size + 256 * MiB)
    client.close()
    verify(server, path, payload)
    return result


def chunked(server: Running, payload: Payload, chunk: int = CHUNK, checksum: bool = False,
            token: str | None = None) -> Result:  # fmt: skip
    client = Client(server, token)
    path = client.create(payload.size)
    digests: dict[tuple[int, int], str] = {}

    def header_for(start: int, end: int) -> dict[str, str]:
        if not checksum:
            return {}
        key = (start % len(payload.block), end - start)
        if key not in digests:  # chunks of a repeated block repeat their digests
            digests[key] = base64.b64encode(hashlib.sha256(b"".join(payload.pieces(start, end))).digest()).decode()
        return {"Upload-Checksum": f"sha256 {digests[key]}"}

    for start in range(0, payload.size, chunk):  # digests outside the timed part
        header_for(start, min(start + chunk, payload.size))

    def run() -> Result:
        client.reconnect()
        offset = 0
        while offset < payload.size:
            end = min(offset + chunk, payload.size)
            offset = client.patch(path, offset, end - offset, payload.pieces(offset, end), header_for(offset, end))
        assert offset == payload.size
        return Result(0, bytes=payload.size, uploads=1)

    result = _measure(server, run, warm=payload.size + 256 * MiB)
    client.close()
    verify(server, path, payload)
    return result


def concurrent(server: Running, payload: Payload, uploads: int = 64) -> Result:
    paths: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()

    def one() -> None:
        client = Client(server)
        begin = time.perf_counter()
        path = client.create(payload.size)
        assert client.patch(path, 0, payload.size, payload.pieces(0, payload.size)) == payload.size
        with lock:
            latencies.append(time.perf_counter() - begin)
            paths.append(path)
        client.close()

    def run() -> Result:
        with ThreadPoolExecutor(max_workers=uploads) as pool:
            for future in [pool.submit(one) for _ in range(uploads)]:
                future.result()
        return Result(0, bytes=payload.size * uploads, uploads=uploads, latencies=latencies)

    result = _measure(server, run, warm=payload.size * uploads + 256 * MiB)
    for path in paths:
        verify(server, path, payload)
    return result


def small(server: Running, payload: Payload, clients: int = 32, duration_s: float = 10.0) -> Result:
    body = b"".join(payload.pieces(0, payload.size))
    done: list[str] = []
    lock = threading.Lock()

    def loop(deadline: float) -> None:
        client = Client(server)
        mine = []
        while time.perf_counter() < deadline:
            path = client.create(len(body))
            assert client.patch(path, 0, len(body), body) == len(body)
            mine.append(path)
        client.close()
        with lock:
            done.extend(mine)

    def run() -> Result:
        deadline = time.perf_counter() + duration_s
        with ThreadPoolExecutor(max_workers=clients) as pool:
            for future in [pool.submit(loop, deadline) for _ in range(clients)]:
                future.result()
        return Result(0, bytes=len(body) * len(done), uploads=len(done))

    result = _measure(server, run)
    for path in done[:: max(1, len(done) // 50)]:  # a sample: every upload was acknowledged at its length
        verify(server, path, payload)
    return result
