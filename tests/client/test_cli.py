"""`tusserver upload` against a real server whose tokens live 2 s, throttled to outlive many of them."""

from __future__ import annotations

import os
import re
import signal
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
from tests.support import TUS, LiveServer, wait_for


def upload(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tusserver", "upload", *args], capture_output=True, text=True, timeout=timeout
    )


def test_fifty_mib_with_rotating_tokens(rotating: LiveServer, tmp_path: Path) -> None:
    """Throttled to ~5 MB/s: the upload (~10 s) outlives its first token (4 s: enough for the client to start
    on a busy machine) and many 2 s rotated ones, with only the first token given."""
    source = random_file(tmp_path / "fifty.bin", 50 * MiB)
    done = upload(str(source), "--endpoint", rotating.endpoint, "--token", mint(ttl=4), "--chunk-size", "2M",
                  "--limit-rate", "5M", "--resume-file", str(tmp_path / "resume.json"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip().splitlines()[-1]
    assert url.startswith(rotating.endpoint)
    assert download_sha256(url, mint()) == sha256_file(source)
    # Not a terminal: a plain line every few seconds while it runs (~6 s here), then one summary line.
    lines = done.stderr.strip().splitlines()
    assert any(re.search(r"MiB of 50\.0 MiB \(\d+%\), [\d.]+ MiB/s, ETA \d+ s$", line) for line in lines), lines
    assert re.fullmatch(r"fifty\.bin: 50\.0 MiB stored in [\d.]+ s, [\d.]+ MiB/s", lines[-1]), lines[-1]


def test_parallel_with_checksums(rotating: LiveServer, tmp_path: Path) -> None:
    source = random_file(tmp_path / "twenty.bin", 20 * MiB + 3)
    # through the shell, as the help says: a pipe works
    done = upload(str(source), "--endpoint", rotating.endpoint, "--token-command", token_command() + " | cat",
                  "--parallel", "4", "--checksum", "sha1", "--chunk-size", "1M", "--limit-rate", "6M",
                  "--metadata", "kind=test", "--resume-file", str(tmp_path / "resume.json"), "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip().splitlines()[-1]
    head = httpx.head(url, headers={**TUS, "Authorization": f"Bearer {mint()}"})
    assert head.headers["Upload-Concat"].startswith("final;") and len(head.headers["Upload-Concat"].split()) == 4
    assert "kind" in head.headers["Upload-Metadata"]
    assert download_sha256(url, mint()) == sha256_file(source)
    assert done.stderr == ""  # --quiet


def test_sigkill_then_resume_sends_little_twice(rotating: LiveServer, tmp_path: Path) -> None:
    source = random_file(tmp_path / "thirtytwo.bin", 32 * MiB)
    resume = tmp_path / "resume.json"
    args = [sys.executable, "-m", "tusserver", "upload", str(source), "--endpoint", rotating.endpoint,
            "--token-command", token_command(), "--chunk-size", "1M", "--limit-rate", "10M",
            "--resume-file", str(resume)]  # fmt: skip
    kill_when_sent(args, rotating, 12 * MiB)
    assert resume.exists()  # the upload URL was recorded before the bytes
    second = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    url = second.stdout.strip().splitlines()[-1]
    assert download_sha256(url, mint()) == sha256_file(source)
    total = body_bytes_received(rotating.url, mint())
    assert total < 1.2 * 32 * MiB, total / MiB
    assert re.search(r"resuming at \d+ of 33554432 bytes \(\d+%\)", second.stderr), second.stderr
    # The rate counts what this run sent, never the bytes the first run had stored.
    # Units follow the size (a loaded machine may let the first run send all but a few hundred KiB).
    pattern = r"([\d.]+) (KiB|MiB) sent by this run \(([\d.]+) (KiB|MiB) were already there\), ([\d.]+) MiB/s"
    summary = re.search(pattern, second.stderr)
    assert summary, second.stderr
    scale = {"KiB": 1 / 1024, "MiB": 1.0}
    sent = float(summary.group(1)) * scale[summary.group(2)]
    already = float(summary.group(3)) * scale[summary.group(4)]
    rate = float(summary.group(5))
    assert already >= 11 and abs(sent + already - 32) < 0.2
    assert rate < 12  # --limit-rate 10M: counting the stored bytes would show far more


def kill_when_sent(args: list[str], server: LiveServer, sent: int) -> None:
    """Run the client until the server has received `sent` body bytes, then SIGKILL it."""
    client = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        token = mint(ttl=600)  # once, after the client started: minting is a subprocess, slow on a busy machine
        wait_for(lambda: client.poll() is not None or body_bytes_received(server.url, token) >= sent, timeout=60,
                 what=f"{sent} bytes sent")  # fmt: skip
        assert client.poll() is None, f"the client ended before it could be killed: {client.communicate()}"
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait(10)


def test_dedup_second_upload_sends_nothing(rotating: LiveServer, tmp_path: Path) -> None:
    source = random_file(tmp_path / "eight.bin", 8 * MiB)
    common = ["--endpoint", rotating.endpoint, "--token-command", token_command(), "--dedup", "--quiet",
              "--no-resume"]  # fmt: skip
    first = upload(str(source), *common)
    assert first.returncode == 0, first.stderr
    before = body_bytes_received(rotating.url, mint())
    second = upload(*[a for a in (str(source), *common, "--parallel", "2") if a != "--quiet"])
    assert second.returncode == 0, second.stderr
    assert body_bytes_received(rotating.url, mint()) == before
    assert "already on the server: nothing to send" in second.stderr
    assert second.stdout.strip() != first.stdout.strip()
    assert download_sha256(second.stdout.strip(), mint()) == sha256_file(source)


def test_several_files_and_exit_codes(server: LiveServer, tmp_path: Path) -> None:
    a = random_file(tmp_path / "a.bin", 1000)
    b = random_file(tmp_path / "b.bin", 0)
    done = upload(str(a), str(b), "--endpoint", server.endpoint, "--no-resume", "--quiet")
    assert done.returncode == 0, done.stderr
    urls = done.stdout.strip().splitlines()
    assert len(urls) == 2 and httpx.get(urls[0]).content == a.read_bytes() and httpx.get(urls[1]).content == b""
    missing = upload(str(tmp_path / "nope"), "--endpoint", server.endpoint)
    assert missing.returncode == 2
    refused = upload(str(a), "--endpoint", server.endpoint + "../nowhere/", "--no-resume", "--quiet", "--retries", "0")
    assert refused.returncode == 1


def test_refused_token_without_a_command_exits_3(rotating: LiveServer, tmp_path: Path) -> None:
    a = random_file(tmp_path / "a.bin", 1000)
    done = upload(str(a), "--endpoint", rotating.endpoint, "--token", "not-a-jwt", "--no-resume", "--quiet")
    assert done.returncode == 3
    assert "refused" in done.stderr


def test_no_token_says_how_to_give_one(rotating: LiveServer, tmp_path: Path) -> None:
    a = random_file(tmp_path / "a.bin", 1000)
    env = {k: v for k, v in os.environ.items() if k != "TUSSERVER_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "tusserver", "upload", str(a), "--endpoint", rotating.endpoint,
                           "--no-resume"], capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert done.returncode == 3
    assert "the server needs a token: pass --token or --token-command" in done.stderr
    assert "Bearer" not in done.stderr


def test_python_api_with_progress(server: LiveServer, tmp_path: Path) -> None:
    from tusserver.client import UploadOptions, upload_file

    source = random_file(tmp_path / "api.bin", 3 * MiB)
    seen: list[tuple[int, int]] = []
    options = UploadOptions(chunk_size=MiB, resume=False, progress=lambda done, total: seen.append((done, total)))
    url = upload_file(source, server.endpoint, options)
    assert httpx.get(url).content == source.read_bytes()
    assert seen[-1] == (3 * MiB, 3 * MiB) and len(seen) >= 3


def test_parallel_sigkill_then_resume_keeps_every_part(rotating: LiveServer, tmp_path: Path) -> None:
    """The resumed run HEADs every part with its one (owner-scoped) token and sends only what is missing.

    Counted by the server's own body-byte counter (`/metrics`): were a part's HEAD refused, the client
    would start that part again and the server would get well over 1.2x the file.
    """
    source = random_file(tmp_path / "twentyfour.bin", 24 * MiB)
    resume = tmp_path / "resume.json"
    args = [sys.executable, "-m", "tusserver", "upload", str(source), "--endpoint", rotating.endpoint,
            "--token", mint(), "--parallel", "4", "--chunk-size", "1M", "--limit-rate", "4M",
            "--resume-file", str(resume), "--quiet"]  # fmt: skip
    kill_when_sent(args, rotating, 12 * MiB)
    args[args.index("--token") + 1] = mint()
    second = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    url = second.stdout.strip().splitlines()[-1]
    assert download_sha256(url, mint()) == sha256_file(source)
    total = body_bytes_received(rotating.url, mint())
    assert total < 1.2 * 24 * MiB, total / MiB


def test_server_killed_midway_client_retries_and_finishes(rotating: LiveServer, tmp_path: Path) -> None:
    """Connection refused while the server is down: back-off, then HEAD and go on (with a new token if needed).

    Killed after 4 MiB of 16 at 2 MB/s: some 6 s of upload left, so a slow poll on a busy machine still
    finds it running."""
    source = random_file(tmp_path / "sixteen.bin", 16 * MiB)
    args = [sys.executable, "-m", "tusserver", "upload", str(source), "--endpoint", rotating.endpoint,
            "--token-command", token_command(), "--chunk-size", "1M", "--limit-rate", "2M",
            "--resume-file", str(tmp_path / "resume.json")]  # fmt: skip
    token = mint(ttl=600)
    client = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: body_bytes_received(rotating.url, token) >= 4 * MiB, timeout=60, what="4 MiB sent")
        assert client.poll() is None, "finished before the server could be killed"
        rotating.kill()
        rotating.start()
        out, err = client.communicate(timeout=120)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(10)
    assert client.returncode == 0, err
    url = out.strip().splitlines()[-1]
    assert download_sha256(url, mint()) == sha256_file(source)
    assert re.search(r"(cannot connect to the server|PATCH failed: .*); retrying in [\d.]+ s", err), err


def test_a_patch_cut_by_another_request_resumes_where_the_server_stopped(server: LiveServer, tmp_path: Path) -> None:
    """Another request for the upload cuts the client's PATCH: the server keeps the bytes and answers 400
    (as tusd does); the client reads the offset with HEAD and goes on instead of giving up."""
    source = random_file(tmp_path / "eight.bin", 8 * MiB)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tusserver", "upload", str(source), "--endpoint", server.endpoint,
         "--chunk-size", "8M", "--limit-rate", "2M", "--resume-file", str(tmp_path / "resume.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        data = wait_for(
            lambda: next((p for p in server.data_dir.glob("*.info") if p.with_suffix("").stat().st_size > 0), None),
            timeout=60, what="the first bytes on disk",
        )  # fmt: skip
        url = f"{server.endpoint}{data.stem}"
        head = httpx.head(url, headers=TUS)  # cuts the one 8 MiB PATCH
        assert head.status_code == 200
        assert int(head.headers["Upload-Offset"]) < 8 * MiB
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.strip().splitlines()[-1] == url
    assert download_sha256(url) == sha256_file(source)
