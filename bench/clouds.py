"""`python bench/clouds.py`: the Azure and GCS stores against their emulators, tusserver vs @tus/server with
@tus/azure-store and @tus/gcs-store, in one run.

    python bench/clouds.py [--cloud azure|gcs] [--rounds 3] [--quick] [--peers-dir DIR] [--output docs/benchmarks.md]

Both servers write to the same emulator (Azurite from tests/node, fake-gcs-server from its PyPI wrapper,
started as the tests start them), each run into a fresh container/bucket. Workloads: one upload in one
PATCH, and several uploads at once. The emulators run on the same 2 cores and bound both servers: the
ratio tusserver / @tus/server, computed within each round, is the figure to read, with peak RSS (memory per
PATCH: @tus/azure-store gathers a whole PATCH in memory before it appends it). The bytes are checked
afterwards by reading each object back from the emulator (outside the timed part). With `--output`, the
"## Cloud stores" section of that file is replaced (or appended).
"""

from __future__ import annotations

import argparse
import os
import shlex
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
from bench.peers import Peer, Running, node_package, package_version, start  # noqa: E402
from bench.run import _span, replace_section  # noqa: E402
from bench.workloads import MiB, Payload, Result  # noqa: E402
from tests.cloud_support import (  # noqa: E402
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    AzureServer,
    GCSServer,
    running_azurite,
    running_fake_gcs,
)

AZURE_LAUNCHER = """\
import { Server } from '@tus/server'
import { AzureStore } from '@tus/azure-store'
import { BlobServiceClient } from '@azure/storage-blob'
const [port] = process.argv.slice(2)
const container = process.env.BENCH_CONTAINER
const datastore = new AzureStore({ account: process.env.BENCH_ACCOUNT, accountKey: process.env.BENCH_KEY,
                                   containerName: container })
// @tus/azure-store builds the account's public URL itself: point its clients at the emulator instead.
const service = BlobServiceClient.fromConnectionString(process.env.AZURE_STORAGE_CONNECTION_STRING)
datastore.blobServiceClient = service
datastore.containerClient = service.getContainerClient(container)
const server = new Server({ path: '/files', datastore })
server.listen({ host: '127.0.0.1', port: Number(port) })
"""

GCS_LAUNCHER = """\
import { Server } from '@tus/server'
import { GCSStore } from '@tus/gcs-store'
import { Storage } from '@google-cloud/storage'
const [port] = process.argv.slice(2)
const storage = new Storage({ apiEndpoint: process.env.STORAGE_EMULATOR_HOST, projectId: 'bench' })
const datastore = new GCSStore({ bucket: storage.bucket(process.env.BENCH_BUCKET) })
const server = new Server({ path: '/files', datastore })
server.listen({ host: '127.0.0.1', port: Number(port) })
"""


@dataclass
class CloudRunning(Running):
    """A server on a cloud emulator: `verify` reads the stored bytes back from it."""

    read_back: Callable[[str], Iterator[bytes]] | None = None

    def stored_path(self, upload_id: str) -> Path:
        assert self.read_back is not None
        path = self.data_dir / f"{upload_id}.download"
        with open(path, "wb") as out:
            for block in self.read_back(upload_id):
                out.write(block)
        return path


@dataclass
class Cloud:
    """One emulator, and how each server is pointed at a fresh container/bucket in it."""

    name: str
    server: AzureServer | GCSServer
    used: int = 0

    def fresh(self) -> str:
        self.used += 1
        name = f"bench{self.used}"
        if isinstance(self.server, AzureServer):
            service: Any = AzureServer(self.server.connection_string, name).container_client()
            service.create_container()
        else:
            client: Any = self.server.client()
            client.create_bucket(name)
        return name

    def read_back(self, where: str) -> Callable[[str], Iterator[bytes]]:
        def blocks(upload_id: str) -> Iterator[bytes]:
            if isinstance(self.server, AzureServer):
                container: Any = AzureServer(self.server.connection_string, where).container_client()
                yield from container.get_blob_client(upload_id).download_blob().chunks()
                return
            client: Any = self.server.client()
            yield client.bucket(where).blob(upload_id).download_as_bytes()

        return blocks

    def tusserver(self, where: str) -> Peer:
        from tusserver import __version__

        flags = ["--store", "azure", "--azure-container", where] if self.name == "azure" else [
            "--store", "gcs", "--gcs-bucket", where, "--gcs-project", "bench"]  # fmt: skip
        serve = shlex.join([sys.executable, "-m", "tusserver", "serve", "--port", "{port}", "--data-dir", "{data}",
                            *flags])  # fmt: skip
        return Peer(
            "tusserver", ["sh", "-c", f"exec {serve} 2>>{{data}}.log"], env=self.env(where), version=__version__
        )

    def node(self, peers_dir: Path, where: str) -> Peer:
        if self.name == "azure":
            packages = ("@tus/server", "@azure/storage-blob", "@tus/azure-store")
            node_dir = node_package(peers_dir / "node-azure-peer", "server-azure.mjs", AZURE_LAUNCHER, *packages)
        else:
            packages = ("@tus/server", "@google-cloud/storage", "@tus/gcs-store")
            node_dir = node_package(peers_dir / "node-gcs-peer", "server-gcs.mjs", GCS_LAUNCHER, *packages)
        version = package_version(node_dir, packages[-1])
        launcher = "server-azure.mjs" if self.name == "azure" else "server-gcs.mjs"
        return Peer(f"@tus/server + {self.name}-store", ["node", launcher, "{port}"], cwd=node_dir,
                    env=self.env(where), version=version)  # fmt: skip

    def env(self, where: str) -> dict[str, str]:
        if isinstance(self.server, AzureServer):
            return {
                **self.server.env,
                "BENCH_CONTAINER": where,
                "BENCH_ACCOUNT": AZURITE_ACCOUNT,
                "BENCH_KEY": AZURITE_KEY,
            }
        return {**self.server.env, "BENCH_BUCKET": where}


