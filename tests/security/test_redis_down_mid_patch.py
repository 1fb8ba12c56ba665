"""Issue #22: Redis gone while a PATCH is sending. The bytes the server stored must be answered as
stored (204 with the new offset), even though the upload's lock can no longer be released in Redis;
a HEAD meanwhile gets 503 with Retry-After, not a 500 with a traceback."""

from __future__ import annotations

import redis

from tests.conftest import ServerFactory
from tests.redis_support import RedisProcess
from tests.support import TUS, half_patch, read_http_response, wait_for


def test_patch_whose_bytes_are_stored_answers_204_when_the_lock_release_fails(
    server_factory: ServerFactory, redis_process: RedisProcess
) -> None:
    redis_process.start()
    server = server_factory("--locker", "redis", "--redis-url", redis_process.url)
    url = server.create(20)
    upload_id = url.rsplit("/", 1)[1]
    data = server.data_dir / upload_id
    sock = half_patch(server, url, b"0123456789", promised=20)
    client = redis.Redis(host="127.0.0.1", port=redis_process.port)
    try:
        # The first half is being written under a lock held in Redis; now Redis goes away.
        wait_for(lambda: client.exists(f"tusserver:lock:{upload_id}"), what="the PATCH's lock in Redis")
        client.close()
        redis_process.stop()
        sock.sendall(b"abcdefghij")
        response = read_http_response(sock)
    finally:
        sock.close()
    assert response.status == 204, (response.status, response.body)
    assert response.headers["upload-offset"] == "20"
    assert data.read_bytes() == b"0123456789abcdefghij"

    head = server.client.head(url, headers=TUS)
    assert head.status_code == 503 and head.headers["Retry-After"]
    log = server.log_path.read_text()
    assert "Traceback" not in log
    assert "could not release lock" in log
