"""The Dockerfile's health check and the compose recipe in docs/scaling.md, run against real servers
(no container runtime needed: the same commands, the same ports and paths)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ServerFactory
from tests.s3_support import CREDENTIALS, S3Server
from tests.support import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]


def _dockerfile_healthcheck() -> list[str]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*? CMD (.+)$", text, re.M)
    assert match, "the Dockerfile has a HEALTHCHECK"
    return shlex.split(match.group(1))


def _run(command: list[str], port: int) -> int:
    command = [sys.executable if part == "python" else part for part in command]
    return subprocess.run(command, env={"TUSSERVER_PORT": str(port)}, capture_output=True, timeout=30).returncode


def test_dockerfile_health_check_works_with_any_base_path_and_port(server_factory: ServerFactory) -> None:
    command = _dockerfile_healthcheck()
    server = server_factory("--base-path", "/api/uploads/")
    assert _run(command, server.port) == 0
    assert _run(command, free_port()) != 0  # nothing listening: unhealthy
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"pip install [^\n]*\.\[[^\]]*\bmetrics\b", dockerfile), "the image has the metrics extra"


def _compose() -> dict[str, Any]:
    import yaml

    text = (REPO / "docs" / "scaling.md").read_text()
    block = re.search(r"```yaml\n(services:.*?)```", text, re.S)
    assert block
    data: dict[str, Any] = yaml.safe_load(block.group(1))
    return data


def test_compose_recipe_waits_on_health_not_on_start(server_factory: ServerFactory, s3_server: S3Server) -> None:
    services = _compose()["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions waits only for a start"
        for other, condition in depends.items():
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[other], f"{name} waits for {other}, which has no health check"
            else:  # a job that exits: wait for it to have succeeded
                assert condition["condition"] == "service_completed_successfully", (name, other)
    assert services["nginx"]["depends_on"]["tus1"]["condition"] == "service_healthy"  # only ready instances

    # The instances' readiness check, against a real instance whose bucket does not exist yet.
    check = services["tus1"]["healthcheck"]["test"][1:]
    server = server_factory("--store", "s3", "--s3-endpoint-url", s3_server.endpoint, "--s3-bucket", "later",
                            env=CREDENTIALS)  # fmt: skip
    probe = [part.replace("127.0.0.1:1080", f"127.0.0.1:{server.port}") for part in check]
    assert _run(probe, server.port) != 0  # not ready: nginx would not send it uploads
    s3_server.client().create_bucket(Bucket="later")  # type: ignore[attr-defined]
    wait_for(lambda: _run(probe, server.port) == 0, what="the readiness check once the bucket exists")
