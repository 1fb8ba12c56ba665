"""bench/chart.py draws the README's benchmark picture from the table `make bench` writes."""

from __future__ import annotations

from pathlib import Path

from bench import chart

TABLE = """\
Command: `make bench` (`python bench/run.py --rounds 5`), run 2026-12-05 09:46 UTC.

| workload | server | MB/s or uploads/s | server CPU s/GiB | peak RSS MB | p99 s | CPU steal % | tusserver / server |
|---|---|---|---|---|---|---|---|
| 1 single stream (1 PATCH) | tusserver | 3176 (2270–3288) | 0.33 (0.31–0.34) | 41 (41–41) |  | 0 (0–0) |  |
| 1 single stream (1 PATCH) | limit: splice | 3371 (2339–3512) | 0.34 (0.32–0.36) | – |  | 0 (0–0) | 0.94 (0.71–1.39)x |
| 4 small (POST + 4 KiB PATCH) | @tus/server | 896 (841–1048) uploads/s | 353.36 | 124 (115–131) |  | 0 (0–0) | 1.20x |
"""


def test_every_ratio_of_the_table_becomes_a_bar(tmp_path: Path) -> None:
    assert chart.ratios(TABLE) == [
        ("1 single stream (1 PATCH)", "limit: splice", 0.94),
        ("4 small (POST + 4 KiB PATCH)", "@tus/server", 1.20),
    ]
    report, svg = tmp_path / "benchmarks.md", tmp_path / "images" / "benchmarks.svg"
    report.write_text(TABLE)
    chart.draw(report, svg)
    text = svg.read_text()
    assert text.startswith("<svg") and text.count("<rect") == 1 + 2  # the background and one bar per ratio
    assert "0.94x" in text and "1.20x" in text and "2026-12-05 09:46 UTC" in text


def test_the_recorded_chart_is_drawn_from_the_recorded_table() -> None:
    """docs/images/benchmarks.svg is what `make bench` last drew from docs/benchmarks.md (not edited by hand)."""
    docs = Path(__file__).resolve().parents[2] / "docs"
    expected = chart.render(chart.ratios((docs / "benchmarks.md").read_text()), "")
    drawn = (docs / "images" / "benchmarks.svg").read_text()
    bars = [line for line in expected.splitlines() if line.startswith("<rect x=")]
    assert bars and bars == [line for line in drawn.splitlines() if line.startswith("<rect x=")]
