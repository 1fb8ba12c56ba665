"""The machine's limit for one stream: the same bytes sent to receivers that only write them to a file.

No HTTP, no framework, no Python on the receiving side's data path:
- `socat -u TCP-LISTEN:… CREATE:file`, a C program doing read() into a buffer and write() to the file;
- `splice`: this file's own receiver, socket → pipe → file with `os.splice`, so the bytes never enter
  user space (one kernel copy fewer than any server that reads the body can make).

The client is the benchmark's own: the payload's 1 MiB pieces, each `sendall`, as http.client does
for a PATCH body (only the few hundred bytes of HTTP head are missing), on a socket tuned like an
independent driver's (`workloads.tune_sending`: 4 MiB SO_SNDBUF, TCP_NODELAY). The receiver closes the
connection once the file is written; the client's timer stops when it sees that close, as it stops
when tusserver's 204 arrives. `bench/run.py` runs both receivers in the same round as tusserver's
single stream; the faster of the two in that round is the limit tusserver is reported against.

The limit of a checksummed PATCH (workload 5a) is not one core's `hashlib.sha256` alone: the bytes must
arrive too, on the same cores as the client. `splice-sha256` is tusserver's hashed direct body
(`tusserver/server/body_pump.py` `pump`) without HTTP: per chunk, socket -> pipe -> file with `os.splice`
in one thread while a second reads each landed piece back from the page cache and hashes it, one hasher
per chunk as a PATCH has; the chunk's digest goes back as its acknowledgement (where a PATCH gets its
204), and the client sends the next chunk once it has it. `bench/run.py` runs it right after
tusserver's 5a in each round.

    python -m bench.limit splice --port 9000 --out /tmp/body     (the receiver, as bench/run.py starts it)
    python -m bench.limit splice-sha256 --port 9000 --out /tmp/body --chunk 8388608
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fcntl
import hashlib
import os
import queue
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from tusserver.server.body_pump import hash_from_file

from .peers import Peer, Running
from .workloads import CHUNK, Payload, Result, _measure, tune_sending, verify_file

BODY_FILE = "body"
# The pipe between socket and file: 256 KiB cost 0.65 CPU-s per GiB here, 64 KiB 0.87, 1 MiB 1.46
# (3 interleaved rounds of 512 MiB each; as with socat, what fits the 1 MiB L2 cache wins).
_PIPE_BYTES = 256 * 1024
_SOCAT_BUFFER = 128 * 1024
DIGEST_BYTES = hashlib.sha256().digest_size  # a chunk's acknowledgement: its sha256, from the receiver
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_ROOT = Path(__file__).resolve().parents[1]


def limit_peers() -> list[Peer]:
    """socat (if installed) and the splice receiver, as raw peers `bench.peers.start` knows how to run."""
    peers = []
    if _which("socat"):
        # -b: socat's transfer buffer. 8 KiB (its default) and 1 MiB (the size of tusserver's writes) both
        # cost 1.8 CPU-s per GiB here, 64 and 128 KiB 0.8 (3 rounds of 512 MiB each, interleaved): a
        # buffer that fits the 1 MiB L2 cache beside the kernel's own working set.
        peers.append(Peer("limit: socat", ["socat", "-u", "-b", str(_SOCAT_BUFFER),
                                           "TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr",
                                           f"CREATE:{{data}}/{BODY_FILE}"], raw=True))  # fmt: skip
    peers.append(Peer("limit: splice", [sys.executable, "-m", "bench.limit", "splice", "--port", "{port}",
                                        "--out", f"{{data}}/{BODY_FILE}"], cwd=_ROOT, raw=True))  # fmt: skip
    return peers


def hashed_limit_peer(chunk: int = CHUNK) -> Peer:
    """The splice + sha256 receiver (no HTTP) for workload 5a, taking `chunk` bytes per acknowledged chunk."""
    return Peer("limit: splice + sha256", [sys.executable, "-m", "bench.limit", "splice-sha256", "--port", "{port}",
                                           "--out", f"{{data}}/{BODY_FILE}", "--chunk", str(chunk)],
                cwd=_ROOT, raw=True)  # fmt: skip


def raw_stream(server: Running, payload: Payload) -> Result:
    """Send `payload` on one connection with no HTTP; done when the receiver closes it."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=300)
    tune_sending(sock)  # as the workloads' client: the same sender for the limit and the servers

    def run() -> Result:
        for piece in payload.pieces(0, payload.size):
            sock.sendall(piece)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):
            pass
        server.finished = True  # the receiver exits now; its CPU and peak RSS are read once it has
        return Result(0, bytes=payload.size, uploads=1)

    try:
        result = _measure(server, run, warm=payload.size + 256 * 1024 * 1024)
    finally:
        sock.close()
    verify_file(server.peer.name, server.data_dir / BODY_FILE, payload)
    return result


def raw_chunked_sha256(server: Running, payload: Payload, chunk: int = CHUNK) -> Result:
    """Send `payload` in `chunk`-byte chunks with no HTTP, each awaited until the receiver acknowledges it.

    Done when the receiver closes the connection; then every acknowledgement must be the sha256 of its
    chunk (the receiver hashed every byte, in order) and the file must hold the payload.
    """
    expected = chunk_digests(payload, chunk)  # outside the timed part, as workloads.chunked's headers
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=300)
    tune_sending(sock)
    acks: list[bytes] = []

    def run() -> Result:
        acks.extend(send_chunks(sock, payload, chunk))
        while sock.recv(4096):
            pass
        server.finished = True  # the receiver exits now; its CPU is read once it has
        return Result(0, bytes=payload.size, uploads=len(acks))

    try:
        result = _measure(server, run, warm=payload.size + 256 * 1024 * 1024)
    finally:
        sock.close()
    assert acks == expected, f"{server.peer.name}: {_first_wrong(acks, expected)}"
    verify_file(server.peer.name, server.data_dir / BODY_FILE, payload)
    return result


