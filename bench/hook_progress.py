"""post-receive during ONE large PATCH (issue #25): how many events a real HTTP hook receiver gets, at
which offsets, for each `--progress-interval`.

For each interval a fresh `tusserver serve` (file store, a temporary data directory) sends its hooks to
a receiver in this process, which notes each post-receive's arrival and offset; one upload of
`--size-mib` goes up in a single PATCH (optionally paced to `--rate-mbps`). Printed per interval: the
PATCH's time and rate, the events that arrived while it ran (offset below the size), their rate, the
most the throttle allows in that time (one per interval, and at most one per MiB: the body's byte
counter reports every MiB or half second), the largest step between two offsets, and whether the event
for the last byte came. A first row with no hook at all is the rate to compare with.

Usage: `python bench/hook_progress.py [--size-mib 1024] [--intervals 0,0.1,0.25,0.5,1] [--rate-mbps 0]`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: `bench` must import

from bench.peers import tus_connection  # noqa: E402

MiB = 1024 * 1024


@dataclass
class Seen:
    events: list[tuple[float, int]] = field(default_factory=list)  # (arrival, offset) of each post-receive
    lock: threading.Lock = field(default_factory=threading.Lock)


def receiver(seen: Seen) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            hook = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if hook["Type"] == "post-receive":
                with seen.lock:
                    seen.events.append((time.monotonic(), int(hook["Event"]["Upload"]["Offset"])))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def paced(total: int, block: bytes, rate_mbps: float) -> Iterator[bytes]:
    """The body a MiB at a time; with a rate, never ahead of it (a client on a slower link)."""
    start, sent = time.monotonic(), 0
    while sent < total:
        piece = block[: min(len(block), total - sent)]
        if rate_mbps:
            ahead = sent / (rate_mbps * 1e6) - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        sent += len(piece)
        yield piece


@dataclass
class Row:
    interval: str
    seconds: float
    mbps: float
    during: int = 0
    allowed: int = 0
    step_mib: float = 0.0
    last_byte: bool = False


def one_patch(args: argparse.Namespace, interval: float | None, hooks_url: str, seen: Seen, tmp: Path) -> Row:
    total, block = args.size_mib * MiB, os.urandom(MiB)
    port = free_port()
    hooks = [] if interval is None else [
        "--hooks-url", hooks_url, "--hooks-enabled", "post-receive", "--progress-interval", str(interval),
    ]  # fmt: skip
    data_dir = tmp / f"data-{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "tusserver", "serve", "--port", str(port), "--data-dir", str(data_dir),
         "--log-level", "warning", "--body-threads", str(args.body_threads), *hooks],
    )  # fmt: skip
    try:
        conn = tus_connection(port)
        conn.request("POST", "/files/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(total)})
        response = conn.getresponse()
        response.read()
        path = "/files/" + response.getheader("Location", "").rsplit("/", 1)[1]
        with seen.lock:
            seen.events.clear()
        start = time.monotonic()
        conn.request(
            "PATCH", path, body=paced(total, block, args.rate_mbps),
            headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Length": str(total),
                     "Content-Type": "application/offset+octet-stream"},
        )  # fmt: skip
        response = conn.getresponse()
        response.read()
        ended = time.monotonic()
        assert response.status == 204, response.status
        row = Row("no hook" if interval is None else f"{interval:g}", ended - start, total / (ended - start) / 1e6)
        if interval is None:
            return row
        deadline = time.monotonic() + 60
        while not any(offset == total for _, offset in seen.events) and time.monotonic() < deadline:
            time.sleep(0.05)  # post-hooks are queued: the last one may still be on its way
        with seen.lock:
            offsets = sorted(offset for _, offset in seen.events)
        during = [o for o in offsets if o < total]
        steps = [b - a for a, b in zip([0, *offsets], offsets, strict=False)]
        row.during, row.last_byte = len(during), total in offsets
        # One per interval; with none, one per report of the body's byte counter (every MiB or half second).
        row.allowed = int(row.seconds / interval) + 1 if interval else total // MiB + int(row.seconds / 0.5) + 1
        row.step_mib = max(steps, default=0) / MiB
        return row
    finally:
        server.terminate()
        server.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--intervals", default="0,0.1,0.25,0.5,1", help="--progress-interval values, seconds")
    parser.add_argument("--rate-mbps", type=float, default=0.0, help="pace the client (0: as fast as it goes)")
    parser.add_argument("--body-threads", type=int, default=4)
    args = parser.parse_args()
    seen = Seen()
    hooks = receiver(seen)
    url = f"http://127.0.0.1:{hooks.server_address[1]}/hooks"
    rows = []
    with tempfile.TemporaryDirectory(prefix="tusbench-hooks-") as tmp:
        for interval in [None, *(float(v) for v in args.intervals.split(","))]:
            rows.append(one_patch(args, interval, url, seen, Path(tmp)))
    hooks.shutdown()
    pace = f", client paced to {args.rate_mbps:g} MB/s" if args.rate_mbps else ""
    print(f"one PATCH of {args.size_mib} MiB, file store, --body-threads {args.body_threads}{pace}")
    columns = ["--progress-interval", "PATCH s", "MB/s", "events during it", "events/s", "most allowed"]
    print("| " + " | ".join([*columns, "largest step", "last byte"]) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.interval == "no hook":
            print(f"| no hook | {r.seconds:.2f} | {r.mbps:.0f} | | | | | |")
            continue
        print(
            f"| {r.interval} | {r.seconds:.2f} | {r.mbps:.0f} | {r.during} | {r.during / r.seconds:.1f} | "
            f"{r.allowed} | {r.step_mib:.1f} MiB | {'yes' if r.last_byte else 'NO'} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
