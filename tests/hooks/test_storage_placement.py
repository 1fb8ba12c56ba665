"""`ChangeFileInfo.Storage` from a pre-create hook (issue #25): the file store puts the upload's bytes at
`Path` in the data directory, the S3 store at `Key` under the prefix, and every later request (after a
kill -9 and a restart too) finds them there; a location that could reach anything else is refused
(503, as an invalid ID is), and so is `Storage` on a store that cannot place uploads.

A real `tusserver serve` and a real HTTP receiver (tests/hooks/receiver.py); S3 is a moto server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.hooks.receiver import Decision, Receiver
from tests.s3_support import S3Server
from tests.support import PATCH, TUS, LiveServer, wait_for

PREFIX = "up/"  # the S3 runs use a prefix, so "stays under the prefix" is tested too


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Spot:
    """Where a store keeps placed bytes, read back behind the server's back."""

    field: str  # "Path" or "Key"
    flags: list[str]
    env: dict[str, str]
    s3: S3Server | None = None
    data_dir: Path | None = None

    def read(self, relative: str) -> bytes | None:
        if self.s3 is None:
            assert self.data_dir is not None
            path = self.data_dir / relative
            return path.read_bytes() if path.exists() else None
        client: Any = self.s3.client()
        try:
            return bytes(client.get_object(Bucket=self.s3.bucket, Key=PREFIX + relative)["Body"].read())
        except client.exceptions.NoSuchKey:
            return None

    def names(self) -> list[str]:
        """Everything the store holds outside its own dot-named sets and locks."""
        if self.s3 is None:
            assert self.data_dir is not None
            return sorted(str(p.relative_to(self.data_dir)) for p in self.data_dir.rglob("*") if _visible(p, self))
        client: Any = self.s3.client()
        found = client.list_objects_v2(Bucket=self.s3.bucket, Prefix=PREFIX).get("Contents", [])
        return sorted(o["Key"][len(PREFIX) :] for o in found if not o["Key"][len(PREFIX) :].startswith("."))


def _visible(path: Path, spot: Spot) -> bool:
    assert spot.data_dir is not None
    return not str(path.relative_to(spot.data_dir)).startswith(".") and path.is_file()


@pytest.fixture
def spot(store: tuple[list[str], dict[str, str]], request: pytest.FixtureRequest, tmp_path: Path) -> Spot:
    flags, env = store
    if "s3" in flags:
        return Spot("Key", [*flags, "--s3-prefix", PREFIX], env, s3=request.getfixturevalue("s3_server"))
    return Spot("Path", flags, env, data_dir=tmp_path / "data")


def placing(spot: Spot, where: dict[str, dict[str, Any]]) -> Any:
    """A receiver that answers pre-create for an upload whose `name` metadata is in `where` with that
    `ChangeFileInfo` (`Storage` given as the bare location), and adds a header and JSON body to its 201."""

    def decide(hook: dict[str, Any]) -> Decision:
        if hook["Type"] != "pre-create":
            return 200, {}
        name = hook["Event"]["Upload"]["MetaData"].get("name", "")
        if name not in where:
            return 200, {}
        change = dict(where[name])
        if isinstance(change.get("Storage"), str):
            change["Storage"] = {spot.field: change["Storage"]}
        reply = {"Header": {"X-Record": f"r-{name}"}, "Body": json.dumps({"record": name})}
        return 200, {"ChangeFileInfo": change, "HTTPResponse": reply}

    return decide


def start(server_factory: ServerFactory, receiver: Receiver, spot: Spot, *flags: str) -> LiveServer:
    return server_factory(
        "--hooks-url", receiver.url, *flags, *spot.flags, data_dir=spot.data_dir, env=spot.env
    )  # fmt: skip


def post(server: LiveServer, name: str, length: int, **headers: str) -> Any:
    return server.client.post(
        server.endpoint,
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": f"name {b64(name)}", **headers},
    )


