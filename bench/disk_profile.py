"""A kernel + user profile of a server under workload 4b (small uploads, data on a real disk).

    python bench/disk_profile.py [--python PY] [--seconds 10] [--disk-dir DIR]

Starts `PY -m tusserver serve` (default: this checkout's) with its data on `--disk-dir`, runs the
small-upload workload with 64 clients, and samples the server with `perf record -e cpu-clock -g`
(a software event: it works in VMs without hardware counters; needs perf and the right to trace).
Prints the uploads/s, the server's CPU per upload and the top symbols by self time, so a before and
after can be compared (issue #28: the inode allocator's `find_inode_bit` / `recently_deleted`).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import workloads  # noqa: E402
from bench.peers import start, tusserver_peer  # noqa: E402
from bench.workloads import Payload  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--disk-dir", type=Path, default=Path(__file__).resolve().parent / "results" / "disk")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    args.disk_dir.mkdir(parents=True, exist_ok=True)
    peer = tusserver_peer()
    peer.command[0] = args.python
    peer.cwd = Path(args.python).parent  # `-m tusserver` must import that installation, not this checkout's
    payload = Payload(4096, os.urandom(1024 * 1024))
    with tempfile.TemporaryDirectory(dir=args.disk_dir) as tmp:
        running = start(peer, Path(tmp))
        perf_data = Path(tmp) / "perf.data"
        try:
            perf = subprocess.Popen(
                ["perf", "record", "-q", "-e", "cpu-clock", "-g", "-p", str(running.proc.pid), "-o", str(perf_data)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            result: list[workloads.Result] = []
            worker = threading.Thread(
                target=lambda: result.append(workloads.small(running, payload, args.clients, args.seconds))
            )
            worker.start()
            worker.join()
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
        finally:
            running.stop()
        done = result[0]
        per_upload_ms = done.cpu_s / max(1, done.uploads) * 1e3
        print(f"{done.uploads_per_s:.0f} uploads/s, server CPU {per_upload_ms:.2f} ms per upload")
        report = subprocess.run(
            ["perf", "report", "-i", str(perf_data), "--stdio", "--no-children", "--sort", "symbol",
             "-g", "none", "--percent-limit", "0.5"],
            capture_output=True, text=True,
        )  # fmt: skip
        lines = [line for line in report.stdout.splitlines() if line.strip() and not line.startswith("#")]
        print("\n".join(lines[: args.top]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
