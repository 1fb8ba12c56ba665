"""`python bench/s3.py`: the S3 store against moto, tusserver vs @tus/server with @tus/s3-store, in one run.

    python bench/s3.py [--rounds 3] [--quick] [--peers-dir DIR] [--output docs/benchmarks.md]

Both servers write to the same moto server (moto's standalone S3, real HTTP), each into a fresh
bucket; moto is reset between runs so its memory does not grow. Workloads: one 1 GiB upload in one
PATCH, and 64 uploads of 16 MiB at once. moto is a Python process on the same 2 cores, so it bounds
both servers: the ratio tusserver / @tus/server, computed within each round, is the figure to read.
The bytes are checked afterwards by downloading each object from moto (outside the timed part).
With `--output`, the "## S3 store" section of that file is replaced (or appended).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import workloads  # noqa: E402
from bench.peers import Peer, Running, free_port, node_package, package_version, start  # noqa: E402
from bench.run import _span, replace_section  # noqa: E402
from bench.workloads import MiB, Payload, Result  # noqa: E402

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
BUCKET = "bench"

TUS_NODE_S3_LAUNCHER = """\
import { Server } from '@tus/server'
import { S3Store } from '@tus/s3-store'
const [port] = process.argv.slice(2)
const datastore = new S3Store({
  s3ClientConfig: {
    bucket: process.env.BENCH_S3_BUCKET,
    endpoint: process.env.BENCH_S3_ENDPOINT,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  },
})
const server = new Server({ path: '/files', datastore })
server.listen({ host: '127.0.0.1', port: Number(port) })
"""


@contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    moto = Path(sys.executable).parent / "moto_server"
    port = free_port()
    log = open(workdir / "moto.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **CREDENTIALS})  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(endpoint, timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
    try:
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


def fresh_bucket(endpoint: str) -> None:
    """Forget every object moto holds (its memory) and make the bucket again."""
    import httpx

    httpx.post(f"{endpoint}/moto-api/reset", timeout=60).raise_for_status()
    s3_client(endpoint).create_bucket(Bucket=BUCKET)


@dataclass
class S3Running(Running):
    """A server on S3: `verify` reads the stored bytes back from moto."""

    endpoint: str = ""

    def stored_path(self, upload_id: str) -> Path:
        path = self.data_dir / f"{upload_id}.download"
        # One plain GET: boto3's download_file asks for 8 MiB ranges, and moto copies the whole object for each.
        body = s3_client(self.endpoint).get_object(Bucket=BUCKET, Key=upload_id)["Body"]
        with open(path, "wb") as out:
            for block in body.iter_chunks(8 * MiB):
                out.write(block)
        return path


def install_node_peer(workdir: Path, endpoint: str) -> Peer:
    packages = ("@tus/server", "@tus/s3-store")
    node_dir = node_package(workdir / "node-s3-peer", "server-s3.mjs", TUS_NODE_S3_LAUNCHER, *packages)
    version = package_version(node_dir, "@tus/s3-store")
    env = {**CREDENTIALS, "BENCH_S3_ENDPOINT": endpoint, "BENCH_S3_BUCKET": BUCKET}
    return Peer("@tus/server + s3-store", ["node", "server-s3.mjs", "{port}"], cwd=node_dir, env=env, version=version)


def tusserver_s3_peer(endpoint: str) -> Peer:
    from tusserver import __version__

    # Through `sh -c 'exec …'` (same pid) only to keep its log: the peers' output goes nowhere.
    serve = shlex.join([sys.executable, "-m", "tusserver", "serve", "--port", "{port}", "--data-dir", "{data}",
                        "--store", "s3", "--s3-endpoint-url", endpoint, "--s3-bucket", BUCKET])  # fmt: skip
    command = ["sh", "-c", f"exec {serve} 2>>{{data}}.log"]
    return Peer("tusserver", command, env=CREDENTIALS, version=__version__)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: a smoke run")
    parser.add_argument("--peers-dir", type=Path, help="install the Node peer here once and reuse it")
    parser.add_argument("--output", type=Path, help="replace the S3 section of this markdown file")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    big = 64 * MiB if args.quick else 1024 * MiB
    each = 4 * MiB if args.quick else 16 * MiB
    uploads = 8 if args.quick else 64
    block = os.urandom(MiB)
    big_payload, each_payload = Payload(big, block), Payload(each, block)

    with tempfile.TemporaryDirectory(prefix="tusbench-s3-") as tmp, moto_server(Path(tmp)) as endpoint:
        workdir = Path(tmp)
        ours = tusserver_s3_peer(endpoint)
        node = install_node_peer(args.peers_dir or workdir, endpoint)
        Run = Callable[[Running], Result]
        plan: list[tuple[str, Run]] = [
            (f"S3 single stream ({big // MiB} MiB, 1 PATCH)", lambda s: workloads.single_stream(s, big_payload)),
            (f"S3 concurrent ({uploads} x {each // MiB} MiB)",
             lambda s: workloads.concurrent(s, each_payload, uploads)),
        ]  # fmt: skip
        results: dict[tuple[str, str], list[Result]] = defaultdict(list)
        for round_number in range(rounds):
            for workload, run in plan:
                for peer in (ours, node):
                    fresh_bucket(endpoint)
                    running = start(peer, workdir)
                    s3_running = S3Running(**vars(running), endpoint=endpoint)
                    try:
                        result = run(s3_running)
                    except Exception:
                        log = Path(f"{running.data_dir}.log")
                        if log.exists():
                            print(log.read_text()[-5000:], file=sys.stderr)
                        raise
                    finally:
                        running.stop()
                    results[(workload, peer.name)].append(result)
                    print(f"round {round_number + 1}/{rounds}  {workload:34s} {peer.name:24s} "
                          f"{result.mb_per_s:6.0f} MB/s  cpu {result.cpu_per_gib:5.2f} s/GiB  "
                          f"rss {result.peak_rss / 1e6:5.1f} MB", flush=True)  # fmt: skip
        section = render(results, [p.name for p in (ours, node)], node, rounds, args.quick)
    print(section)
    if args.output:
        replace_section(args.output, section)
    return 0


def render(results: dict[tuple[str, str], list[Result]], names: list[str], node: Peer, rounds: int,
           quick: bool) -> str:  # fmt: skip
    from importlib.metadata import version

    moto = f"moto {version('moto')}"
    lines = [
        "## S3 store",
        "",
        f"Command: `python bench/s3.py --rounds {rounds}{' --quick' if quick else ''}`, run "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. tusserver `--store s3` (defaults: 8 MiB parts, "
        f"3 in flight) against @tus/server with @tus/s3-store {node.version} (its defaults), on the same "
        f"moto server ({moto}), one fresh bucket per run. moto, a Python process on the same cores, "
        "bounds both: read the ratio, computed within each round (median, min–max over rounds).",
        "",
        "| workload | server | MB/s | server CPU s/GiB | peak RSS MB | p99 s | tusserver / server |",
        "|---|---|---|---|---|---|---|",
    ]
    for workload in sorted({w for w, _ in results}, reverse=True):
        ours = results[(workload, names[0])]
        for name in names:
            runs = results[(workload, name)]
            ratio = ""
            if name != names[0]:
                ratio = _span([a.mb_per_s / b.mb_per_s for a, b in zip(ours, runs, strict=False)], "{:.2f}") + "x"
            p99 = _span([r.p99_s for r in runs], "{:.2f}") if runs[0].latencies else ""
            lines.append(
                f"| {workload} | {name} | {_span([r.mb_per_s for r in runs])} | "
                f"{_span([r.cpu_per_gib for r in runs], '{:.2f}')} | {_span([r.peak_rss / 1e6 for r in runs])} | "
                f"{p99} | {ratio} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
