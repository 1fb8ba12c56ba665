"""`tusserver upload --protocol ietf`: the draft (interop 8) with tokens rotating every 2 s, a client
killed and run again, and a server killed -9 mid-append; bytes verified each time. The server's metrics
tell which protocol answered: a draft HEAD answers 204, a tus HEAD 200."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.client.helpers import (
    MiB,
    body_bytes_received,
    download_sha256,
    mint,
    random_file,
    sha256_file,
    token_command,
)  # fmt: skip
from tests.client.test_cli import kill_when_sent, upload
from tests.support import LiveServer, wait_for


def requests_seen(server: LiveServer, method: str, status: int) -> float:
    text = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {mint()}"}).text
    pattern = rf'^tusserver_request_seconds_count{{method="{method}",status="{status}"}} ([0-9.e+]+)$'
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


def command(source: Path, server: LiveServer, tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tusserver", "upload", str(source), "--endpoint", server.endpoint,
            "--protocol", "ietf", "--token-command", token_command(), "--chunk-size", "1M",
            "--resume-file", str(tmp_path / "resume.json"), *extra]  # fmt: skip


def test_client_killed_then_resumed_with_rotating_tokens(rotating: LiveServer, tmp_path: Path) -> None:
    source = random_file(tmp_path / "twentyfour.bin", 24 * MiB)
    args = command(source, rotating, tmp_path, "--limit-rate", "8M", "--checksum", "sha256")
    kill_when_sent(args, rotating, 8 * MiB)
    second = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    url = second.stdout.strip().splitlines()[-1]
    assert download_sha256(url, mint()) == sha256_file(source)
    assert re.search(r"resuming at \d+ of 25165824 bytes", second.stderr), second.stderr
    assert body_bytes_received(rotating.url, mint()) < 1.2 * 24 * MiB  # the stored bytes were not sent again
    assert requests_seen(rotating, "HEAD", 204) >= 1  # the resume asked the draft's way
    assert requests_seen(rotating, "HEAD", 200) == 0  # and never tus's


def test_server_killed_mid_append_loses_nothing(rotating: LiveServer, tmp_path: Path) -> None:
    source = random_file(tmp_path / "sixteen.bin", 16 * MiB)
    client = subprocess.Popen(
        command(source, rotating, tmp_path, "--limit-rate", "4M"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: body_bytes_received(rotating.url, mint()) >= 6 * MiB, timeout=60, what="6 MiB sent")
        rotating.kill()  # SIGKILL, in the middle of an append
        rotating.start()
        out, err = client.communicate(timeout=120)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(10)
    assert client.returncode == 0, err
    url = out.decode().strip().splitlines()[-1]
    assert download_sha256(url, mint()) == sha256_file(source)
    assert requests_seen(rotating, "HEAD", 204) >= 1 and requests_seen(rotating, "HEAD", 200) == 0


def test_options_the_draft_cannot_take(server: LiveServer, tmp_path: Path) -> None:
    source = random_file(tmp_path / "one.bin", MiB)
    for extra, reason in ((["--parallel", "2"], "--parallel needs --protocol tus"), (["--checksum", "md5"], "md5")):
        done = upload(str(source), "--endpoint", server.endpoint, "--protocol", "ietf", "--no-resume", *extra)
        assert done.returncode == 2 and reason in done.stderr, done.stderr