@contextmanager
def emulator(name: str, workdir: Path) -> Iterator[Cloud]:
    directory = workdir / name
    directory.mkdir()
    running = running_azurite if name == "azure" else running_fake_gcs
    with running(directory) as server:
        yield Cloud(name, server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cloud", choices=["azure", "gcs"], action="append", help="default: both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: a smoke run")
    parser.add_argument("--peers-dir", type=Path, help="install the Node peers here once and reuse them")
    parser.add_argument("--output", type=Path, help="replace the cloud section of this markdown file")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    big = 64 * MiB if args.quick else 256 * MiB
    each = 4 * MiB if args.quick else 16 * MiB
    uploads = 8 if args.quick else 16
    block = os.urandom(MiB)
    big_payload, each_payload = Payload(big, block), Payload(each, block)
    Run = Callable[[Running], Result]
    plan: list[tuple[str, Run]] = [
        (f"single stream ({big // MiB} MiB, 1 PATCH)", lambda s: workloads.single_stream(s, big_payload)),
        (f"concurrent ({uploads} x {each // MiB} MiB)", lambda s: workloads.concurrent(s, each_payload, uploads)),
    ]  # fmt: skip
    results: dict[tuple[str, str], list[Result]] = defaultdict(list)
    versions: dict[str, str] = {}
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="tusbench-clouds-") as tmp:
        workdir = Path(tmp)
        for name in args.cloud or ["azure", "gcs"]:
            with emulator(name, workdir) as cloud:
                for round_number in range(rounds):
                    for workload, run in plan:
                        for make in (cloud.tusserver, lambda where: cloud.node(args.peers_dir or workdir, where)):
                            where = cloud.fresh()
                            peer = make(where)
                            versions[peer.name] = peer.version
                            running = start(peer, workdir)
                            on_cloud = CloudRunning(**vars(running), read_back=cloud.read_back(where))
                            label = f"{name}: {workload}"
                            try:
                                result = run(on_cloud)
                            except Exception as exc:
                                log = Path(f"{running.data_dir}.log")
                                if log.exists():
                                    print(log.read_text()[-5000:], file=sys.stderr)
                                if peer.name == "tusserver":
                                    raise
                                # A peer that cannot run on the emulator is reported, not a reason to stop.
                                failed[label] = f"{peer.name} failed: {str(exc)[:80] or type(exc).__name__}"
                                print(f"round {round_number + 1}/{rounds}  {label:40s} {failed[label]}", flush=True)
                                continue
                            finally:
                                running.stop()
                            results[(label, "tusserver" if peer.name == "tusserver" else "node")].append(result)
                            print(f"round {round_number + 1}/{rounds}  {label:40s} {peer.name:26s} "
                                  f"{result.mb_per_s:6.0f} MB/s  cpu {result.cpu_per_gib:5.2f} s/GiB  "
                                  f"rss {result.peak_rss / 1e6:5.1f} MB", flush=True)  # fmt: skip
    section = render(results, versions, failed, rounds, args.quick)
    print(section)
    if args.output:
        replace_section(args.output, section)
    return 0


def render(
    results: dict[tuple[str, str], list[Result]],
    versions: dict[str, str],
    failed: dict[str, str],
    rounds: int,
    quick: bool,
) -> str:
    node_versions = ", ".join(f"{name} {version}" for name, version in versions.items() if name != "tusserver")
    lines = [
        "## Cloud stores",
        "",
        f"Command: `python bench/clouds.py --rounds {rounds}{' --quick' if quick else ''}`, run "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. tusserver `--store azure` / `--store gcs` "
        f"(defaults) against {node_versions} (their defaults), on the same emulator (Azurite, fake-gcs-server), "
        "one fresh container/bucket per run. The emulators run on the same cores and bound both servers: read the "
        "ratio, computed within each round (median, min–max over rounds), and the peak RSS.",
        "",
        "| workload | server | MB/s | server CPU s/GiB | peak RSS MB | tusserver / @tus/server (speed) | RSS ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for workload in sorted({w for w, _ in results}):
        ours, theirs = results[(workload, "tusserver")], results.get((workload, "node"), [])
        if not theirs:
            lines.append(f"| {workload} | @tus/server | {failed.get(workload, 'did not run')} | | | | |")
        for name, runs in (("tusserver", ours), ("@tus/server", theirs)):
            if not runs:
                continue
            speed = rss = ""
            if name != "tusserver":
                speed = _span([a.mb_per_s / b.mb_per_s for a, b in zip(ours, runs, strict=False)], "{:.2f}") + "x"
                rss = _span([a.peak_rss / b.peak_rss for a, b in zip(ours, runs, strict=False)], "{:.2f}") + "x"
            lines.append(
                f"| {workload} | {name} | {_span([r.mb_per_s for r in runs])} | "
                f"{_span([r.cpu_per_gib for r in runs], '{:.2f}')} | {_span([r.peak_rss / 1e6 for r in runs])} | "
                f"{speed} | {rss} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