def send_chunks(sock: socket.socket, payload: Payload, chunk: int) -> list[bytes]:
    """Each chunk in the payload's pieces (`sendall` each, as http.client sends a PATCH body), then its
    acknowledgement awaited; the write side is shut after the last chunk. The acknowledgements, in order."""
    acks = []
    for start in range(0, payload.size, chunk):
        end = min(start + chunk, payload.size)
        for piece in payload.pieces(start, end):
            sock.sendall(piece)
        if end == payload.size:  # a short last chunk ends at EOF: the receiver cannot know it otherwise
            sock.shutdown(socket.SHUT_WR)
        ack = sock.recv(DIGEST_BYTES, socket.MSG_WAITALL)
        if len(ack) != DIGEST_BYTES:
            raise ConnectionError(f"chunk at {start}: the receiver closed without acknowledging it")
        acks.append(ack)
    return acks


def chunk_digests(payload: Payload, chunk: int) -> list[bytes]:
    """The sha256 of each `chunk` of the payload; chunks of a repeated block repeat theirs, hashed once."""
    known: dict[tuple[int, int], bytes] = {}
    digests = []
    for start in range(0, payload.size, chunk):
        end = min(start + chunk, payload.size)
        key = (start % len(payload.block), end - start)
        if key not in known:
            digest = hashlib.sha256()
            for piece in payload.pieces(start, end):
                digest.update(piece)
            known[key] = digest.digest()
        digests.append(known[key])
    return digests


def _first_wrong(acks: list[bytes], expected: list[bytes]) -> str:
    if len(acks) != len(expected):
        return f"{len(acks)} chunks acknowledged, {len(expected)} sent"
    index = next(i for i, (got, want) in enumerate(zip(acks, expected, strict=True)) if got != want)
    return f"chunk {index}: the receiver's sha256 differs from the sent bytes'"


def splice_sha256_receive(port: int, out: str, chunk: int) -> None:
    """Accept one connection; per `chunk` bytes, splice them to `out` while a second thread hashes them, then
    send the chunk's sha256 back. A short last chunk (EOF within it) is hashed and acknowledged too."""
    with socket.create_server(("127.0.0.1", port)) as listener:
        conn, _ = listener.accept()
    read_end, write_end = _pipe()
    fd = os.open(out, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)  # read back by the hashing thread
    hashing_thread = concurrent.futures.ThreadPoolExecutor(1)  # one for the connection, as tusserver's body thread
    try:
        position = 0
        while True:
            pieces: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
            hashed = hashing_thread.submit(_hash_pieces, fd, pieces)
            try:
                moved = _splice_chunk(conn.fileno(), read_end, write_end, fd, position, chunk, pieces.put)
            finally:
                pieces.put(None)
            digest = hashed.result()
            if moved == 0:
                break  # EOF between chunks: the client has sent everything
            conn.sendall(digest)
            position += moved
            if moved < chunk:
                break
    finally:
        hashing_thread.shutdown()
        os.close(fd)
        os.close(read_end)
        os.close(write_end)
        conn.close()


def _splice_chunk(sock: int, read_end: int, write_end: int, fd: int, position: int, chunk: int,
                  landed: Callable[[tuple[int, int]], None]) -> int:  # fmt: skip
    """Up to `chunk` bytes socket -> pipe -> file at `position` (fewer at EOF); `landed((at, size))` per piece."""
    moved = 0
    while moved < chunk:
        got = os.splice(sock, write_end, min(chunk - moved, _PIPE_BYTES), flags=os.SPLICE_F_MOVE)
        if got == 0:
            break
        end = moved + got
        while moved < end:
            moved += os.splice(read_end, fd, end - moved, offset_dst=position + moved, flags=os.SPLICE_F_MOVE)
        landed((position + end - got, got))
    return moved


def _hash_pieces(fd: int, pieces: queue.SimpleQueue[tuple[int, int] | None]) -> bytes:
    """sha256 of the pieces, read back from the page cache in the order they landed: tusserver's own loop."""
    digest = hashlib.sha256()
    hash_from_file(fd, [digest], pieces)
    return digest.digest()


def _pipe() -> tuple[int, int]:
    """A pipe of `_PIPE_BYTES` (read end, write end)."""
    read_end, write_end = os.pipe()
    try:
        fcntl.fcntl(write_end, _F_SETPIPE_SZ, _PIPE_BYTES)
    except OSError:
        pass  # the default 64 KiB pipe still works, only with more calls
    return read_end, write_end


def splice_receive(port: int, out: str) -> None:
    """Accept one connection and move its bytes to `out` through a pipe, never into user space."""
    with socket.create_server(("127.0.0.1", port)) as listener:
        conn, _ = listener.accept()
    read_end, write_end = _pipe()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while True:
            moved = os.splice(conn.fileno(), write_end, _PIPE_BYTES)
            if moved == 0:
                break
            while moved:
                moved -= os.splice(read_end, fd, moved)
    finally:
        os.close(fd)
        conn.close()


def _which(name: str) -> bool:
    return any(os.access(os.path.join(d, name), os.X_OK) for d in os.environ.get("PATH", "").split(os.pathsep))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["splice", "splice-sha256"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--chunk", type=int, default=CHUNK, help="splice-sha256: bytes per acknowledged chunk")
    args = parser.parse_args()
    if args.chunk <= 0:
        parser.error("--chunk must be positive")
    if args.mode == "splice":
        splice_receive(args.port, args.out)
    else:
        splice_sha256_receive(args.port, args.out, args.chunk)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
