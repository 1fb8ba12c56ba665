"""Instructions the server runs per small upload (POST + one 4 KiB PATCH), counted by callgrind.

    python bench/instructions.py [--uploads 200] [--src PATH ...]

Wall-clock figures on a shared virtual machine swing by 2x from one minute to the next; the count of
user-space instructions does not (the same count to 0.1 % run after run), so it is the figure to
compare two versions of the request path. Give `--src` twice (say, a `git worktree` of main and your
working tree) to compare them in one run. It leaves out kernel work (syscalls, page cache), which
`bench/run.py` still shows. Needs valgrind (`apt install valgrind`).
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.peers import free_port, tus_connection  # noqa: E402

HEADERS = {"Tus-Resumable": "1.0.0"}


def one_upload(conn: http.client.HTTPConnection, body: bytes) -> None:
    conn.request("POST", "/files/", headers={**HEADERS, "Upload-Length": str(len(body))})
    response = conn.getresponse()
    response.read()
    assert response.status == 201, response.status
    path = "/" + response.getheader("Location", "").split("//", 1)[1].split("/", 1)[1]
    patch = {**HEADERS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    conn.request("PATCH", path, body=body, headers=patch)
    response = conn.getresponse()
    response.read()
    assert response.status == 204, response.status


def count(src: Path, uploads: int, extra: list[str] | None = None) -> float:
    """Millions of instructions per upload, after a warm-up outside the count."""
    with tempfile.TemporaryDirectory(prefix="tusbench-cg-") as tmp:
        out = Path(tmp) / "callgrind.out"
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": "0"}
        valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        serve = ["-m", "tusserver", "serve", "--port", str(port), "--data-dir", f"{tmp}/data", *(extra or [])]
        command = [*valgrind, sys.executable, *serve]
        proc = subprocess.Popen(command, cwd=src, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            conn = tus_connection(port, deadline_s=120, timeout_s=60)  # valgrind starts slowly
            body = os.urandom(4096)
            for _ in range(20):
                one_upload(conn, body)
            subprocess.run(["callgrind_control", "--instr=on", str(proc.pid)], check=True, capture_output=True)
            for _ in range(uploads):
                one_upload(conn, body)
            subprocess.run(["callgrind_control", "--instr=off", str(proc.pid)], check=True, capture_output=True)
            conn.close()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(120)
        total = 0
        for line in out.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
        return total / uploads / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--src", type=Path, action="append", help="a tusserver checkout (default: this one)")
    parser.add_argument("--serve-arg", action="append", default=[], help="passed to `serve` (say --store=memory)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt install valgrind)", file=sys.stderr)
        return 2
    sources = args.src or [Path(__file__).resolve().parents[1]]
    for src in sources:
        millions = count(src.resolve(), args.uploads, args.serve_arg)
        print(f"{millions:.3f} M instructions per small upload  {src}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
