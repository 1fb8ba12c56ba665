"""clients/js/tusserver-token.mjs's rules under `node --test` (shared refresh, newest token, 401 retry)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support import require_tool

TESTS = Path(__file__).with_name("token_helper.test.mjs")


def test_token_helper_unit_checks() -> None:
    node = require_tool("node")
    done = subprocess.run([node, "--test", str(TESTS)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout and "# pass 9" in done.stdout
