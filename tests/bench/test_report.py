"""bench/run.py's report: workload 5a as a share of both its limits, computed within each round."""

from __future__ import annotations

import argparse

from bench import chart
from bench.run import CHECKED, HASHED_LIMIT, HASHLIB, render
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
