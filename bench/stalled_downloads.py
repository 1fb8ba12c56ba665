"""Stalled downloads: many GETs of one upload whose clients never read (issue #22's attack), against a
`tusserver serve` this script starts.

Reports the server's RSS before, at its peak (VmHWM), once the server has closed them (or after
`--hold` seconds, whichever comes first), and after the clients closed and the server was idle, so
the figures are memory per stalled connection and memory kept afterwards. Run it from the tree whose
server is measured:

    python -m bench.stalled_downloads --clients 1000 --size 8M -- --write-timeout 10
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tusserver.config import parse_size


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(check: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def run(clients: int, size: int, hold: float, settle: float, server_args: list[str]) -> dict[str, float]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port = _free_port()
    with tempfile.TemporaryDirectory() as data:
        cmd = [sys.executable, "-m", "tusserver", "serve", "--port", str(port), "--data-dir", data, *server_args]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}/files/"
            tus = {"Tus-Resumable": "1.0.0"}

            def up() -> bool:
                try:
                    return httpx.options(base, timeout=1).status_code < 500
                except httpx.TransportError:
                    return False

            if not _wait(up, 30):
                raise SystemExit("server did not start")
            url = httpx.post(base, headers={**tus, "Upload-Length": str(size)}).headers["Location"]
            httpx.patch(
                url,
                content=b"d" * size,
                headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
                timeout=60,
            )
            assert len(httpx.get(url, timeout=60).content) == size
            pid = proc.pid
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            before = _status(pid, "VmRSS")
            path = urlsplit(url).path.encode()
            socks = []
            started = time.monotonic()
            for _ in range(clients):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.connect(("127.0.0.1", port))
                sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                socks.append(sock)
            closed = _wait(lambda: len(os.listdir(f"/proc/{pid}/fd")) <= fds, hold)
            held_s = time.monotonic() - started
            during = _status(pid, "VmRSS")
            peak = _status(pid, "VmHWM")
            for sock in socks:
                sock.close()
            time.sleep(settle)  # the server's idle trim runs after 2 s without requests
            after = _status(pid, "VmRSS")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
    mib = 1024 * 1024
    return {
        "clients": clients,
        "size_mib": size / mib,
        "rss_before_mib": round(before / mib, 1),
        "rss_peak_mib": round(peak / mib, 1),
        "rss_held_mib": round(during / mib, 1),
        "peak_per_connection_kib": round((peak - before) / clients / 1024, 1),
        "closed_by_server": closed,
        "seconds_until_closed_or_hold": round(held_s, 1),
        "rss_after_close_mib": round(after / mib, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--size", default="8M", help="upload size (SIZE)")
    parser.add_argument("--hold", type=float, default=90.0, help="seconds to wait for the server to close them")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds idle after the clients closed")
    parser.add_argument("server_args", nargs="*", help="extra `tusserver serve` flags (after --)")
    args = parser.parse_args()
    print(json.dumps(run(args.clients, parse_size(args.size), args.hold, args.settle, args.server_args), indent=1))


if __name__ == "__main__":
    main()
