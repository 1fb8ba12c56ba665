"""`make soak`: a long run that looks for leaks, not speed. Exits non-zero when it finds one.

    python bench/soak.py [--small 100000] [--big 200] [--big-mib 64] [--in-flight 8]

Starts a real `tusserver serve` with auth on (so every response rotates the token, and every client
uses the token it was last given), then runs `--small` small uploads (POST + one PATCH of 1,000 bytes,
`--in-flight` at once) alongside `--big` uploads of `--big-mib` MiB (two at once, each deleted once
it is checked, to spare the disk). The work runs in ten phases with the same mix; RSS is taken after each,
once the server has been idle for 3 s (it hands freed heap pages back after 2 s idle).
Every client uses the token the last response gave it; on a 401 (that token ran out: on a loaded machine
a client can be starved longer than `--token-ttl`) it logs in again, as a real client would, and the
count of those is printed. It fails when:
- the server's RSS at the end is over 1.10x its RSS after the first tenth (memory that grows with
  the number of requests served, not with the load);
- the server's open descriptors after the clients have gone are more than at the start;
- the data directory holds anything but the uploads: a `<id>` + `<id>.info` pair per upload kept, a
  `<id>.gone` tombstone per upload deleted, no lock file left in `.locks/`, no `*.tmp` anywhere;
- an upload failed or ended at the wrong offset.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.peers import Running, start, tusserver_peer  # noqa: E402
from bench.workloads import Client, MiB, Payload  # noqa: E402

SECRET = "soak-secret-that-is-long-enough-for-hs256"
SMALL_BYTES = 1000
RSS_GROWTH_LIMIT = 1.10
IDLE_S = 3.0  # > the server's 2 s idle-trim delay


@dataclass
class Tally:
    kept: set[str] = field(default_factory=set)  # upload ids that must still be on disk
    deleted: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    relogins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


class RotatingClient(Client):
    """The bench client, noting when it was last given a token; a 401 means that token ran out (or broke)."""

    def __init__(self, server: Running, tally: Tally, token: str | None = None) -> None:
        super().__init__(server, token or first_token())
        self.tally = tally
        self.token_at = time.monotonic()

    def _send(self, method: str, path: str, headers: dict[str, str], body: object = None) -> http.client.HTTPResponse:
        for attempt in range(2):
            sent_at = time.monotonic()
            response = super()._send(method, path, headers, body)
            if response.getheader("X-New-Token"):
                self.token_at = time.monotonic()
            if response.status != 401 or attempt or body is not None and not isinstance(body, bytes):
                return response
            # like a real client: log in again, and say so (a rotation bug would show as many of these)
            with self.tally.lock:
                self.tally.relogins.append(f"{method} 401 {sent_at - self.token_at:.1f} s after the last token")
            self.token = first_token()
            self.token_at = time.monotonic()
        return response


def first_token() -> str:
    from tusserver.auth.tokens import TokenService
    from tusserver.config import Settings

    return TokenService.from_settings(Settings(jwt_secret=SECRET)).issue("soak", ttl_s=60)


def upload_id(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[1]


def small_worker(server: Running, count: int, tally: Tally, body: bytes) -> None:
    """`count` small uploads on one keep-alive connection, each request with the token the last one returned."""
    client = RotatingClient(server, tally)
    try:
        for _ in range(count):
            path = ""
            try:
                path = client.create(len(body))
                with tally.lock:
                    tally.kept.add(upload_id(path))
                offset = client.patch(path, 0, len(body), body)
            except Exception as exc:  # noqa: BLE001 - a soak counts failures, it does not stop at one
                tally.fail(f"small upload {path}: {exc!r}")
                client.close()
                client = RotatingClient(server, tally, client.token)
                continue
            if offset != len(body):
                tally.fail(f"small upload {path}: offset {offset}")
    finally:
        client.close()


def big_worker(server: Running, count: int, tally: Tally, payload: Payload) -> None:
    """`count` big uploads, one PATCH each, checked and then deleted (DELETE with the rotated token)."""
    client = RotatingClient(server, tally)
    try:
        for _ in range(count):
            path = ""
            try:
                path = client.create(payload.size)
                with tally.lock:
                    tally.kept.add(upload_id(path))
                offset = client.patch(path, 0, payload.size, payload.pieces(0, payload.size))
                if offset != payload.size:
                    tally.fail(f"big upload {path}: offset {offset}")
                gone = client._send("DELETE", path, {})
                if gone.status != 204:
                    tally.fail(f"big upload {path}: DELETE {gone.status}")
                else:
                    with tally.lock:
                        tally.kept.discard(upload_id(path))
                        tally.deleted.add(upload_id(path))
            except Exception as exc:  # noqa: BLE001
                tally.fail(f"big upload {path}: {exc!r}")
                client.close()
                client = RotatingClient(server, tally, client.token)
    finally:
        client.close()


def run_phase(server: Running, small: int, big: int, in_flight: int, tally: Tally, payload: Payload) -> None:
    jobs: list[Callable[[], None]] = []
    body = os.urandom(SMALL_BYTES)
    for i in range(in_flight):
        share = small // in_flight + (1 if i < small % in_flight else 0)
        jobs.append(lambda share=share: small_worker(server, share, tally, body))  # type: ignore[misc]
    for i in range(2):
        share = big // 2 + (1 if i < big % 2 else 0)
        jobs.append(lambda share=share: big_worker(server, share, tally, payload))  # type: ignore[misc]
    with ThreadPoolExecutor(len(jobs)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def rss(server: Running) -> int:
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def resting_rss(server: Running) -> int:
    """RSS once the server has been idle for IDLE_S: what a dashboard shows between bursts. A busy
    server keeps freed heap pages for the next burst; after 2 s idle it hands them back (allocator.py),
    so an RSS read mid-burst measures the load, not a leak."""
    time.sleep(IDLE_S)
    return rss(server)


def fds(server: Running) -> int:
    return len(os.listdir(f"/proc/{server.proc.pid}/fd"))


def settled_fds(server: Running, start_fds: int, timeout: float = 30.0) -> int:
    """Descriptors once closed connections are noticed (polls; the machine may be slow)."""
    deadline = time.monotonic() + timeout
    count = fds(server)
    while count > start_fds and time.monotonic() < deadline:
        time.sleep(0.2)
        count = fds(server)
    return count


def leftovers(data_dir: Path, tally: Tally) -> list[str]:
    """Everything in the data directory that is not an upload kept or the tombstone of one deleted."""
    expected = {*tally.kept, *(f"{i}.info" for i in tally.kept), *(f"{i}.gone" for i in tally.deleted)}
    found: list[str] = []
    seen: set[str] = set()
    for entry in os.scandir(data_dir):
        if entry.is_dir():
            for inner in Path(entry.path).rglob("*"):
                # .locks/uploads.lock is the file locker's one long-lived byte-range lock file (made once)
                stray_lock = entry.name == ".locks" and inner.name != "uploads.lock"
                if stray_lock or inner.name.endswith(".tmp"):
                    found.append(str(inner.relative_to(data_dir)))
            continue
        seen.add(entry.name)
        if entry.name not in expected:
            found.append(entry.name)
    found.extend(f"missing {name}" for name in sorted(expected - seen) if not name.endswith(".gone"))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100_000, help="small uploads (POST + one PATCH)")
    parser.add_argument("--big", type=int, default=200, help="big uploads (deleted once checked)")
    parser.add_argument("--big-mib", type=int, default=64, help="size of each big upload in MiB")
    parser.add_argument("--in-flight", type=int, default=8, help="small uploads at once")
    parser.add_argument("--workdir", type=Path, help="where the data directory goes (default: a temporary one)")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="one more `serve` flag, e.g. --server-arg=--no-tune-malloc"
    )
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tusserver-soak-"))
    peer = tusserver_peer("--jwt-secret", SECRET, "--log-level", "warning", *args.server_arg)
    server = start(peer, workdir)
    tally = Tally()
    payload = Payload(args.big_mib * MiB, os.urandom(MiB))
    try:
        start_fds = fds(server)
        began = time.perf_counter()
        series: list[int] = []  # RSS after each tenth: a leak climbs steadily, a high-water mark levels off
        for tenth in range(10):
            small = args.small * (tenth + 1) // 10 - args.small * tenth // 10
            big = args.big * (tenth + 1) // 10 - args.big * tenth // 10
            run_phase(server, small, big, args.in_flight, tally, payload)
            series.append(resting_rss(server))
        seconds = time.perf_counter() - began
        rss_tenth, rss_end = series[0], series[-1]
        end_fds = settled_fds(server, start_fds)
        _, peak = server.stats()
        left = leftovers(server.data_dir, tally)
    finally:
        server.stop()

    growth = rss_end / rss_tenth if rss_tenth else float("inf")
    checks = [
        ("RSS end / after first tenth", f"{growth:.3f}", f"<= {RSS_GROWTH_LIMIT:.2f}", growth <= RSS_GROWTH_LIMIT),
        ("open fds start -> end", f"{start_fds} -> {end_fds}", "end <= start", end_fds <= start_fds),
        ("data dir leftovers", str(len(left)), "0", not left),
        ("failed uploads", str(len(tally.failures)), "0", not tally.failures),
    ]
    requests = 2 * args.small + 3 * args.big
    print(f"soak: {args.small} small x {SMALL_BYTES} B ({args.in_flight} in flight) + {args.big} x {args.big_mib} MiB, "
          f"auth on (rotated tokens); {seconds:.0f} s, {requests / seconds:.0f} requests/s")  # fmt: skip
    print(f"server RSS after first tenth {rss_tenth / MiB:.1f} MiB, at end {rss_end / MiB:.1f} MiB, "
          f"peak {peak / MiB:.1f} MiB")  # fmt: skip
    print("server RSS after each tenth (MiB): " + " ".join(f"{value / MiB:.1f}" for value in series))
    first = f" (first: {tally.relogins[0]})" if tally.relogins else ""
    print(f"re-logins after a 401: {len(tally.relogins)}{first}")
    print(f"{'check':<30} {'measured':>14} {'limit':>14}  result")
    for name, measured, limit, ok in checks:
        print(f"{name:<30} {measured:>14} {limit:>14}  {'ok' if ok else 'FAIL'}")
    for line in left[:10] + tally.failures[:10]:
        print("  " + line)
    return 0 if all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
