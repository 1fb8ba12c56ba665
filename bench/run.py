"""`make bench`: tusserver against @tus/server and tuspyserver on this machine, interleaved in rounds.

    python bench/run.py [--rounds 5] [--quick] [--no-peers] [--output docs/benchmarks.md]
                        [--only 1 --only 4] [--peers-dir DIR]

`--only` keeps the workloads whose label starts with the given text (for an A/B run while working on
one path); `--peers-dir` installs the peers there once and reuses them on later runs.

Workload 4b is workload 4 with 64 clients and every server's data directory on `--disk-dir` (by
default bench/results/disk, in the checkout): a real file system, checked not to be tmpfs, where
creating and removing files costs what it costs in production (issue #28). Only tusserver and
@tus/server run it. `--baseline PYTHON` adds "tusserver (baseline)", served by another
installation's interpreter (an older checkout in its own venv), for a before/after in the same rounds.

Besides the peers, workload 1 runs against the machine's limit (bench/limit.py: the same bytes to
socat and to an os.splice receiver, no HTTP), workload 5a against two: one core's hashlib.sha256 and a
no-HTTP receiver that splices and hashes each acknowledged 8 MiB chunk as tusserver does (bench/limit.py
`splice-sha256`), and workload 6 is 2,000 slow clients at once
(bench/slow_clients.py; `--slow-clients N` and `--slow-seconds S` to size it).

Each (round, workload, server) gets a freshly started server, so peak RSS is per workload. The machine
is shared and noisy: what counts is the ratio tusserver/peer computed within each round, reported as
the median (and min–max) over rounds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import chart, workloads  # noqa: E402
from bench.limit import hashed_limit_peer, limit_peers, raw_chunked_sha256, raw_stream  # noqa: E402
from bench.peers import Peer, Running, install_peers, start, tusserver_peer  # noqa: E402
from bench.slow_clients import SlowResult, SlowRun, slow_clients  # noqa: E402
from bench.workloads import MiB, Payload, Result  # noqa: E402

T = TypeVar("T")

BENCH_SECRET = "bench-secret-that-is-long-enough-for-hs256"
SINGLE = "1 single stream (1 PATCH)"
SLOW = "6 slow clients"
CHECKED = "5a chunked + sha256 per PATCH"
HASHLIB = "limit: hashlib sha256"
HASHED_LIMIT = hashed_limit_peer()
SMALL_ON_DISK = "4b small on disk (64 x POST + 4 KiB PATCH)"
SMALL = "4 small (POST + 4 KiB PATCH)"
WORKERS = "tusserver --workers 2"
NOTES_MARKER = "<!-- notes below are kept by bench/run.py -->"


def mint(sub: str = "bench") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tusserver", "token", "--sub", sub, "--ttl", "30", "--jwt-secret", BENCH_SECRET],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: a smoke run")
    parser.add_argument("--no-peers", action="store_true", help="tusserver only (no npm/pip installs)")
    parser.add_argument("--output", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--chart", type=Path, default=Path("docs/images/benchmarks.svg"),
                        help="the SVG chart of the ratios, drawn from --output (the README shows it)")  # fmt: skip
    parser.add_argument("--only", action="append", default=[], help="workload label prefix (repeatable)")
    parser.add_argument("--peers-dir", type=Path, help="install peers here once and reuse them")
    parser.add_argument("--no-warm", action="store_true", help="do not warm memory before each timed run")
    parser.add_argument("--slow-clients", type=int, default=2000, help="uploads at once in workload 6")
    parser.add_argument("--slow-seconds", type=float, default=30.0, help="length of each upload in workload 6")
    parser.add_argument("--disk-dir", type=Path, default=Path(__file__).resolve().parent / "results" / "disk",
                        help="where workload 4b keeps every server's data (not tmpfs)")  # fmt: skip
    parser.add_argument("--baseline", help="the python of another tusserver installation, run as a peer")
    args = parser.parse_args()
    disk_fs = filesystem_of(args.disk_dir)
    if disk_fs in ("tmpfs", "ramfs"):
        parser.error(f"--disk-dir {args.disk_dir} is on {disk_fs}: workload 4b needs a real disk")
    rounds = 1 if args.quick else args.rounds
    workloads.WARM["enabled"] = not args.no_warm
    big = 64 * MiB if args.quick else 1024 * MiB
    each = 4 * MiB if args.quick else 16 * MiB
    uploads = 8 if args.quick else 64
    seconds = 3.0 if args.quick else 10.0
    slow = SlowRun(clients=200 if args.quick else args.slow_clients, seconds=5.0 if args.quick else args.slow_seconds)

    block = os.urandom(MiB)
    big_payload, each_payload, small_payload = Payload(big, block), Payload(each, block), Payload(4096, block)

    with tempfile.TemporaryDirectory(prefix="tusbench-") as tmp:
        workdir = Path(tmp)
        peers: list[Peer] = [] if args.no_peers else install_peers(args.peers_dir or workdir)
        if args.baseline:
            baseline = tusserver_peer()
            baseline.name, baseline.command[0] = "tusserver (baseline)", args.baseline
            baseline.cwd = Path(args.baseline).parent  # not this checkout: `-m` would import its tusserver
            peers.insert(0, baseline)
        ours = tusserver_peer()
        # Without auth every client is the same owner, and --max-unfinished (1000 by default) caps one owner.
        ours_open = tusserver_peer("--max-unfinished", "0")
        workers = tusserver_peer("--workers", "2")  # workload 4b only: what a busy host runs (README), not a default
        workers.name = WORKERS
        authed = tusserver_peer("--jwt-secret", BENCH_SECRET)
        Run = Callable[[Running], Result]
        blocks: list[list[tuple[str, Peer, Run]]] = []  # each server's workloads, run one after another
        for server in [ours, *peers]:
            plan: list[tuple[str, Peer, Run]] = [(SINGLE, server, lambda s: workloads.single_stream(s, big_payload))]
            if server is ours:  # the limit right after tusserver's single stream, no peer in between
                plan += [(SINGLE, raw, lambda s: raw_stream(s, big_payload)) for raw in limit_peers()]
            plan += [
                ("2 chunked (8 MiB PATCHes)", server, lambda s: workloads.chunked(s, big_payload)),
                (f"3 concurrent ({uploads} x {each // MiB} MiB)", server,
                 lambda s: workloads.concurrent(s, each_payload, uploads)),
                (SMALL, server, lambda s: workloads.small(s, small_payload, 32, seconds)),
                *([(SMALL_ON_DISK, server, lambda s: workloads.small(s, small_payload, 64, seconds))]
                  if server.name != "tuspyserver" else []),
                (f"{SLOW} ({slow.clients} x {slow.rate // 1024} KiB/s, {slow.seconds:.0f} s)",
                 ours_open if server is ours else server, lambda s: slow_clients(s, each_payload, slow)),
            ]  # fmt: skip
            blocks.append(plan)
        blocks.insert(1, [(SMALL_ON_DISK, workers, lambda s: workloads.small(s, small_payload, 64, seconds))])
        tail: list[tuple[str, Peer, Run]] = [
            (CHECKED, ours, lambda s: workloads.chunked(s, big_payload, checksum=True)),
            # Its hashed-transfer limit right after it (and hashlib's rate, taken in between), as workload 1's.
            (CHECKED, HASHED_LIMIT, lambda s: raw_chunked_sha256(s, big_payload)),
            ("5b single stream, auth on", authed, lambda s: workloads.single_stream(s, big_payload, token=mint())),
            ("5c chunked, auth + rotation", authed, lambda s: workloads.chunked(s, big_payload, token=mint())),
        ]
        if args.only:
            blocks = [[step for step in block if step[0].startswith(tuple(args.only))] for block in blocks]
            tail = [step for step in tail if step[0].startswith(tuple(args.only))]
        results: dict[tuple[str, str], list[Result]] = defaultdict(list)
        disk = args.disk_dir / f"run-{os.getpid()}"
        disk.mkdir(parents=True, exist_ok=True)
        for round_number in range(rounds):
            for workload, peer, run in rotated(blocks, round_number) + tail:
                running = start(peer, disk if workload == SMALL_ON_DISK else workdir)
                try:
                    result = run(running)
                finally:
                    # On a journal-less ext4 (this machine's) each create reads past every inode of its group
                    # freed in the last 60 s, 360 s while the inode table block is dirty (`recently_deleted`):
                    # removing thousands of small files just before the next run (the next server's, or the
                    # same server's 4b right after its 4, billing the faster server more) would bill it for
                    # them. They go when the whole run is done.
                    running.stop(keep_data=workload in (SMALL, SMALL_ON_DISK))
                label = peer.name if peer is not authed else "tusserver (auth)"
                results[(workload, label)].append(result)
                print(f"round {round_number + 1}/{rounds}  {workload:34s} {label:18s} {describe(workload, result)}",
                      flush=True)  # fmt: skip
                if workload == CHECKED and peer is ours:  # the other limit of a hashed PATCH: one core's sha256
                    results[(workload, HASHLIB)].append(hashlib_rate(big_payload))
        shutil.rmtree(disk, ignore_errors=True)
        report = render(results, peers, rounds, args)
        report += (
            f"\nWorkload 4b's data directory: {args.disk_dir} ({disk_fs}); the others': {workdir} "
            f"({filesystem_of(workdir)}).\n"
        )
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    notes = ""  # what follows the marker was written by hand: keep it
    if args.output.exists() and NOTES_MARKER in (old := args.output.read_text()):
        notes = "\n" + old[old.index(NOTES_MARKER) :]
    args.output.write_text(report + notes)
    chart.draw(args.output, args.chart)
    return 0


def hashlib_rate(payload: Payload) -> Result:
    """hashlib.sha256 over the same 1 MiB buffers in this process: what one core can hash, the ceiling of a
    checksummed PATCH (issue #28: >= 0.85x of it). Its CPU is the whole time, one core."""
    digest = hashlib.sha256()
    started = time.perf_counter()
    for piece in payload.pieces(0, payload.size):
        digest.update(piece)
    seconds = time.perf_counter() - started
    return Result(seconds, bytes=payload.size, uploads=1, cpu_s=seconds)


def describe(workload: str, result: Result) -> str:
    main_figure = (
        f"{result.uploads_per_s:8.0f} uploads/s" if workload.startswith("4") else f"{result.mb_per_s:8.0f} MB/s"
    )
    return f"{main_figure}  cpu {result.cpu_per_gib:5.2f} s/GiB  rss {result.peak_rss / 1e6:5.1f} MB"


def _figure(workload: str, result: Result) -> float:
    return result.uploads_per_s if workload.startswith("4") else result.mb_per_s


def _span(values: list[float], fmt: str = "{:.0f}") -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def replace_section(path: Path, section: str) -> None:
    """Put `section` (starting with its `## ` heading) into the report at `path`, replacing the section of that
    heading if there is one, else at the end: bench/s3.py and bench/clouds.py each keep one section there."""
    heading = section.splitlines()[0]
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def rotated(blocks: list[list[T]], round_number: int) -> list[T]:
    """The servers' blocks in this round's order: each round starts one server later.

    A fixed order billed whoever ran first in a round for what the round before left behind (dirty
    pages written back, inodes freed in the allocator's window): two copies of the same tusserver in
    one round, first and second, did 997 and 1,366 uploads/s on workload 4b (2026-12-07). Rotating
    gives each server each place equally often over as many rounds as there are servers.
    """
    shift = round_number % max(1, len(blocks))
    return [step for block in blocks[shift:] + blocks[:shift] for step in block]


def render(
    results: dict[tuple[str, str], list[Result]], peers: list[Peer], rounds: int, args: argparse.Namespace
) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Command: `make bench` (`python bench/run.py --rounds {rounds}{' --quick' if args.quick else ''}"
        f"{' --no-peers' if args.no_peers else ''}{' --no-warm' if args.no_warm else ''}`), "
        f"run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"Machine: {os.cpu_count()} cores, {_memory()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, Node {_node_version()}. Peers: "
        + (", ".join(f"{p.name} {p.version}" for p in peers) or "none")
        + ".",
        "Servers run with their defaults, one process each (but the `tusserver --workers 2` row), on loopback; every "
        "(round, workload, server) gets a fresh server, and each round starts one server later than the one before."
        " Before every timed run the harness syncs the disk (`settle_disk`)."
        " Figures are medians over rounds with min–max; ratios are computed within each round, then the "
        "median taken, because the machine is shared and noisy."
        + (
            ""
            if args.no_warm
            else " Before each timed bulk run the harness touches and frees as much memory as the run will write, "
            "so no server pays this VM's cost of refilling memory handed back to the host "
            "(`warm_memory` in bench/workloads.py says why; `--no-warm` turns it off)."
        ),
        "",
        "| workload | server | MB/s or uploads/s | server CPU s/GiB | peak RSS MB | p99 s | CPU steal % | "
        "tusserver / server |",
        "|---|---|---|---|---|---|---|---|",
    ]
    workload_names = sorted({w for w, _ in results})
    for workload in workload_names:
        ours = results.get((workload, "tusserver")) or results.get((workload, "tusserver (auth)"))
        for (w, label), runs in results.items():
            if w != workload:
                continue
            figures = [_figure(w, r) for r in runs]
            unit = " uploads/s" if w.startswith("4") else ""
            ratio = ""
            if ours and not label.startswith("tusserver"):
                ratio = _span([_figure(w, a) / _figure(w, b) for a, b in zip(ours, runs, strict=False)], "{:.2f}") + "x"
            p99 = _span([r.p99_s for r in runs], "{:.2f}") if runs[0].latencies else ""
            steal = _span([r.steal * 100 for r in runs])
            rss = _span([r.peak_rss / 1e6 for r in runs], "{:.0f}") if runs[0].peak_rss else "–"
            lines.append(
                f"| {w} | {label} | {_span(figures)}{unit} | {_span([r.cpu_per_gib for r in runs], '{:.2f}')} | "
                f"{rss} | {p99} | {steal} | {ratio} |"
            )
    lines.append("")  # the table ends here: a summary line right below it would be read as one more row
    single = results.get((SINGLE, "tusserver"), [])
    checked = results.get((CHECKED, "tusserver"), [])
    plain = results.get(("2 chunked (8 MiB PATCHes)", "tusserver"), [])
    if checked and plain:
        cost = [1 - a.mb_per_s / b.mb_per_s for a, b in zip(checked, plain, strict=False)]
        lines += [f"sha256 on every 8 MiB PATCH costs {_span([c * 100 for c in cost])} % of chunked speed."]
    lines += _checked_summary(checked, results)
    if single:
        lines += [f"Single stream server CPU: {_span([r.cpu_per_gib for r in single], '{:.2f}')} s per GiB."]
    limits = [runs for (w, label), runs in results.items() if w == SINGLE and label.startswith("limit:")]
    if single and limits:
        best = [max(r.mb_per_s for r in in_round) for in_round in zip(*limits, strict=False)]
        share = [ours.mb_per_s / limit for ours, limit in zip(single, best, strict=False)]
        lines += [
            f"Single stream as a share of the limit (the faster no-HTTP receiver of the same round, "
            f"{_span(best)} MB/s): {_span(share, '{:.2f}')}x."
        ]
    lines += _workers_summary(results)
    lines += _slow_summary(results)
    return "\n".join(lines) + "\n"


def _workers_summary(results: dict[tuple[str, str], list[Result]]) -> list[str]:
    """Workload 4b with `--workers 2` against the peers, per round (its row has no ratio: it is tusserver)."""
    several = results.get((SMALL_ON_DISK, WORKERS), [])
    lines = []
    for (w, label), runs in results.items():
        if w == SMALL_ON_DISK and several and not label.startswith("tusserver"):
            share = [a.uploads_per_s / b.uploads_per_s for a, b in zip(several, runs, strict=False)]
            lines.append(f"Small uploads on disk, {WORKERS} / {label}: {_span(share, '{:.2f}')}x (same round).")
    return lines


def _checked_summary(checked: list[Result], results: dict[tuple[str, str], list[Result]]) -> list[str]:
    """Workload 5a against its two limits, per round: one core's hashlib.sha256 (the hash alone), and the
    splice + sha256 receiver with no HTTP (the hash beside the transfer, on the cores the client shares)."""
    shares = []
    for label, what in ((HASHLIB, "one core's hashlib.sha256"),
                        (HASHED_LIMIT.name, "the hashed chunked transfer with no HTTP (splice + sha256)")):  # fmt: skip
        limit = results.get((CHECKED, label), [])
        if checked and limit:
            share = [a.mb_per_s / b.mb_per_s for a, b in zip(checked, limit, strict=False)]
            shares.append(f"{what}, {_span([b.mb_per_s for b in limit])} MB/s: {_span(share, '{:.2f}')}x")
    return [f"Chunked + sha256 as a share of {'; of '.join(shares)} (same round)."] if shares else []


def _slow_summary(results: dict[tuple[str, str], list[Result]]) -> list[str]:
    """Workload 6 in words: completions, and tusserver's RSS and CPU against the better peer's, per round."""
    lines: list[str] = []
    slow = {label: runs for (w, label), runs in results.items() if w.startswith(SLOW)}
    for label, runs in slow.items():
        done = [r for r in runs if isinstance(r, SlowResult)]
        completed = ", ".join(f"{r.completed}/{r.clients}" for r in done)
        errors = sorted({e for r in done for e in r.errors})[:3]
        lines.append(f"Slow clients, {label}: uploads completed per round {completed}" +
                     (f"; errors seen: {'; '.join(errors)}" if errors else "") + ".")  # fmt: skip
    ours, peers = slow.get("tusserver"), [runs for label, runs in slow.items() if label != "tusserver"]
    if ours and peers:
        rss = [a.peak_rss / min(p.peak_rss for p in group) for a, *group in zip(ours, *peers, strict=False)]
        cpu = [a.cpu_per_gib / min(p.cpu_per_gib for p in group) for a, *group in zip(ours, *peers, strict=False)]
        lines.append(
            f"Slow clients, tusserver / the better peer: peak RSS {_span(rss, '{:.2f}')}x, "
            f"CPU per GiB {_span(cpu, '{:.2f}')}x."
        )
    return [""] + lines if lines else []


def filesystem_of(path: Path) -> str:
    """The type of the file system `path` is (or would be) on, from /proc/self/mountinfo."""
    path = path.resolve()
    while not path.exists():
        path = path.parent
    best, kind = "", "?"
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        mount_point, fs_type = fields[4], fields[fields.index("-") + 1]
        inside = str(path) == mount_point or str(path).startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, kind = mount_point, fs_type
    return kind


def _memory() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024**2:.0f} GiB RAM"
    return "? RAM"


def _node_version() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        return "not installed"


if __name__ == "__main__":
    raise SystemExit(main())
