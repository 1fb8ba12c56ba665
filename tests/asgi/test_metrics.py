"""Prometheus metrics (`--metrics`): uploads, bytes and request timings counted; off by default. In-process."""

from __future__ import annotations

import re

from tests.conftest import AppFactory
from tests.support import OCTET, TUS


def _value(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, f"{name} not in metrics"
    return float(match.group(1))


def test_metrics_count_uploads_and_bytes(app_factory: AppFactory) -> None:
    server = app_factory("--metrics")
    url = server.create(5)
    r = server.client.patch(url, content=b"12345", headers={**TUS, "Upload-Offset": "0", "Content-Type": OCTET})
    assert r.status_code == 204
    assert server.client.delete(url, headers=TUS).status_code == 204
    text = server.client.get(f"{server.url}/metrics").text
    assert _value(text, 'tusserver_uploads_total{event="create"}') == 1
    assert _value(text, 'tusserver_uploads_total{event="finish"}') == 1
    assert _value(text, 'tusserver_uploads_total{event="terminate"}') == 1
    assert _value(text, "tusserver_request_body_bytes_total") == 5
    assert 'tusserver_request_seconds_count{method="PATCH",status="204"} 1.0' in text


def test_metrics_off_by_default(app_factory: AppFactory) -> None:
    server = app_factory()
    assert server.client.get(f"{server.url}/metrics").status_code == 404
