"""Upload 1 GiB in ONE PATCH to a fresh `tusserver serve`; print MB/s, server CPU and peak RSS.

The figure is given as a ratio to what this machine can do in the same run: a raw loopback socket
transfer of the same size (the ceiling for any HTTP server) and a plain write of the same bytes to
the same data directory (the ceiling for storage). Usage: `python bench/single_patch.py [--size-mib N]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: `bench` must import

from bench.peers import free_port, tus_connection  # noqa: E402

BLOCK = 1024 * 1024


def body(total: int, block: bytes) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = block[: min(len(block), total - sent)]
        sent += len(piece)
        yield piece


def proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, VmHWM bytes) of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    hwm = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) * 1024
    return cpu, hwm


def loopback_baseline(total: int, block: bytes) -> float:
    """MB/s of a raw TCP transfer over loopback, receiver draining into a buffer."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def drain() -> None:
        conn, _ = server.accept()
        with conn:
            buf = bytearray(BLOCK)
            while conn.recv_into(buf):
                pass

    thread = threading.Thread(target=drain)
    thread.start()
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for piece in body(total, block):
            sock.sendall(piece)
    thread.join()
    server.close()
    return total / (time.perf_counter() - start) / 1e6


def disk_baseline(total: int, block: bytes, directory: Path) -> float:
    path = directory / "baseline.bin"
    start = time.perf_counter()
    with open(path, "wb") as fh:
        for piece in body(total, block):
            fh.write(piece)
    elapsed = time.perf_counter() - start
    path.unlink()
    return total / elapsed / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    total = args.size_mib * BLOCK
    block = os.urandom(BLOCK)
    expected = hashlib.sha256()
    for piece in body(total, block):
        expected.update(piece)

    with tempfile.TemporaryDirectory(prefix="tusbench-") as tmp:
        data_dir = Path(tmp) / "data"
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "tusserver", "serve", "--port", str(port), "--data-dir", str(data_dir),
             "--log-level", "warning"],
        )  # fmt: skip
        try:
            conn = tus_connection(port, timeout_s=5)
            conn.request("POST", "/files/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(total)})
            response = conn.getresponse()
            response.read()
            path = "/files/" + response.getheader("Location", "").rsplit("/", 1)[1]
            cpu_before, _ = proc_stats(server.pid)
            start = time.perf_counter()
            conn.request(
                "PATCH",
                path,
                body=body(total, block),
                headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Length": str(total),
                         "Content-Type": "application/offset+octet-stream"},
            )  # fmt: skip
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            cpu_after, peak_rss = proc_stats(server.pid)
            assert response.status == 204, response.status
            assert response.getheader("Upload-Offset") == str(total)
            stored = hashlib.sha256()
            with open(data_dir / path.rsplit("/", 1)[1], "rb") as fh:
                while chunk := fh.read(8 * BLOCK):
                    stored.update(chunk)
            assert stored.digest() == expected.digest(), "stored bytes differ"
        finally:
            server.terminate()
            server.wait(10)
        mbps = total / elapsed / 1e6
        loopback = loopback_baseline(total, block)
        disk = disk_baseline(total, block, Path(tmp))
    gib = total / 1024**3
    print(f"size                     {args.size_mib} MiB in one PATCH (verified by sha256)")
    print(f"tusserver                {mbps:8.0f} MB/s")
    print(f"raw loopback TCP         {loopback:8.0f} MB/s   tusserver/loopback = {mbps / loopback:.2f}")
    print(f"plain file write         {disk:8.0f} MB/s   tusserver/disk     = {mbps / disk:.2f}")
    print(f"server CPU               {(cpu_after - cpu_before) / gib:8.2f} s per GiB")
    print(f"server peak RSS (VmHWM)  {peak_rss / 1e6:8.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
