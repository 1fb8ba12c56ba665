"""Who may connect to `--unix-socket` (issue #22).

Before: uvicorn chmodded the socket to 0666, so any local user (`nobody` did) could create an upload. Now
it is 0660 by default (`--unix-socket-mode`): the server's user and group connect, others are refused by
the kernel. As root the test also connects as `nobody` from a child process that drops to that uid.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.support import TUS, LiveServer

NOBODY = 65534
# A child that becomes `nobody` and tries the socket: prints the status code, or the errno name.
AS_NOBODY = """
import errno, os, socket, sys
os.setgroups([]); os.setgid(65534); os.setuid(65534)
sock = socket.socket(socket.AF_UNIX)
try:
    sock.connect(sys.argv[1])
except OSError as exc:
    print(errno.errorcode[exc.errno]); raise SystemExit(0)
sock.sendall(b"POST /files/ HTTP/1.1\\r\\nHost: x\\r\\nTus-Resumable: 1.0.0\\r\\nUpload-Length: 1\\r\\n\\r\\n")
print(sock.recv(64).split()[1].decode())
"""


class UnixServer(LiveServer):
    def __init__(self, data_dir: Path, path: Path, *args: str) -> None:
        super().__init__(data_dir, "--unix-socket", str(path), *args)
        self.path = path

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}: {self.log()}")
        try:
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(self.path))) as client:
                return client.options("http://localhost/files/", timeout=2).status_code == 204
        except httpx.TransportError:
            return False


def _as_nobody(path: Path) -> str:
    done = subprocess.run([sys.executable, "-c", AS_NOBODY, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(("flags", "mode"), [((), 0o660), (("--unix-socket-mode", "666"), 0o666)])
def test_the_unix_socket_admits_only_owner_and_group(tmp_path: Path, flags: tuple[str, ...], mode: int) -> None:
    # The socket's directory must let `nobody` reach it (pytest's tmp_path does not): the socket's own mode
    # is what decides.
    socket_dir = Path(tempfile.mkdtemp(prefix="tus-sock-"))
    socket_dir.chmod(0o755)
    path = socket_dir / "tus.sock"
    server = UnixServer(tmp_path / "data", path, *flags).start()
    try:
        assert stat.S_IMODE(path.stat().st_mode) == mode
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(path))) as client:
            created = client.post("http://localhost/files/", headers={**TUS, "Upload-Length": "1"})
            assert created.status_code == 201, created.text  # the owner may
        if os.geteuid() == 0:
            _reachable_dirs(socket_dir)
            assert _as_nobody(path) == ("EACCES" if mode == 0o660 else "201")
        assert "Traceback" not in server.log()
    finally:
        server.stop()
        path.unlink(missing_ok=True)  # after SIGTERM uvicorn re-raises it: the process ends before clean-up
        socket_dir.rmdir()


def _reachable_dirs(path: Path) -> None:
    """Every directory above the socket searchable by others, as /tmp's usually are."""
    for parent in [path, *path.parents]:
        if parent.stat().st_mode & 0o001 == 0:
            pytest.skip(f"{parent} is not searchable by other users")
