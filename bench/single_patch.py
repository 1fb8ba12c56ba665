"""Upload one large file in ONE PATCH to a freshly started tusserver; report MB/s, peak RSS and a baseline ratio.

    python bench/single_patch.py [--size-mib 1024] [--chunk-kib 1024]

The body is a generator (nothing whole in memory). The baseline, measured in the same run, is the
same bytes through a raw loopback TCP socket into a file in the same data directory, which is what
tusserver does minus HTTP and tus. The server's peak RSS is VmHWM of its process.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def body(total: int, chunk: bytes) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = chunk[: total - sent]
        sent += len(piece)
        yield piece


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tusserver", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSSERVER_")}
    proc = subprocess.Popen([*cmd, "--log-level", "warning"], env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.options(f"http://127.0.0.1:{port}/files/", timeout=1).status_code == 204:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def tus_upload(port: int, size: int, chunk: bytes) -> float:
    tus = {"Tus-Resumable": "1.0.0"}
    with httpx.Client(timeout=600) as client:
        r = client.post(f"http://127.0.0.1:{port}/files/", headers={**tus, "Upload-Length": str(size)})
        r.raise_for_status()
        url = r.headers["Location"]
        headers = {**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
        headers["Content-Length"] = str(size)
        start = time.perf_counter()
        r = client.patch(url, headers=headers, content=body(size, chunk))
        elapsed = time.perf_counter() - start
        assert r.status_code == 204, r.text
        assert r.headers["Upload-Offset"] == str(size)
    return elapsed


def raw_upload(port: int, size: int, chunk: bytes) -> float:
    """The same PATCH written straight to a socket, so client-side HTTP overhead does not count."""
    tus = {"Tus-Resumable": "1.0.0"}
    r = httpx.post(f"http://127.0.0.1:{port}/files/", headers={**tus, "Upload-Length": str(size)})
    r.raise_for_status()
    path = r.headers["Location"].split(str(port), 1)[1]
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        for piece in body(size, chunk):
            sock.sendall(piece)
        response = sock.recv(4096)
    elapsed = time.perf_counter() - start
    assert response.startswith(b"HTTP/1.1 204"), response[:200]
    assert f"upload-offset: {size}".encode() in response.lower()
    return elapsed


def baseline(directory: Path, size: int, chunk: bytes) -> float:
    """Loopback TCP into a file in the same directory: the floor under any upload server."""
    target = directory / "baseline.bin"
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received = 0

    def receive() -> None:
        nonlocal received
        conn, _ = listener.accept()
        buf = bytearray(len(chunk))
        view = memoryview(buf)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            while True:
                n = conn.recv_into(buf)
                if not n:
                    break
                os.write(fd, view[:n])
                received += n
        finally:
            os.close(fd)
            conn.close()

    thread = threading.Thread(target=receive)
    thread.start()
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for piece in body(size, chunk):
            sock.sendall(piece)
    thread.join()
    elapsed = time.perf_counter() - start
    listener.close()
    assert received == size
    target.unlink()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--chunk-kib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib * MiB
    chunk = os.urandom(args.chunk_kib * 1024)
    with tempfile.TemporaryDirectory(prefix="tus-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        port = free_port()
        proc = start_server(data_dir, port)
        try:
            idle_mb = vm_hwm_mb(proc.pid)
            elapsed = tus_upload(port, size, chunk)
            for path in data_dir.iterdir():
                if path.is_file() and "." not in path.name:
                    path.unlink()  # keep the disk footprint at one upload
            raw_elapsed = raw_upload(port, size, chunk)
            peak_mb = vm_hwm_mb(proc.pid)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        for path in data_dir.iterdir():
            if path.is_file():
                path.unlink()
        base_elapsed = baseline(data_dir, size, chunk)
    mbps = size / MiB / elapsed
    base_mbps = size / MiB / base_elapsed
    print(f"size: {args.size_mib} MiB in one PATCH, client chunks of {args.chunk_kib} KiB")
    raw_mbps = size / MiB / raw_elapsed
    print(f"tusserver, httpx client: {elapsed:.2f} s, {mbps:.0f} MiB/s")
    print(f"tusserver, raw-socket client: {raw_elapsed:.2f} s, {raw_mbps:.0f} MiB/s")
    print(f"baseline (loopback TCP -> file, same dir): {base_elapsed:.2f} s, {base_mbps:.0f} MiB/s")
    print(f"ratio tusserver/baseline: {mbps / base_mbps:.2f} (httpx client), {raw_mbps / base_mbps:.2f} (raw client)")
    print(f"server peak RSS (VmHWM): {peak_mb:.1f} MB (after start: {idle_mb:.1f} MB)")
    print("target peak RSS < 100 MB:", "met" if peak_mb < 100 else "MISSED")
    return 0 if peak_mb < 100 else 1


if __name__ == "__main__":
    raise SystemExit(main())
