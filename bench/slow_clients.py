"""Many slow clients: thousands of uploads at once, each trickling about 64 KiB/s, as mobile clients do.

Each client opens its own connection, creates an upload of `rate × seconds` bytes and sends it in
PATCHes of `patch_bytes`, pacing every body at `rate` (a write of rate/4 every 250 ms, on an absolute
schedule: a client that falls behind because the server is slow sends what is due at once, as TCP
backpressure allows). What is measured is the server: peak RSS, CPU seconds per GiB, the time of
every PATCH (its ideal is patch_bytes / rate; p99 above that is the server's doing) and whether
every upload reached its length.

The clients run in several driver processes (`drive` below, asyncio, uvloop when installed) so the
client side is not the bottleneck; each raises its open-files limit. Driven by bench/run.py
(`--slow-clients`), or alone:

    python -m bench.slow_clients drive --port 1080 --path /files/ --clients 1000 --length 1966080 \
        --patch 524288 --rate 65536 --block-file BLOCK --out result.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .peers import Running
from .workloads import Payload, Result, _measure, verify

TICK_S = 0.25
STALL_S = 120.0  # a client that cannot write or read for this long gives up (counted as an error)
_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class SlowRun:
    clients: int = 2000
    rate: int = 64 * 1024  # bytes per second per client
    seconds: float = 30.0
    patch_bytes: int = 512 * 1024
    drivers: int = 2
    ramp_s: float = 5.0  # client starts spread over this long, as real arrivals are

    @property
    def length(self) -> int:
        return int(self.rate * self.seconds)

    @property
    def ideal_patch_s(self) -> float:
        return self.patch_bytes / self.rate


@dataclass
class SlowResult(Result):
    completed: int = 0
    clients: int = 0
    errors: list[str] = field(default_factory=list)


def raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def slow_clients(server: Running, payload: Payload, plan: SlowRun) -> SlowResult:
    """Run `plan.clients` paced uploads against `server` from `plan.drivers` driver processes."""
    assert payload.size >= plan.length
    raise_open_files()
    outputs: list[dict[str, object]] = []
    block_file = server.data_dir.parent / "slow-clients-block"  # the drivers send the payload's bytes
    block_file.write_bytes(payload.block)

    def run() -> Result:
        share = [plan.clients // plan.drivers + (i < plan.clients % plan.drivers) for i in range(plan.drivers)]
        results = [server.data_dir.parent / f"slow-clients-{i}.json" for i in range(plan.drivers)]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.slow_clients",
                    "drive",
                    "--port",
                    str(server.port),
                    "--path",
                    server.endpoint_path,
                    "--clients",
                    str(n),
                    "--length",
                    str(plan.length),
                    "--patch",
                    str(plan.patch_bytes),
                    "--rate",
                    str(plan.rate),
                    "--ramp",
                    str(plan.ramp_s),
                    "--block-file",
                    block_file,
                    "--out",
                    str(out),
                ],
                cwd=_ROOT,
            )
            for n, out in zip(share, results, strict=True)
        ]
        for proc, out in zip(procs, results, strict=True):
            proc.wait(timeout=plan.seconds * 10 + 120)
            outputs.append(json.loads(out.read_text()))
        latencies = [t for o in outputs for t in o["patch_times"]]  # type: ignore[attr-defined]
        acknowledged = sum(int(o["bytes"]) for o in outputs)  # type: ignore[call-overload]
        return SlowResult(0, bytes=acknowledged, uploads=plan.clients, latencies=latencies)

    result = _measure(server, run)
    assert isinstance(result, SlowResult)
    result.clients = plan.clients
    result.completed = sum(int(o["completed"]) for o in outputs)  # type: ignore[call-overload]
    result.errors = [e for o in outputs for e in o["errors"]]  # type: ignore[attr-defined]
    paths = [p for o in outputs for p in o["paths"]]  # type: ignore[attr-defined]
    expected = Payload(plan.length, payload.block)
    for path in paths[:: max(1, len(paths) // 20)]:  # a sample of the stored files, byte for byte
        verify(server, path, expected)
    return result


# -- the driver process ---------------------------------------------------------------------------


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if int(headers.get("content-length", "0")):
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":  # @tus/server answers a POST so
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")  # no trailers sent by the servers here
    return status, headers


async def _one_client(args: argparse.Namespace, body: memoryview, delay: float, out: dict[str, list[object]]) -> None:
    await asyncio.sleep(delay)
    writer: asyncio.StreamWriter | None = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", args.port), STALL_S)
        writer.write(
            f"POST {args.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
            f"Upload-Length: {args.length}\r\nContent-Length: 0\r\n\r\n".encode()
        )
        status, headers = await asyncio.wait_for(_response(reader), STALL_S)
        if status != 201:
            raise RuntimeError(f"POST answered {status}")
        path = urlsplit(headers["location"]).path
        step = max(1, int(args.rate * TICK_S))
        offset = 0
        while offset < args.length:
            size = min(args.patch, args.length - offset)
            begin = time.monotonic()
            async with asyncio.timeout(size / args.rate + STALL_S):  # a stalled server: an error, not a hang
                writer.write(
                    f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n"
                    f"Content-Type: application/offset+octet-stream\r\nContent-Length: {size}\r\n\r\n".encode()
                )
                sent = 0
                tick = 0
                while sent < size:
                    tick += 1
                    if (wait := begin + tick * TICK_S - time.monotonic()) > 0:
                        await asyncio.sleep(wait)
                    due = min(size, tick * step)  # what the schedule says should be out by now
                    writer.write(body[offset + sent : offset + due])
                    await writer.drain()
                    sent = due
                status, headers = await _response(reader)
                if status != 204:
                    raise RuntimeError(f"PATCH answered {status}")
                offset = int(headers["upload-offset"])
            out["patch_times"].append(time.monotonic() - begin)
        out["paths"].append(path)
        out["bytes"][0] += offset  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - counted and reported, the other clients go on
        out["errors"].append(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    finally:
        if writer is not None:
            writer.close()


async def _drive(args: argparse.Namespace) -> dict[str, object]:
    block = Path(args.block_file).read_bytes()
    body = memoryview((block * (args.length // len(block) + 1))[: args.length])  # shared by all clients
    out: dict[str, list[object]] = {"patch_times": [], "paths": [], "errors": [], "bytes": [0]}
    rng = random.Random(args.clients)
    await asyncio.gather(*(_one_client(args, body, rng.uniform(0, args.ramp), out) for _ in range(args.clients)))
    return {
        "patch_times": out["patch_times"],
        "paths": out["paths"],
        "completed": len(out["paths"]),
        "errors": out["errors"][:20],
        "bytes": out["bytes"][0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["drive"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/files/")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--length", type=int, default=30 * 64 * 1024)
    parser.add_argument("--patch", type=int, default=512 * 1024)
    parser.add_argument("--rate", type=int, default=64 * 1024)
    parser.add_argument("--ramp", type=float, default=2.0)
    parser.add_argument("--block-file", required=True, help="file with the bytes to repeat as the body")
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    args = parser.parse_args()
    raise_open_files()
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    # A file, not stdout: a result over 64 KiB came out cut at 65,536 bytes, the pipe's size (most likely
    # the event loop left the inherited descriptor non-blocking while the parent was reading another driver)
    Path(args.out).write_text(json.dumps(asyncio.run(_drive(args))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
