"""bench/limit.py's hashed-transfer limit: the `splice-sha256` receiver, run as `make bench` runs it, and its client.

The limit is only a limit if the receiver really stores and hashes every byte: each chunk's acknowledgement
must be the sha256 of exactly the bytes sent in it, and the file must hold them all, in order.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import workloads
from bench.limit import BODY_FILE, hashed_limit_peer, raw_chunked_sha256, send_chunks
from bench.peers import Running, start
from bench.workloads import MiB, Payload, tune_sending

CHUNK = 8 * MiB
# A block that is no power of two: the payload's 1 MiB pieces and its chunks each start at a different
# place in it, so bytes stored or hashed out of order, or a piece lost, change the file and the digests.
BLOCK = os.urandom(3 * MiB + 4097)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Running]:
    running = start(hashed_limit_peer(CHUNK), tmp_path)
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize("size", [24 * MiB, 20 * MiB + 5], ids=["3 whole chunks", "a short last chunk"])
def test_every_chunk_is_acknowledged_with_the_sha256_of_its_bytes(receiver: Running, size: int) -> None:
    payload = Payload(size, BLOCK)
    sent = b"".join(payload.pieces(0, size))
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=60) as sock:
        tune_sending(sock)
        acks = send_chunks(sock, payload, CHUNK)
        assert sock.recv(1) == b""  # then the receiver closes: nothing more than one digest per chunk
    assert receiver.proc.wait(60) == 0
    assert acks == [hashlib.sha256(sent[at : at + CHUNK]).digest() for at in range(0, size, CHUNK)]
    assert (receiver.data_dir / BODY_FILE).read_bytes() == sent


def test_the_bench_run_checks_the_digests_and_the_file(receiver: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(workloads.WARM, "enabled", False)  # no need to warm memory for 24 MiB
    result = raw_chunked_sha256(receiver, Payload(24 * MiB, BLOCK), CHUNK)
    assert (result.bytes, result.uploads) == (24 * MiB, 3)
    assert result.cpu_s > 0  # the receiver's CPU, read when it exited
    assert receiver.proc.returncode == 0