def test_a_hook_moves_an_upload_and_every_request_finds_it(
    server_factory: ServerFactory, receiver: Receiver, spot: Spot
) -> None:
    where = "tenant-a/2024/report.bin"
    receiver.decide = placing(
        spot, {"report": {"ID": "tenant-a-report-0001", "Storage": "./tenant-a//2024/report.bin"}}
    )
    server = start(server_factory, receiver, spot, "--hooks-enabled", "pre-create,post-finish")
    created = post(server, "report", 6)
    assert created.status_code == 201, created.text
    # An accepting pre-create's HTTPResponse still reaches the 201.
    assert created.headers["X-Record"] == "r-report" and created.json() == {"record": "report"}
    url = created.headers["Location"]
    assert url == f"{server.endpoint}tenant-a-report-0001"
    assert server.client.patch(url, content=b"abc", headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    assert spot.read(where) == (b"abc" if spot.s3 is None else None)  # S3: an object once the upload completes
    server.kill()  # kill -9: the record alone must lead the next server to the bytes
    server.start()
    assert server.client.head(url, headers=TUS).headers["Upload-Offset"] == "3"
    assert server.client.patch(url, content=b"def", headers={**PATCH, "Upload-Offset": "3"}).status_code == 204
    server.restart()
    assert server.client.get(url).content == b"abcdef"
    assert server.client.get(url, headers={"Range": "bytes=2-3"}).content == b"cd"
    assert spot.read(where) == b"abcdef"
    assert spot.names() == sorted([where, "tenant-a-report-0001.info"])  # nothing under the ID but the record
    wait_for(lambda: receiver.of_type("post-finish"), what="post-finish")
    reported = receiver.of_type("post-finish")[0]["Event"]["Upload"]["Storage"]
    if spot.s3 is not None:
        assert reported == {"Type": "s3", "Bucket": spot.s3.bucket, "Key": PREFIX + where}
    else:
        assert spot.data_dir is not None
        assert reported["Type"] == "file" and reported["Path"] == str(spot.data_dir.resolve() / where)
    assert server.client.delete(url, headers=TUS).status_code == 204
    assert spot.read(where) is None
    assert server.client.head(url, headers=TUS).status_code == 410


UNSAFE = {
    "../outside.bin": "'..'",
    "a/../../outside.bin": "'..'",
    "/etc/cron.d/x": "relative",
    ".locks/uploads.lock": "starting with '.'",
    ".sets/x": "starting with '.'",
    "ok/.hidden": "starting with '.'",
    "x/AbCdEfGhIjKlMnOpQr.info": "must not end a component",
    "AbCdEfGhIjKlMnOpQr": "shaped like an upload ID",
    "x\x00y": "control character",
}


def test_unsafe_storage_is_refused_and_nothing_is_stored(
    server_factory: ServerFactory, receiver: Receiver, spot: Spot
) -> None:
    asks = {f"bad{n}": {"Storage": value} for n, value in enumerate(UNSAFE)}
    asks["other-field"] = {"Storage": {"Path" if spot.field == "Key" else "Key": "fine/x.bin"}}
    asks["first"] = asks["again"] = {"Storage": "shared/x.bin"}
    receiver.decide = placing(spot, asks)
    server = start(server_factory, receiver, spot, "--hooks-enabled", "pre-create")
    for n, reason in enumerate(UNSAFE.values()):
        refused = post(server, f"bad{n}", 1)
        assert refused.status_code == 503, refused.text
        assert "unusable ChangeFileInfo.Storage" in refused.text and reason in refused.text, refused.text
        assert "X-Record" not in refused.headers
    wrong = post(server, "other-field", 1)
    assert wrong.status_code == 503 and f"takes only Storage.{spot.field}" in wrong.text
    assert spot.names() == []
    assert post(server, "first", 1).status_code == 201
    taken = post(server, "again", 1)
    assert taken.status_code == 503 and "taken" in taken.text
    # The first upload's record, and its bytes on disk; on S3 its key is held by an unfinished multipart upload.
    assert len(spot.names()) == (2 if spot.s3 is None else 1)
    assert "ChangeFileInfo.Storage" in server.log() and "refused" in server.log()


def test_a_symbolic_link_or_a_file_in_the_way_is_refused(
    server_factory: ServerFactory, receiver: Receiver, tmp_path: Path
) -> None:
    data_dir, outside = tmp_path / "data", tmp_path / "outside"
    outside.mkdir()
    data_dir.mkdir()
    (data_dir / "escape").symlink_to(outside)
    (data_dir / "plain").write_bytes(b"")
    spot = Spot("Path", [], {}, data_dir=data_dir)
    receiver.decide = placing(spot, {"link": {"Storage": "escape/x.bin"}, "file": {"Storage": "plain/x.bin"}})
    server = start(server_factory, receiver, spot, "--hooks-enabled", "pre-create")
    through_link = post(server, "link", 1)
    assert through_link.status_code == 503 and "symbolic link" in through_link.text
    through_file = post(server, "file", 1)
    assert through_file.status_code == 503 and "goes through a file" in through_file.text
    assert list(outside.iterdir()) == []


def test_a_store_that_cannot_place_refuses_storage(server_factory: ServerFactory, receiver: Receiver) -> None:
    spot = Spot("Path", ["--store", "memory"], {})
    receiver.decide = placing(spot, {"x": {"Storage": "a/b.bin"}, "typed": {"Storage": {"Type": "memory"}}})
    server = start(server_factory, receiver, spot, "--hooks-enabled", "pre-create")
    refused = post(server, "x", 1)
    assert refused.status_code == 503 and "the memory store keeps each upload where its ID says" in refused.text
    assert "refused" in server.log()
    assert post(server, "typed", 1).status_code == 201  # only `Type`, as a hook was told: nothing asked


def digest(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def test_concatenation_instant_upload_and_expiry_find_placed_bytes(
    server_factory: ServerFactory, receiver: Receiver, tmp_path: Path
) -> None:
    spot = Spot("Path", [], {}, data_dir=tmp_path / "data")
    asks = {name: {"Storage": f"{name.split('-')[0]}/{name}.bin"} for name in ("part-1", "part-2", "final-1")}
    asks |= {name: {"Storage": f"dedup/{name}.bin"} for name in ("copy-a", "copy-b")}
    asks["stale-1"] = {"Storage": "stale/stale-1.bin"}
    receiver.decide = placing(spot, asks)
    server = start(
        server_factory, receiver, spot, "--hooks-enabled", "pre-create", "--instant-upload", "on",
        "--expire-after", "2", "--sweep-interval", "0.3",
    )  # fmt: skip
    parts = []
    for name, data in (("part-1", b"hello "), ("part-2", b"world")):
        url = post(server, name, len(data), **{"Upload-Concat": "partial"}).headers["Location"]
        assert server.client.patch(url, content=data, headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
        parts.append(url)
    final = server.client.post(
        server.endpoint,
        headers={**TUS, "Upload-Concat": f"final;{' '.join(parts)}", "Upload-Metadata": f"name {b64('final-1')}"},
    )
    assert final.status_code == 201, final.text
    wait_for(lambda: server.client.get(final.headers["Location"]).content == b"hello world", what="the final")
    assert spot.read("final/final-1.bin") == b"hello world"

    data = os.urandom(100_000)
    first = post(server, "copy-a", len(data), **{"Repr-Digest": digest(data)}).headers["Location"]
    assert server.client.patch(first, content=data, headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    second = post(server, "copy-b", len(data), **{"Repr-Digest": digest(data)})
    assert second.headers["Upload-Offset"] == str(len(data))  # instant: linked, not sent
    assert spot.data_dir is not None
    a, b = spot.data_dir / "dedup/copy-a.bin", spot.data_dir / "dedup/copy-b.bin"
    assert a.stat().st_ino == b.stat().st_ino
    assert server.client.delete(first, headers=TUS).status_code == 204
    assert not a.exists() and server.client.get(second.headers["Location"]).content == data

    stale = post(server, "stale-1", 10).headers["Location"]
    assert server.client.patch(stale, content=b"abc", headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    wait_for(lambda: server.client.head(stale, headers=TUS).status_code == 410, timeout=20, what="expired")
    wait_for(lambda: spot.read("stale/stale-1.bin") is None, timeout=20, what="the expired bytes removed")
