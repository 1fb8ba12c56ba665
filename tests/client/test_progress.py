"""Progress without a terminal: periodic lines with this run's rate, events in words, one summary line."""

from __future__ import annotations

import re

import pytest

from tusserver.client.progress import Progress


def test_a_fast_upload_prints_only_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress("fast.bin", 3 * 1024 * 1024)
    for _ in range(3):
        progress.advance(1024 * 1024)
    progress.summary()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines  # before: a lone "0% ... ETA 0 s" line and no end
    assert re.fullmatch(r"fast\.bin: 3\.0 MiB stored in [\d.]+ s, [\d.]+ (KiB|MiB|GiB)/s", lines[0]), lines


def test_periodic_lines_and_a_rate_that_leaves_out_stored_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress("big.bin", 100 * 1024 * 1024, log_every_s=0)
    progress.resume_from(90 * 1024 * 1024)
    progress._started -= 10  # ten seconds into this run
    progress.advance(1024 * 1024)
    line = capsys.readouterr().err.strip()
    assert line.startswith("big.bin: 91.0 MiB of 100.0 MiB (91%), ")
    rate = float(re.search(r"\), ([\d.]+) KiB/s", line).group(1))  # type: ignore[union-attr]
    assert 95 < rate < 110  # 1 MiB in 10 s; counting the 90 MiB already stored would say 9.1 MiB/s
    progress.summary()
    summary = capsys.readouterr().err
    assert "10.0 MiB sent by this run (90.0 MiB were already there)" in summary


def test_events_are_said_and_quiet_says_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    Progress("a.bin", 10).say("retrying in 1.0 s")
    assert capsys.readouterr().err == "a.bin: retrying in 1.0 s\n"
    quiet = Progress("a.bin", 10, quiet=True)
    quiet.say("retrying in 1.0 s")
    quiet.advance(10)
    quiet.summary()
    assert capsys.readouterr().err == ""
