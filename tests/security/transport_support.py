"""What the transport attacks need: the server's descriptors and memory from /proc, raw sockets' state."""

from __future__ import annotations

import os
import resource
import select
import socket
from pathlib import Path

import pytest

# Every attack runs against both body paths: the guards must not depend on --lean-http.
PROTOCOLS = pytest.mark.parametrize("flags", [(), ("--no-lean-http",)], ids=["lean-http", "no-lean-http"])


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def status_bytes(pid: int, key: str) -> int:
    """A `VmRSS`/`VmHWM`-style line of /proc/<pid>/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def open_files_limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise KeyError("Max open files")


def want_open_files(count: int) -> None:
    """Raise this test process's own soft limit so it can hold `count` sockets (skip if the hard one can't)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < count:
        pytest.skip(f"the hard open-files limit {hard} is below {count}")
    if soft != resource.RLIM_INFINITY and soft < count:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else count, hard))


def peer_closed(sock: socket.socket) -> bool:
    """Whether the server has closed this connection (FIN or RST), without blocking."""
    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        data = sock.recv(65536)
    except OSError:  # reset
        return True
    if data:  # an answer (a 431, a 400): read on until the close
        return peer_closed(sock)
    return True
