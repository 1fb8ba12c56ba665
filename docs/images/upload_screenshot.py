"""`tusserver upload` in a terminal, as docs/images/upload-terminal.svg in the README (`make docs-images`).

Runs a throttled upload of a fresh file twice in a tmux pane of 120 columns (the first run killed midway,
the second resuming it), captures the pane while the second run's tqdm bar is drawn, and writes it as a
small SVG: one <text> per line, so it stays sharp and a few KB. Needs tmux and the [client] extra.
Usage: python upload_screenshot.py ENDPOINT OUT.svg
"""

from __future__ import annotations

import html
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WIDTH, HEIGHT = 120, 9
SESSION = f"tusserver-shot-{os.getpid()}"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def pane() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_for(text: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = pane()
        if text in shown:
            return shown
        time.sleep(0.2)  # polling a terminal we do not own the output of
    raise SystemExit(f"never showed {text!r}:\n{pane()}")


def wait_for_prompt(timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [line for line in pane().splitlines() if line.strip()]
        if lines and lines[-1].strip() == "$":
            return
        time.sleep(0.1)  # polling a terminal we do not own the output of
    raise SystemExit(f"no prompt:\n{pane()}")


def render_svg(lines: list[str]) -> str:
    char_w, line_h, pad = 8.4, 18, 12
    width = int(WIDTH * char_w + 2 * pad)
    height = int(len(lines) * line_h + 2 * pad)
    rows = []
    for index, line in enumerate(lines):
        y = pad + (index + 1) * line_h - 5
        colour = "#8ae234" if line.startswith("$") else "#eeeeec"
        rows.append(f'<text x="{pad}" y="{y}" fill="{colour}" xml:space="preserve">{html.escape(line)}</text>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" '
        f'font-size="14">\n<rect width="100%" height="100%" rx="6" fill="#2e3436"/>\n' + "\n".join(rows) + "\n</svg>\n"
    )


def main(endpoint: str, out: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="tusserver-shot-"))
    (work / "holiday-video.mp4").write_bytes(os.urandom(48 * 1024 * 1024))
    command = f"tusserver upload holiday-video.mp4 --endpoint {endpoint} --limit-rate 6M"
    tmux("new-session", "-d", "-s", SESSION, "-x", str(WIDTH), "-y", str(HEIGHT), "-c", str(work),
         "env", f"PATH={Path(sys.executable).parent}:{os.environ['PATH']}", f"XDG_CACHE_HOME={work}", "PS1=$ ",
         "bash", "--norc")  # fmt: skip
    try:
        wait_for_prompt()
        tmux("send-keys", "-t", SESSION, "stty -echoctl; clear", "Enter")  # no ^C drawn on the bar
        wait_for_prompt()
        tmux("send-keys", "-t", SESSION, command, "Enter")
        wait_for("MB/s")
        time.sleep(3)  # let the first run get well into the file before it is cut
        tmux("send-keys", "-t", SESSION, "C-c", "")
        wait_for("interrupted")
        wait_for_prompt()
        tmux("send-keys", "-t", SESSION, command, "Enter")
        wait_for("resuming at")
        time.sleep(2)  # the bar moves a while with its rate (bytes of this run only)
        shown = [line.rstrip() for line in pane().splitlines()]
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], check=False)
    while shown and not shown[-1]:
        shown.pop()
    out.write_text(render_svg(shown))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
