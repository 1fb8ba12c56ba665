"""The Postman collection under newman: it passes with auth on (rotating 2 s tokens) and off, and its
"a fresh token came back" assertion fails on a 401 (before, an empty token let it pass quietly)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.client.helpers import ROTATING, mint
from tests.conftest import ServerFactory
from tests.examples.support import EXAMPLES, ROOT, Mode
from tests.support import IN_CI, require_tool

NEWMAN = ROOT / "tests" / "node" / "node_modules" / ".bin" / "newman"


def newman(endpoint: str, token: str, report: Path, *extra: str) -> dict[str, Any]:
    require_tool("node")
    if not NEWMAN.exists():
        message = "newman is not installed: run `make node-deps`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    subprocess.run(
        [str(NEWMAN), "run", str(EXAMPLES / "postman" / "tusserver.postman_collection.json"),
         "--env-var", f"endpoint={endpoint}", "--env-var", f"token={token}", *extra,
         "--reporters", "json", "--reporter-json-export", str(report)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    run: dict[str, Any] = json.loads(report.read_text())["run"]
    return run


def failed_assertions(run: dict[str, Any]) -> list[str]:
    return [failure["error"].get("test") or failure["error"].get("message", "?") for failure in run["failures"]]


def test_passes_with_rotating_tokens(server_factory: ServerFactory, tmp_path: Path) -> None:
    """Every request after the first carries the token the previous answer brought (read from newman's
    report, not from the clock: the shared servers' 2 s tokens left newman, waiting 1.2 s between requests,
    under a second of slack on a busy machine, and a short first token died during newman's start-up)."""
    server = server_factory(*ROTATING, "--token-ttl", "5")
    token = mint(ttl=60)
    run = newman(server.endpoint, token, tmp_path / "report.json", "--delay-request", "1500")
    assert failed_assertions(run) == []
    assert run["stats"]["assertions"]["total"] >= 11 and run["stats"]["requests"]["total"] == 8
    sent = [
        header["value"].removeprefix("Bearer ")
        for execution in run["executions"]
        for header in execution["request"]["header"]
        if header["key"].lower() == "authorization" and header["value"].startswith("Bearer ")
    ]
    # OPTIONS gets no new token; from the creation on, each request sends the one the last answer brought
    assert sent[:2] == [token, token] and len(set(sent[1:])) == len(sent) - 1 >= 7, sent
    # longer than a rotated token lives (5 s + 1 s leeway): the last requests could not use the early ones
    assert run["timings"]["completed"] - run["timings"]["started"] > 6000


def test_passes_without_auth(modes: dict[str, Mode], tmp_path: Path) -> None:
    run = newman(modes["open"].server.endpoint, "", tmp_path / "report.json")
    assert failed_assertions(run) == []
    assert run["stats"]["requests"]["total"] == 8


def test_fresh_token_assertion_fails_on_a_401(modes: dict[str, Mode], tmp_path: Path) -> None:
    """`--env-var token=` is what `$(tusserver token ...)` gives when tusserver is not on PATH."""
    run = newman(modes["auth"].server.endpoint, "", tmp_path / "report.json")
    assert "a fresh token came back when auth is on" in failed_assertions(run)
