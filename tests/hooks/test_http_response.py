"""An accepting pre-create or pre-finish hook adds its `HTTPResponse` to the client's answer, as tusd does:
a header and a JSON body on the 201 and on the PATCH that finishes the upload; the protocol's own
headers (`Location`, `Upload-Offset`, `Tus-Resumable`) stay the server's."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ServerFactory
from tests.hooks.receiver import Decision, Receiver
from tests.support import OCTET, TUS

PATCH = {**TUS, "Content-Type": OCTET}


def platform(hook: dict[str, Any]) -> Decision:
    upload = hook["Event"]["Upload"]
    if hook["Type"] == "pre-create":
        headers = {"X-Record": "r-1", "Location": "http://evil.example/x", "Upload-Offset": "99"}
        return 200, {"HTTPResponse": {"Header": headers, "Body": json.dumps({"record": "r-1"})}}
    if hook["Type"] == "pre-finish":
        headers = {"Content-Type": "application/json", "Tus-Resumable": "0.1"}
        body = json.dumps({"record": "r-1", "bytes": upload["Offset"]})
        return 200, {"HTTPResponse": {"Header": headers, "Body": body, "StatusCode": 299}}
    return 200, {}


def test_accepting_hooks_add_to_the_answer(server_factory: ServerFactory, receiver: Receiver, store: Any) -> None:
    receiver.decide = platform
    flags, env = store
    server = server_factory("--hooks-url", receiver.url, "--hooks-enabled", "pre-create,pre-finish", *flags, env=env)
    created = server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "6"})
    assert created.status_code == 201
    assert created.headers["X-Record"] == "r-1" and created.json() == {"record": "r-1"}
    url = created.headers["Location"]
    assert url.startswith(server.endpoint) and "Upload-Offset" not in created.headers
    middle = server.client.patch(url, content=b"abc", headers={**PATCH, "Upload-Offset": "0"})
    assert (middle.status_code, middle.content) == (204, b"")  # pre-finish has not run: nothing added
    last = server.client.patch(url, content=b"def", headers={**PATCH, "Upload-Offset": "3"})
    assert last.status_code == 299 and last.json() == {"record": "r-1", "bytes": 6}
    assert last.headers["Upload-Offset"] == "6" and last.headers["Tus-Resumable"] == "1.0.0"
    assert last.headers["Content-Type"] == "application/json"
    assert server.client.get(url).content == b"abcdef"


def test_a_body_on_a_finishing_patch_turns_204_into_200(server_factory: ServerFactory, receiver: Receiver) -> None:
    receiver.decide = lambda hook: (200, {"HTTPResponse": {"Body": "stored as r-2"}})
    server = server_factory("--hooks-url", receiver.url, "--hooks-enabled", "pre-finish")
    url = server.create(2)
    done = server.client.patch(url, content=b"hi", headers={**PATCH, "Upload-Offset": "0"})
    assert (done.status_code, done.text, done.headers["Upload-Offset"]) == (200, "stored as r-2", "2")
