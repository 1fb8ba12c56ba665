"""bench/run.py's report: workload 5a as a share of both its limits, computed within each round."""

from __future__ import annotations

import argparse

from bench import chart
from bench.run import CHECKED, HASHED_LIMIT, HASHLIB, SMALL_ON_DISK, WORKERS, render, rotated
from bench.workloads import Result

GIB = 1024**3


def rate(mb_per_s: float) -> Result:
    return Result(GIB / (mb_per_s * 1e6), bytes=GIB, uploads=1, cpu_s=1.0)


def test_chunked_sha256_is_reported_against_hashlib_and_the_hashed_transfer_limit() -> None:
    results = {
        (CHECKED, "tusserver"): [rate(800), rate(900)],
        (CHECKED, HASHLIB): [rate(1600), rate(1800)],
        (CHECKED, HASHED_LIMIT.name): [rate(1000), rate(900)],
    }
    args = argparse.Namespace(quick=False, no_peers=True, no_warm=False)
    report = render(results, [], 2, args)
    assert "|\n\nChunked + sha256 as a share" in report  # a paragraph of its own, not one more row of the table
    assert (
        "Chunked + sha256 as a share of one core's hashlib.sha256, 1700 (1600–1800) MB/s: 0.50 (0.50–0.50)x; "
        "of the hashed chunked transfer with no HTTP (splice + sha256), 950 (900–1000) MB/s: 0.90 (0.80–1.00)x "
        "(same round)." in report
    )
    assert (CHECKED, "limit: splice + sha256", 0.90) in chart.ratios(report)  # a bar of the chart


def uploads(per_s: float) -> Result:
    return Result(10.0, bytes=4096 * int(per_s * 10), uploads=int(per_s * 10), cpu_s=1.0)


def test_each_round_starts_one_server_later() -> None:
    blocks = [["ours-1", "ours-4b"], ["workers-4b"], ["node-1", "node-4b"]]
    orders = [rotated(blocks, round_number) for round_number in range(3)]
    assert orders[0] == ["ours-1", "ours-4b", "workers-4b", "node-1", "node-4b"]
    assert orders[1] == ["workers-4b", "node-1", "node-4b", "ours-1", "ours-4b"]
    assert orders[2] == ["node-1", "node-4b", "ours-1", "ours-4b", "workers-4b"]
    first = [order[0].split("-")[0] for order in orders]
    assert sorted(first) == ["node", "ours", "workers"]  # every server opens a round once in three


def test_workers_row_is_compared_with_the_peers_not_with_tusserver() -> None:
    results = {
        (SMALL_ON_DISK, "tusserver"): [uploads(1000), uploads(900)],
        (SMALL_ON_DISK, WORKERS): [uploads(1400), uploads(1200)],
        (SMALL_ON_DISK, "@tus/server"): [uploads(700), uploads(600)],
    }
    report = render(results, [], 2, argparse.Namespace(quick=False, no_peers=False, no_warm=False))
    assert f"Small uploads on disk, {WORKERS} / @tus/server: 2.00 (2.00–2.00)x (same round)." in report
    bars = chart.ratios(report)
    assert (SMALL_ON_DISK, "@tus/server", 1.46) in [(w, p, round(r, 2)) for w, p, r in bars]
    assert not [bar for bar in bars if bar[1] == WORKERS]  # tusserver over itself would be no comparison
