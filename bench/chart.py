"""Draw the benchmark table of docs/benchmarks.md as an SVG bar chart (docs/images/benchmarks.svg).

`make bench` calls `draw()` after writing the report, so the picture in the README is always the
latest run. It reads the Markdown table rather than the run's objects so that it can also be redrawn
from a recorded run by hand: `python bench/chart.py docs/benchmarks.md docs/images/benchmarks.svg`.

What it shows: for each workload, tusserver's figure over each peer's (the ratio column, the median of
per-round ratios), as bars on a log scale around 1x. Ratios, not MB/s, because the machine is shared
and its absolute speed varies from run to run (see docs/benchmarks.md).

Plain SVG text: a chart of a dozen bars does not justify a plotting library as a dependency.
"""

from __future__ import annotations

import math
import re
import sys
from html import escape
from pathlib import Path

_ROW = re.compile(r"^\| (?P<workload>[^|]+) \| (?P<server>[^|]+) \|(?:[^|]*\|){5} (?P<ratio>[\d.]+)[^|]*x \|$")
_COLOURS = {"@tus/server": "#2f6fb0", "tuspyserver": "#8a5cb8", "limit": "#9a9a9a", "tusserver": "#3a8f4a"}
_BAR, _GAP, _LEFT, _WIDTH = 18, 10, 300, 820


def ratios(markdown: str) -> list[tuple[str, str, float]]:
    """(workload, peer, tusserver / peer) for every row of the table that has a ratio."""
    found = []
    for line in markdown.splitlines():
        match = _ROW.match(line.strip())
        if match:
            found.append((match["workload"].strip(), match["server"].strip(), float(match["ratio"])))
    return found


def render(rows: list[tuple[str, str, float]], title: str) -> str:
    """The SVG text: one bar per (workload, peer); 1x is the dashed line, right of it tusserver is ahead."""
    low = min([0.5] + [r for _, _, r in rows])
    high = max([8.0] + [r for _, _, r in rows])
    span = math.log(high) - math.log(low)
    plot = _WIDTH - _LEFT - 60

    def x(value: float) -> float:
        return _LEFT + plot * (math.log(value) - math.log(low)) / span

    height = 60 + len(rows) * (_BAR + _GAP) + len({w for w, _, _ in rows}) * (_BAR + 4) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{_WIDTH}" height="{height}" fill="white"/>',
        f'<text x="10" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
        '<text x="10" y="40" fill="#555">tusserver\'s speed over each peer\'s, median of per-round ratios '
        "(log scale; right of 1x tusserver is faster)</text>",
    ]
    y = 60
    last_workload = ""
    for workload, peer, ratio in rows:
        colour = next((c for name, c in _COLOURS.items() if peer.startswith(name)), "#777")
        if workload != last_workload:  # the workload's name on a line of its own, its peers' bars below
            out.append(f'<text x="10" y="{y + 13}" font-weight="bold">{escape(workload)}</text>')
            y += _BAR + 4
        last_workload = workload
        start, end = x(min(1.0, ratio)), x(max(1.0, ratio))
        out.append(f'<text x="{_LEFT - 8}" y="{y + 13}" text-anchor="end">{escape(peer)}</text>')  # noqa: E501
        out.append(f'<rect x="{start:.1f}" y="{y}" width="{max(end - start, 1):.1f}" height="{_BAR}" fill="{colour}"/>')
        out.append(f'<text x="{end + 5:.1f}" y="{y + 13}">{ratio:.2f}x</text>')
        y += _BAR + _GAP
    one = x(1.0)
    out.append(f'<line x1="{one:.1f}" y1="50" x2="{one:.1f}" y2="{y}" stroke="#000" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{one:.1f}" y="{y + 16}" text-anchor="middle">1x</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def draw(report: Path, svg: Path) -> None:
    text = report.read_text()
    run = re.search(r"run (\d{4}-\d\d-\d\d \d\d:\d\d UTC)", text)
    title = "make bench" + (f", {run.group(1)}" if run else "")
    svg.parent.mkdir(parents=True, exist_ok=True)
    svg.write_text(render(ratios(text), title))


if __name__ == "__main__":
    draw(Path(sys.argv[1]), Path(sys.argv[2]))
