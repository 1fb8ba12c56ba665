"""Every shell and Python block of README.md, run as written against a real server.

A block runs in one shared scratch folder that holds what a reader would have at hand: `video.mp4`,
`part-000`, a key pair, and the repository's `.venv` and `examples/`. The test only substitutes what a
reader would: the server's address for the README's (`127.0.0.1:1080`, `uploads.example.com`…), an
upload id for `<id>`, a token for `<t2>`, a real command for the made-up `my-backend-cli`. A block that
mentions tokens, JWTs or secrets runs against a server with auth on (its secret in `SECRET` and
`TUSSERVER_JWT_SECRET`, a token in `TOKEN` and in Python's `token`); the others against one without.
In shell blocks `curl` fails on an HTTP error and `tusserver serve ...` starts that server on a free
port, waits until it answers and stops it. A block preceded by `<!-- readme-test: skip (reason) -->`
is not run; there are few, each with a reason.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import TUS, LiveServer, free_port, require_tool

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SECRET = "readme-test-secret-readme-test-secret"
RUNNABLE = {"sh", "bash", "shell", "python", "py"}
AUTH_WORDS = re.compile(r"token|bearer|jwt|secret", re.IGNORECASE)
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
PLACEHOLDERS = {"my-backend-cli get-upload-token": "tusserver token --sub alice --ttl 60"}
ADDRESSES = ("http://127.0.0.1:1080", "https://uploads.example.com", "https://uploads.example.test")

SHELL_PRELUDE = r"""
set -euo pipefail
curl() { command curl --fail-with-body "$@"; }
# `tusserver serve ...` as written, on a free port: it must start and answer, then it is stopped.
tusserver() {
  if [ "${1:-}" != serve ]; then command tusserver "$@"; return; fi
  shift
  command tusserver serve "$@" --host 127.0.0.1 --port "$SERVE_CHECK_PORT" --data-dir serve-check-data \
    --log-level warning & local pid=$!
  for _ in $(seq 1 150); do
    if command curl -s -o /dev/null -X OPTIONS "http://127.0.0.1:$SERVE_CHECK_PORT/files/"; then
      kill "$pid"; wait "$pid" || true; return 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "tusserver serve $* exited" >&2; return 1; }
    sleep 0.2
  done
  kill "$pid"; echo "tusserver serve $* did not answer" >&2; return 1
}
"""


@dataclass(frozen=True)
class Block:
    line: int
    lang: str
    body: str
    skip_reason: str | None

    @property
    def auth(self) -> bool:
        return bool(AUTH_WORDS.search(self.body))

    @property
    def activates(self) -> bool:
        return bool(re.search(r"^\s*(\.|source) \.venv/bin/activate", self.body, re.M))

    @property
    def id(self) -> str:
        return f"README.md:{self.line}-{self.lang}"


def readme_blocks() -> list[Block]:
    text = README.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        if match.group("lang") not in RUNNABLE:
            continue
        before = text[: match.start()].rstrip().splitlines()
        skip = SKIP.search(before[-1]) if before else None
        body = textwrap.dedent(match.group("indent") + match.group("body"))
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(line, match.group("lang"), body, skip.group("reason") if skip else None))
    return blocks


BLOCKS = readme_blocks()


def earlier_imports(block: Block) -> list[str]:
    lines: list[str] = []
    for earlier in BLOCKS:
        if earlier.line >= block.line:
            break
        if earlier.lang in ("python", "py"):
            lines += [line + "\n" for line in earlier.body.splitlines() if re.match(r"(import|from) \w", line)]
    return lines


def mint(sub: str = "alice", ttl: int = 300) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tusserver", "token", "--sub", sub, "--ttl", str(ttl)],
        capture_output=True, text=True, check=True, env={"TUSSERVER_JWT_SECRET": SECRET, "PATH": ""},
    )  # fmt: skip
    return done.stdout.strip()


@dataclass
class Servers:
    open: LiveServer
    auth: LiveServer


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    open_server = LiveServer(tmp_path_factory.mktemp("readme-open") / "data").start()
    auth_server = LiveServer(tmp_path_factory.mktemp("readme-auth") / "data", env={"TUSSERVER_JWT_SECRET": SECRET})
    auth_server.start()
    yield Servers(open_server, auth_server)
    open_server.stop()
    auth_server.stop()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a reader has at hand: the repository's venv and examples, a file to upload, a key pair."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    work = tmp_path_factory.mktemp("readme")
    venv = ROOT / ".venv" if (ROOT / ".venv").exists() else Path(sys.executable).parents[1]
    (work / ".venv").symlink_to(venv)
    (work / "examples").symlink_to(ROOT / "examples")
    (work / "video.mp4").write_bytes(bytes(range(256)) * 4096 + b"tail")
    (work / "part-000").write_bytes(b"x" * 1000)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (work / "private.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (work / "public.pem").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return work


def _create(server: LiveServer, length: int, token: str | None) -> str:
    headers = {**TUS, "Upload-Length": str(length)}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = httpx.post(server.endpoint, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.headers["Location"])


def substitute(body: str, server: LiveServer, token: str | None) -> str:
    for address in ADDRESSES:
        body = body.replace(address, server.url)
    for placeholder, real in PLACEHOLDERS.items():
        body = body.replace(placeholder, real)
    if "<id>" in body:
        body = body.replace("<id>", _create(server, 11, token).rsplit("/", 1)[1])
    return re.sub(r"<t\d+>", lambda _: mint(), body)


def test_the_readme_has_blocks_and_few_skips() -> None:
    runnable = [b for b in BLOCKS if b.skip_reason is None]
    assert len(runnable) >= 10, [b.id for b in BLOCKS]
    skipped = [b for b in BLOCKS if b.skip_reason is not None]
    assert len(skipped) <= 4, [(b.id, b.skip_reason) for b in skipped]


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_block_runs_as_written(block: Block, servers: Servers, workspace: Path) -> None:
    if block.skip_reason is not None:
        pytest.skip(block.skip_reason)
    for tool in ("java", "openssl", "node", "newman"):
        if re.search(rf"(^|[\s(]){tool}\s", block.body, re.M):
            require_tool(tool)
    server = servers.auth if block.auth else servers.open
    token = mint() if block.auth else None
    # One reader's session: `tusserver` is on PATH only once a block before (or this one) activated the venv,
    # so a README that forgets to say so fails here, as it would for the reader.
    system_path = "/usr/local/bin:/usr/bin:/bin"
    activated = any(b.activates for b in BLOCKS if b.line < block.line and b.skip_reason is None)
    env = {
        "PATH": f"{Path(sys.executable).parent}:{system_path}" if activated else system_path,
        "HOME": str(workspace),
        "SERVE_CHECK_PORT": str(free_port()),
        "URL": _create(server, 1000, token),  # for blocks that PATCH "$URL" at "$OFFSET" with part-000
        "OFFSET": "0",
    }
    if block.auth:
        env.update(TUSSERVER_JWT_SECRET=SECRET, SECRET=SECRET, ROTATION_SECRET=SECRET[::-1], TOKEN=mint())
    body = substitute(block.body, server, token)
    if block.lang in ("python", "py"):
        # A reader runs the README's Python in one session: a snippet may use what an earlier one imported.
        prelude = "".join(earlier_imports(block))
        if block.auth:
            prelude += f"token = {token!r}\nuser_id = 'alice'\nSECRET = {SECRET!r}\n"
        script = workspace / f"block_{block.line}.py"
        script.write_text(prelude + body)
        command = [sys.executable if activated else "python3", str(script)]
    else:
        command = ["bash", "-c", SHELL_PRELUDE + body]
    done = subprocess.run(command, cwd=workspace, env=env, capture_output=True, text=True, timeout=300)
    output = f"--- stdout\n{done.stdout[-2000:]}\n--- stderr\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"{block.id} failed:\n{body}\n{output}"
