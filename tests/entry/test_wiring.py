"""`wiring.build` is the composition root shared by the server and `tusserver cleanup`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tusserver.config import Settings
from tusserver.wiring import build, check


def test_cleanup_builds_the_backends_without_an_app(tmp_path: Path) -> None:
    """`tusserver cleanup` sweeps through the same backends as the server, but loads no app, routes or middleware."""
    script = (
        "import sys\n"
        "from tusserver.cli import main\n"
        f"code = main(['cleanup', '--data-dir', {str(tmp_path / 'data')!r}])\n"
        "print(code, sorted(m for m in sys.modules if m in ('tusserver.app', 'tusserver.protocol.routes')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["removed 0 expired uploads, dropped 0 tombstones", "0 []"]


def test_an_empty_locker_is_the_stores_default_once_checked() -> None:
    assert Settings().locker == "" and Settings().validate().locker == ""  # config names no store
    assert check(Settings()).locker == "file"
    assert check(Settings(store="memory")).locker == "memory"
    assert check(Settings(store="memory", locker="file")).locker == "file"


def test_build_shares_one_set_of_backends(tmp_path: Path) -> None:
    backends = build(Settings(data_dir=tmp_path / "data"))
    uploads = backends.uploads
    assert uploads.stores.core is backends.store and uploads.locker is backends.locker
    assert uploads.hooks is backends.hooks and backends.redis is None  # no Redis unless the locks are there
    assert uploads.quota.sets is uploads.unfinished and uploads.ledger.tombstones is uploads.tombstones
