"""expiration: Upload-Expires on responses about unfinished uploads."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

from conformance.conftest import require
from conformance.support import Tus


def test_upload_expires_is_an_http_date_in_the_future(tus: Tus) -> None:
    require(tus, "expiration")
    r = tus.post({"Upload-Length": "10"})
    assert r.status_code == 201
    url = tus.create(10)
    responses = [r, tus.patch(url, 0, b"12345"), tus.head(url)]
    for response in responses:
        value = response.headers.get("Upload-Expires")
        if value is None:
            continue  # SHOULD, not MUST, on each response
        expires = parsedate_to_datetime(value)
        assert value.endswith("GMT")
        assert expires.timestamp() > time.time()
    assert any("Upload-Expires" in resp.headers for resp in responses)
