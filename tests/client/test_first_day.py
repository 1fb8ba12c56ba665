"""`tusserver upload` as a new user meets it, against real servers: a URL without a scheme, a directory,
a self-signed certificate (--cacert, --insecure, SSL_CERT_FILE), --dedup without auth, a rerun after a
kill that resumes at 0, and a progress bar whose rate leaves out what the server already had."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import ssl
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import httpx
import pytest

from tests.client.helpers import MiB, random_file
from tests.conftest import ServerFactory
from tests.support import TUS, LiveServer, TlsServer, self_signed_certificate, wait_for
from tusserver.client.resume import ResumeStore, fingerprint


def upload(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tusserver", "upload", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_endpoint_without_a_scheme_is_refused_at_once(server: LiveServer, tmp_path: Path) -> None:
    source = random_file(tmp_path / "a.bin", 10)
    done = upload(str(source), "--endpoint", f"127.0.0.1:{server.port}/files/", "--retries", "8")
    assert done.returncode == 2
    assert f"--endpoint must be an http:// or https:// URL, e.g. http://127.0.0.1:{server.port}/files/" in done.stderr
    assert "retrying" not in done.stderr


def test_a_directory_says_so(server: LiveServer, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    done = upload(str(tmp_path / "dir"), "--endpoint", server.endpoint)
    assert done.returncode == 2
    assert "is a directory" in done.stderr and "no such file" not in done.stderr
    missing = upload(str(tmp_path / "nope"), "--endpoint", server.endpoint)
    assert "no such file" in missing.stderr


def test_dedup_without_a_token_hints_that_instant_upload_is_off(server: LiveServer, tmp_path: Path) -> None:
    source = random_file(tmp_path / "d.bin", 1000)
    resume = str(tmp_path / "resume.json")
    for _ in range(2):
        done = upload(str(source), "--endpoint", server.endpoint, "--dedup", "--resume-file", resume, "--no-resume")
        assert done.returncode == 0, done.stderr
        assert "instant upload off" in done.stderr and "--instant-upload" in done.stderr
    assert "already on the server" not in done.stderr  # indeed: the second run sent the bytes again


@pytest.fixture
def tls_server(tmp_path: Path) -> TlsServer:
    cert, key = self_signed_certificate(tmp_path)
    server = TlsServer(tmp_path / "data", cert, key)
    server.start()
    yield server  # type: ignore[misc]
    server.stop()


def test_self_signed_certificate(tls_server: TlsServer, tmp_path: Path) -> None:
    source = random_file(tmp_path / "t.bin", 3000)
    common = [str(source), "--endpoint", tls_server.endpoint, "--no-resume", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}

    untrusted = upload(*common, "--retries", "8", env=env)
    assert untrusted.returncode == 1
    assert "not trusted: pass --cacert FILE (or set SSL_CERT_FILE)" in untrusted.stderr
    assert "retrying" not in untrusted.stderr  # a certificate does not get better by asking again

    for extra, extra_env in ((["--cacert", str(tls_server.cert)], {}),
                             (["--insecure"], {}),
                             ([], {"SSL_CERT_FILE": str(tls_server.cert)})):  # fmt: skip
        done = upload(*common, *extra, env={**env, **extra_env})
        assert done.returncode == 0, (extra, extra_env, done.stderr)
        url = done.stdout.strip()
        context = ssl.create_default_context(cafile=str(tls_server.cert))
        assert httpx.head(url, headers=TUS, verify=context).headers["Upload-Offset"] == "3000"

    missing = upload(*common, "--cacert", str(tmp_path / "nope.pem"), env=env)
    assert missing.returncode == 2 and "--cacert" in missing.stderr


def test_rerun_after_a_kill_with_checksum_says_it_resumes(server_factory: ServerFactory, tmp_path: Path) -> None:
    """Killed before a checksummed chunk ended, the server kept nothing of it: the rerun resumes the same
    upload at 0, and says so (it said "sending 4.0 MiB", as for a new upload)."""
    server = server_factory()
    source = random_file(tmp_path / "c.bin", 4 * MiB)
    resume = tmp_path / "resume.json"
    args = [sys.executable, "-m", "tusserver", "upload", str(source), "--endpoint", server.endpoint,
            "--checksum", "sha256", "--chunk-size", "4M", "--resume-file", str(resume)]  # fmt: skip
    first = subprocess.Popen([*args, "--limit-rate", "256K"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: resume.exists() and "url" in resume.read_text(), what="the upload URL recorded")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    second = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert re.search(r"resuming at \d+ of 4194304 bytes \(\d+%\)", second.stderr), second.stderr
    assert "sending 4.0 MiB" not in second.stderr


def _run_in_terminal(args: list[str], timeout: float = 120) -> tuple[str, str]:
    """Run `args` with stderr on a pseudo-terminal (so the client draws its tqdm bar); return its stdout
    and what it drew."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # 0 columns: tqdm draws nothing
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    drawn = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process is done
                break
            if not chunk:
                break
            drawn += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    assert proc.stdout is not None
    stdout = proc.stdout.read().decode()
    assert proc.wait(10) == 0, drawn.decode(errors="replace")[-2000:]
    return stdout, drawn.decode(errors="replace")


def test_progress_bar_rate_leaves_out_stored_bytes(server_factory: ServerFactory, tmp_path: Path) -> None:
    pytest.importorskip("tqdm")
    server = server_factory()
    source = random_file(tmp_path / "r.bin", 8 * MiB)
    already = 6 * MiB
    # An earlier run that stored 6 MiB and was killed: its upload on the server, its record in the resume file.
    url = server.create(8 * MiB)
    head = {**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    assert server.client.patch(url, headers=head, content=source.read_bytes()[:already]).status_code == 204
    resume = tmp_path / "resume.json"
    key = fingerprint(str(source), server.endpoint, 1, 256 * 1024)
    ResumeStore(resume).put(key, {"url": url, "endpoint": server.endpoint})

    stdout, drawn = _run_in_terminal(
        [sys.executable, "-m", "tusserver", "upload", str(source), "--endpoint", server.endpoint,
         "--chunk-size", "256K", "--resume-file", str(resume), "--limit-rate", "512K"]
    )  # fmt: skip
    assert stdout.strip() == url
    assert f"resuming at {already} of {8 * MiB} bytes" in drawn
    rates = [float(n) * {"": 1, "k": 1024, "M": MiB, "G": 1024 * MiB}[unit]
             for n, unit in re.findall(r"([\d.]+)([kMG]?)B/s", drawn)]  # fmt: skip
    assert rates, drawn[-2000:]
    # --limit-rate 512K. Counting the 6 MiB already stored as sent now showed several MB/s at once.
    assert max(rates) < 2 * MiB, (max(rates), drawn[-2000:])
    assert httpx.head(url, headers=TUS).headers["Upload-Offset"] == str(8 * MiB)
