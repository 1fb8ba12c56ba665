"""TLS connections that never finish the handshake (issue #22).

Before: the handshake ran before the HTTP protocol (and its read timer) saw the connection, and uvicorn
gives the loop no handshake timeout, so a client that opened a TCP connection to a TLS server and sent
nothing, or the start of a ClientHello, was closed only at the loop's default of 60 s whatever
`--read-timeout` said. Now the handshake must finish within `--read-timeout`.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.security.transport_support import fd_count, peer_closed
from tests.support import TUS, LiveServer, wait_for

READ_TIMEOUT = 2


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made here (no openssl needed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class TlsServer(LiveServer):
    """A LiveServer over TLS: ready once an HTTPS OPTIONS trusting `cert` answers."""

    def __init__(self, data_dir: Path, cert: Path, *args: str) -> None:
        super().__init__(data_dir, *args)
        self.context = ssl.create_default_context(cafile=str(cert))

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}: {self.log()}")
        try:
            return httpx.options(self.endpoint, verify=self.context, timeout=2).status_code == 204
        except httpx.TransportError:
            return False


def test_a_handshake_that_never_finishes_is_cut_at_the_read_timeout(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = TlsServer(
        tmp_path / "data", cert, "--tls-cert", str(cert), "--tls-key", str(key), "--read-timeout", str(READ_TIMEOUT)
    )
    server.start()
    try:
        assert server.proc is not None
        pid = server.proc.pid
        baseline = fd_count(pid)
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        started = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        started.sendall(b"\x16\x03\x01\x02\x00\x01")  # a TLS record header and the start of a ClientHello
        with silent, started:
            # Far below the loop's 60 s default, which is what closed them before.
            wait_for(lambda: peer_closed(silent), timeout=30, what="a silent TLS connection closed")
            wait_for(lambda: peer_closed(started), timeout=30, what="a half-sent ClientHello closed")
        wait_for(lambda: fd_count(pid) <= baseline, timeout=30, what="server descriptors back")
        created = httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "0"}, verify=server.context)
        assert created.status_code == 201, created.text
        assert created.headers["Location"].startswith("https://")
        assert "Traceback" not in server.log()
    finally:
        server.stop()
