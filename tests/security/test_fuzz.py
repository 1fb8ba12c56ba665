"""Fuzz: over a thousand malformed requests against a real server with auth on; none may get a 5xx.

Seeded, so a failure names the request that reproduces it. Every method on the base path, on real uploads
(unfinished, finished, deferred-length, partial, another user's), on unknown ids and on odd paths, with
random values for every tus header and the IETF draft's, with and without a valid token. Most go through
one keep-alive httpx connection (fast); what httpx refuses to send (bad bytes in headers, wrong or doubled
Content-Length, bodies cut short, bare LF, obs-fold) goes through raw sockets. After: no response ≥ 500,
no traceback in the server's log, and a full create + PATCH + HEAD still works.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jwt

from tests.conftest import ServerFactory
from tests.support import TUS, LiveServer
from tusserver.auth.tokens import TokenService
from tusserver.config import Settings

PARTIAL = "application/partial-upload"
SEED = int(os.environ.get("TUSSERVER_FUZZ_SEED", "11"))
HTTPX_REQUESTS = 1100
RAW_REQUESTS = 160
SECRET = "fuzz-secret-0123456789-0123456789-abcdef"
METHODS = ["OPTIONS", "HEAD", "GET", "POST", "PATCH", "DELETE"]
OCTET = "application/offset+octet-stream"
CUT = b"<cut>"


@dataclass
class Target:
    server: LiveServer
    token: str  # valid, unscoped, owner "alice"
    other_token: str  # valid, owner "mallory"
    paths: list[str]


def _numbers(rng: random.Random) -> str:
    return rng.choice(
        [
            "",
            "0",
            "1",
            "-1",
            "-0",
            "+5",
            " 5",
            "5 ",
            "05",
            "0x10",
            "1e3",
            "1.5",
            "NaN",
            "inf",
            "٣",
            "9" * 30,
            str(2**63),
            str(2**64 + 1),
            "100",
            "5, 6",
            str(rng.randint(0, 3000)),
            str(rng.randint(-5, 5)),
        ]
    )


def _junk(rng: random.Random) -> str:
    alphabet = "abcXYZ019 ,;=:/+-_.~!*'()\"%&?#@[]{}\\|<>`^$"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, rng.choice([5, 40, 3000]))))


def _b64(rng: random.Random, size: int) -> str:
    return base64.b64encode(rng.randbytes(size)).decode()


def _header_values(rng: random.Random, target: Target) -> dict[str, Callable[[], str]]:
    real = [target.server.url + p for p in target.paths] + target.paths
    return {
        "Tus-Resumable": lambda: rng.choice(["1.0.0", "1.0.0", "0.2.2", "", "1.0", "1.0.0,1.0.0", _junk(rng)]),
        "Upload-Length": lambda: _numbers(rng),
        "Upload-Offset": lambda: _numbers(rng),
        "Upload-Defer-Length": lambda: rng.choice(["1", "0", "2", "true", "", _numbers(rng)]),
        "Upload-Metadata": lambda: rng.choice(
            [
                "",
                "filename",
                "filename ",
                "filename !!!",
                f"filename {_b64(rng, 8)}",
                f"a {_b64(rng, 3)},a x",
                f"filetype {base64.b64encode(b'text/html; x=' + rng.randbytes(4)).decode()}",
                ",,,",
                " , ",
                f"k {_b64(rng, 2000)}",
                "é " + _b64(rng, 4),
                f"filename {_b64(rng, 4)}, filetype {_b64(rng, 4)}",
                _junk(rng),
            ]
        ),
        "Upload-Checksum": lambda: rng.choice(
            [
                "",
                "sha1",
                "sha1 ",
                "sha1 !!!",
                f"sha1 {_b64(rng, 20)}",
                f"md5 {_b64(rng, 16)}",
                f"crc32 {_b64(rng, 4)}",
                f"sha256 {_b64(rng, 32)}",
                f"sha512 {_b64(rng, 64)}",
                f"nope {_b64(rng, 8)}",
                f"sha256 {_b64(rng, 31)}",
                "SHA1 " + _b64(rng, 20),
                f"sha1 {_b64(rng, 20)} extra",
                _junk(rng),
            ]
        ),
        "Upload-Concat": lambda: rng.choice(
            [
                "partial",
                "final",
                "final;",
                "final; ",
                f"final;{rng.choice(real)}",
                f"final;{' '.join(rng.sample(real, 2))}",
                f"final;{rng.choice(real)} {rng.choice(real)}",
                "final;/files/nope /files/../x",
                "final;http://evil/files/x",
                "final;" + " ".join(["/files/x"] * 2000),
                "partial;x",
                "PARTIAL",
                _junk(rng),
            ]
        ),
        "Repr-Digest": lambda: rng.choice(
            [
                f"sha-256=:{_b64(rng, 32)}:",
                f"sha-512=:{_b64(rng, 64)}:",
                f"sha-256=:{_b64(rng, 5)}:",
                "sha-256=abc",
                "sha-256=:!!:",
                "md5=:" + _b64(rng, 16) + ":",
                "sha-256=:" + _b64(rng, 32) + ":, sha-256=:x:",
                "",
                "=",
                _junk(rng),
            ]
        ),
        "Content-Type": lambda: rng.choice(
            [OCTET, OCTET, "", "text/plain", OCTET + "; x=y", "application/OFFSET+octet-stream", PARTIAL, _junk(rng)]
        ),
        # The resumable-upload draft (docs/ietf.md) on the same endpoint.
        "Upload-Draft-Interop-Version": lambda: rng.choice(
            ["8", "8", "6", "5", "7", "", "08", "8;x", "-8", _junk(rng)]
        ),
        "Upload-Complete": lambda: rng.choice(["?0", "?1", "?1", "?2", "", "true", "?1;a=b", "?0 ?1", _junk(rng)]),
        "Content-Disposition": lambda: rng.choice(
            [
                'inline; filename="a.txt"',
                "attachment; filename*=UTF-8''%ff%fe",
                'inline; filename="',
                "inline",
                _junk(rng),
            ]
        ),
        "Content-Digest": lambda: rng.choice(
            [f"sha-256=:{_b64(rng, 32)}:", f"sha-512=:{_b64(rng, 64)}:", "sha-256=:x:", "md5=:AAAA:", _junk(rng)]
        ),
        "Range": lambda: rng.choice(
            [
                "bytes=0-",
                "bytes=-1",
                "bytes=-0",
                "bytes=0-0",
                "bytes=5-1",
                "bytes=0-99999999999999999999999",
                "bytes=99999999999999999999-",
                "bytes=0-1,3-4",
                "bytes=",
                "bytes=-",
                "items=0-1",
                "bytes=-99999999999999",
                f"bytes={rng.randint(0, 50)}-{rng.randint(0, 50)}",
                "bytes=a-b",
                _junk(rng),
            ]
        ),
        "X-HTTP-Method-Override": lambda: rng.choice(
            [*METHODS, "TRACE", "CONNECT", "patch", "", " PATCH ", _junk(rng)]
        ),
        "Authorization": lambda: rng.choice(
            [
                f"Bearer {target.token}",
                f"Bearer {target.other_token}",
                "Bearer",
                "Bearer ",
                "Basic dXNlcjpwYXNz",
                f"bearer {target.token}",
                f"Bearer {target.token}x",
                "Bearer " + _junk(rng),
                f"Bearer {target.token[:-4]}",
                "Bearer " + jwt.encode({"sub": "alice"}, key="", algorithm="none"),
                "Bearer " + jwt.encode({"sub": "alice", "exp": 1}, SECRET, algorithm="HS256"),
                "Bearer "
                + jwt.encode({"sub": "alice", "exp": 2**40}, "wrong-secret-0123456789-0123456789", algorithm="HS256"),
                "Bearer " + jwt.encode({"sub": ["x"], "exp": 2**40}, SECRET, algorithm="HS256"),
                "Bearer " + jwt.encode({"sub": "alice", "exp": 2**40, "max_size": -1}, SECRET, algorithm="HS256"),
                "Bearer " + jwt.encode({"sub": "alice", "exp": 2**40, "max_size": "big"}, SECRET, algorithm="HS256"),
            ]
        ),
    }


def _path(rng: random.Random, target: Target) -> str:
    return rng.choice(
        [
            *target.paths,
            *target.paths,
            "/files/",
            "/files",
            "/files/" + "0" * 32,
            "/files/nope",
            "/files/../files/",
            "/files/%2e%2e/x",
            "/files/a%2fb",
            "/files/%00",
            "/files//",
            "/files/x/y",
            "/files/" + "a" * 3000,
            "/files/é",
            "/files/%ff%fe",
            "/files/?x=1",
            rng.choice(target.paths) + "/",
            rng.choice(target.paths) + "%2f",
            rng.choice(target.paths) + "?Upload-Offset=1",
            "/",
            "/metrics",
            "/files/.info",
        ]
    )


def _request(rng: random.Random, target: Target) -> tuple[str, str, dict[str, str], bytes]:
    values = _header_values(rng, target)
    headers: dict[str, str] = {}
    if rng.random() < 0.7:
        headers["Authorization"] = f"Bearer {target.token}"
    for name in rng.sample(sorted(values), rng.randint(0, len(values))):
        headers[name] = values[name]()
    body = rng.randbytes(rng.choice([0, 0, 1, 10, 100, 2000])) if rng.random() < 0.6 else b""
    return rng.choice(METHODS), _path(rng, target), headers, body


def _setup(server: LiveServer) -> Target:
    service = TokenService.from_settings(Settings(jwt_secret=SECRET))
    token, other = service.issue("alice", ttl_s=3600), service.issue("mallory", ttl_s=3600)
    paths: list[str] = []
    with httpx.Client(base_url=server.url, timeout=30) as client:

        def create(headers: dict[str, str], who: str = token, body: bytes = b"") -> str:
            h = {**TUS, "Authorization": f"Bearer {who}", **headers}
            if body:
                h["Content-Type"] = OCTET
            response = client.post("/files/", headers=h, content=body)
            assert response.status_code == 201, response.text
            return urlsplit(response.headers["Location"]).path

        paths.append(create({"Upload-Length": "100"}))  # unfinished
        paths.append(create({"Upload-Length": "10"}, body=b"0123456789"))  # finished
        paths.append(create({"Upload-Defer-Length": "1"}))
        part = create({"Upload-Length": "5", "Upload-Concat": "partial"}, body=b"abcde")
        paths.append(part)
        final = create({"Upload-Concat": f"final;{part} {part}"})
        paths.append(final)
        paths.append(create({"Upload-Length": "50"}, who=other))  # someone else's
        data = b"x" * 20
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        paths.append(create({"Upload-Length": "20", "Repr-Digest": f"sha-256=:{digest}:"}, body=data))
        quoted = base64.b64encode(b'a"b\r\n.txt').decode()
        paths.append(create({"Upload-Length": "7", "Upload-Metadata": f"filename {quoted}"}))
    return Target(server, token, other, paths)


def _raw_request(rng: random.Random, target: Target) -> bytes:
    """What httpx will not send: bad header bytes, lying or doubled lengths, bare LF, obs-fold, cut bodies."""
    method = rng.choice(METHODS + ["BREW", "patch", "GET /x"])
    path = _path(rng, target).encode("utf-8", "surrogateescape")
    auth = f"Authorization: Bearer {target.token}\r\n".encode() if rng.random() < 0.7 else b""
    body = rng.randbytes(rng.choice([0, 5, 50]))
    lines = [b"Host: fuzz", b"Connection: close", b"Tus-Resumable: 1.0.0"]
    trick = rng.choice(
        [
            "length-lies-short",
            "length-lies-long",
            "two-lengths",
            "negative-length",
            "huge-length",
            "chunked-bad",
            "nul",
            "latin1",
            "bare-lf",
            "obs-fold",
            "no-colon",
            "space-before-colon",
            "http10",
            "nul-in-path",
            "chunked-and-length",
            "utf8-value",
            "ctl-value",
        ]
    )
    framing = [b"Content-Length: %d" % len(body)]
    newline = b"\r\n"
    version = b"HTTP/1.1"
    if trick == "length-lies-short":
        framing = [b"Content-Length: %d" % (len(body) + len(CUT) + rng.randint(1, 100))]
        body += CUT  # and the client stops sending
    elif trick == "length-lies-long":
        framing = [b"Content-Length: %d" % max(0, len(body) - 3)]
    elif trick == "two-lengths":
        framing = [b"Content-Length: %d" % len(body), b"Content-Length: %d" % (len(body) + 1)]
    elif trick == "negative-length":
        framing = [b"Content-Length: -5"]
    elif trick == "huge-length":
        framing = [b"Content-Length: 99999999999999999999999999"]
    elif trick == "chunked-bad":
        framing, body = [b"Transfer-Encoding: chunked"], b"zz\r\nabc\r\n0\r\n\r\n"
    elif trick == "chunked-and-length":
        framing, body = [b"Transfer-Encoding: chunked", b"Content-Length: 3"], b"3\r\nabc\r\n0\r\n\r\n"
    elif trick == "nul":
        lines.append(b"Upload-Offset: 0\x001")
    elif trick == "latin1":
        lines.append(b"Upload-Metadata: filename \xe9\xff")
    elif trick == "utf8-value":
        lines.append("Upload-Checksum: sha1 é€".encode())
    elif trick == "ctl-value":
        lines.append(b"Upload-Length: 5\x7f")
    elif trick == "bare-lf":
        newline = b"\n"
    elif trick == "obs-fold":
        lines.append(b"Upload-Metadata: filename YQ==\r\n  , x eQ==")
    elif trick == "no-colon":
        lines.append(b"Upload-Length 5")
    elif trick == "space-before-colon":
        lines.append(b"Upload-Length : 5")
    elif trick == "http10":
        version = b"HTTP/1.0"
    elif trick == "nul-in-path":
        path = path + b"\x00x"
    kind = rng.choice([b"Upload-Offset: 0", b"Upload-Length: 10", b"Upload-Defer-Length: 1", b""])
    head = [
        method.encode() + b" " + path + b" " + version,
        *lines,
        *framing,
        auth.rstrip(b"\r\n"),
        kind,
        b"Content-Type: " + OCTET.encode(),
    ]
    return newline.join(line for line in head if line) + newline + newline + body


def _raw_status(port: int, request: bytes) -> int | None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(request)
            if request.endswith(CUT):
                sock.shutdown(socket.SHUT_WR)  # the body ends here: the server sees the client leave
        except OSError:
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    if not answer.startswith(b"HTTP/1."):
        return None  # closed without an answer (a cut body): fine, as long as nothing broke
    return int(answer.split(b" ", 2)[1])


def _found(target: Target) -> list[bytes]:
    """What earlier runs of this fuzz found (each was a 500 with a traceback), replayed on every run."""
    auth = f"Authorization: Bearer {target.token}\r\nTus-Resumable: 1.0.0\r\nHost: fuzz\r\n".encode()
    unfinished, finished = target.paths[0], target.paths[1]
    return [
        # X-HTTP-Method-Override: HEAD on a POST/GET: a HEAD's Content-Length, no body, on a method that wants one
        b"POST %s HTTP/1.1\r\n%sX-HTTP-Method-Override: HEAD\r\nContent-Length: 0\r\n\r\n"
        % (unfinished.encode(), auth),
        b"GET %s HTTP/1.1\r\n%sX-HTTP-Method-Override: HEAD\r\n\r\n" % (finished.encode(), auth),
        b"GET /files/nope HTTP/1.1\r\n%sX-HTTP-Method-Override: HEAD\r\n\r\n" % auth,
        # a non-ASCII Upload-Checksum digest (seed 3): base64 refuses it with ValueError, not binascii.Error
        b"POST /files/ HTTP/1.1\r\n%sUpload-Length: 5\r\nUpload-Checksum: sha1 \xc3\xa9\xe2\x82\xac\r\n"
        b"Content-Type: application/offset+octet-stream\r\nContent-Length: 5\r\n\r\nhello" % auth,
        b"PATCH %s HTTP/1.1\r\n%sUpload-Offset: 0\r\nUpload-Checksum: sha1 \xe9\r\n"
        b"Content-Type: application/offset+octet-stream\r\nContent-Length: 5\r\n\r\nhello"
        % (unfinished.encode(), auth),
    ]


def test_fuzzed_requests_never_get_a_5xx(server_factory: ServerFactory) -> None:
    server = server_factory("--jwt-secret", SECRET, "--read-timeout", "5")
    target = _setup(server)
    rng = random.Random(SEED)
    failures: list[str] = []
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for number in range(HTTPX_REQUESTS):
            method, path, headers, body = _request(rng, target)
            raw_headers = {name: value.encode() for name, value in headers.items()}  # UTF-8 too, as bytes
            try:
                status: int | None = client.request(method, path, headers=raw_headers, content=body or None).status_code
            except httpx.LocalProtocolError:  # e.g. a value with outer spaces: h11 will not send it, a socket will
                lines = [
                    f"{method} {path} HTTP/1.1".encode(),
                    b"Host: fuzz",
                    b"Connection: close",
                    *(name.encode() + b": " + value for name, value in raw_headers.items()),
                    b"Content-Length: %d" % len(body),
                ]
                status = _raw_status(server.port, b"\r\n".join(lines) + b"\r\n\r\n" + body)
            except httpx.TransportError as exc:
                failures.append(f"#{number} {method} {path} {headers!r:.300} body={len(body)}: {exc!r}")
                continue
            if status is None:
                failures.append(f"#{number} {method} {path} {headers!r:.300} body={len(body)}: no answer")
                continue
            statuses[status] = statuses.get(status, 0) + 1
            if status >= 500:
                failures.append(f"#{number} {method} {path} {headers!r:.300} body={len(body)}: {status}")
    for request in _found(target):
        found = _raw_status(server.port, request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
        if found is None or found >= 500:
            failures.append(f"found earlier {request[:300]!r}: {found}")
    for number in range(RAW_REQUESTS):
        request = _raw_request(rng, target)
        raw = _raw_status(server.port, request)
        if raw is not None:
            statuses[raw] = statuses.get(raw, 0) + 1
            if raw >= 500:
                failures.append(f"raw #{number} {request[:300]!r}: {raw}")
    log = Path(server.log_path).read_text(errors="replace")
    assert not failures, f"seed {SEED}: {len(failures)} failures, statuses {statuses}:\n" + "\n".join(failures[:20])
    assert "Traceback" not in log, log[-4000:]
    assert sum(statuses.values()) >= 1000, statuses
    assert len([s for s in statuses if 400 <= s < 500]) >= 5, statuses  # the fuzz reached the handlers' checks

    auth = {**TUS, "Authorization": f"Bearer {target.token}"}
    created = httpx.post(server.endpoint, headers={**auth, "Upload-Length": "11"})
    assert created.status_code == 201, created.text
    patched = httpx.patch(
        created.headers["Location"],
        content=b"hello world",
        headers={**auth, "Upload-Offset": "0", "Content-Type": OCTET},
    )
    assert patched.status_code == 204, patched.text
    head = httpx.head(created.headers["Location"], headers=auth)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "11"
