"""Three instances sweep expired uploads at once: each expired upload is removed exactly once, without errors.

Every sweeper lists the same bucket; the per-upload Redis lock (tried, not waited for) lets one
instance remove an upload while the others skip it or find it already gone.
"""

from __future__ import annotations

import re

import httpx

from tests.cluster.support import Cluster
from tests.support import TUS, wait_for

CLUSTER_FLAGS = ["--expire-after", "2", "--sweep-interval", "0.3", "--log-level", "info"]
OCTET = {**TUS, "Content-Type": "application/offset+octet-stream"}


def _removals(live: Cluster) -> list[str]:
    found: list[str] = []
    for server in live.instances:
        found += re.findall(r"expired upload (\S+) removed", server.log_path.read_text(errors="replace"))
    return found


def test_three_sweepers_remove_each_expired_upload_once(live: Cluster) -> None:
    expiring: list[str] = []
    with httpx.Client(base_url=live.url, headers=TUS, timeout=30) as http:
        for n in range(6):
            r = http.post("/files/", headers={"Upload-Length": "1000"})
            assert r.status_code == 201, r.text
            url = r.headers["Location"]
            if n % 2:  # half of them got some bytes before they were abandoned
                assert http.patch(url, content=b"x" * 300, headers={**OCTET, "Upload-Offset": "0"}).status_code == 204
            expiring.append(httpx.URL(url).path.rsplit("/", 1)[-1])
        finished = http.post("/files/", headers={"Upload-Length": "5"})
        kept = finished.headers["Location"]
        assert http.patch(kept, content=b"hello", headers={**OCTET, "Upload-Offset": "0"}).status_code == 204

        wait_for(lambda: set(expiring) <= set(_removals(live)), timeout=30, what="every expired upload removed")
        s3 = live.s3.client()
        for upload_id in expiring:
            listed = s3.list_objects_v2(Bucket=live.s3.bucket, Prefix=f"{upload_id}.info")  # type: ignore[attr-defined]
            assert listed.get("KeyCount", 0) == 0
            assert http.head(f"/files/{upload_id}").status_code in (404, 410)
        # One more upload, abandoned after the others were swept: by the time it is removed, all
        # three sweepers have passed over the first six's remains again. Still nothing removed twice.
        r = http.post("/files/", headers={"Upload-Length": "10"})
        late = httpx.URL(r.headers["Location"]).path.rsplit("/", 1)[-1]
        wait_for(lambda: late in _removals(live), timeout=30, what="the late upload removed")
        removals = _removals(live)
        assert sorted(removals) == sorted({*expiring, late}), removals
        assert http.get(kept).content == b"hello"  # finished uploads never expire
