"""`--access-log`: one line per request only when asked (off by default: it costs server CPU per request)."""

from __future__ import annotations

import httpx

from tests.conftest import ServerFactory
from tests.support import wait_for

UNBUFFERED = {"PYTHONUNBUFFERED": "1"}


def test_access_log_is_off_by_default(server_factory: ServerFactory) -> None:
    server = server_factory("--log-level", "info", env=UNBUFFERED)
    response = httpx.options(server.endpoint)
    assert response.status_code == 204
    server.stop()  # everything the server logged is in the file now
    log = server.log_path.read_text()
    assert "Uvicorn running" in log or "Application startup complete" in log  # info logging itself is on
    assert "OPTIONS /files/" not in log


def test_access_log_flag_logs_each_request(server_factory: ServerFactory) -> None:
    server = server_factory("--log-level", "info", "--access-log", env=UNBUFFERED)
    assert httpx.options(server.endpoint).status_code == 204
    wait_for(lambda: '"OPTIONS /files/ HTTP/1.1" 204' in server.log_path.read_text(), what="an access log line")
