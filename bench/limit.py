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

    python -m bench.limit splice --port 9000 --out /tmp/body     (the receiver, as bench/run.py starts it)
"""

from __future__ import annotations

import argparse
import fcntl
import os
import socket
import sys
from pathlib import Path

from .peers import Peer, Running
from .workloads import Payload, Result, _measure, tune_sending, verify_file

BODY_FILE = "body"
# The pipe between socket and file: 256 KiB cost 0.65 CPU-s per GiB here, 64 KiB 0.87, 1 MiB 1.46
# (3 interleaved rounds of 512 MiB each; as with socat, what fits the 1 MiB L2 cache wins).
_PIPE_BYTES = 256 * 1024
_SOCAT_BUFFER = 128 * 1024
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


def splice_receive(port: int, out: str) -> None:
    """Accept one connection and move its bytes to `out` through a pipe, never into user space."""
    with socket.create_server(("127.0.0.1", port)) as listener:
        conn, _ = listener.accept()
    read_end, write_end = os.pipe()
    try:
        fcntl.fcntl(write_end, _F_SETPIPE_SZ, _PIPE_BYTES)
    except OSError:
        pass  # the default 64 KiB pipe still works, only with more calls
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
    parser.add_argument("mode", choices=["splice"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    splice_receive(args.port, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
