"""Certificates of TLS endpoints are fetched from our side, from a real TLS server on loopback."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from opskeeper.checks.security.collect import probe_endpoints
from opskeeper.checks.security.model import CheckContext, Facts
from opskeeper.checks.security.registry import get
from opskeeper.checks.security.scan import evaluate
from tests.checks.security.helpers import facts, self_signed_pem, target


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[int]:
    """A TLS listener on 127.0.0.1 presenting a certificate that expires in 3 days."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert_pem = self_signed_pem(days_left=3, key=key)
    (tmp_path / "cert.pem").write_text(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    sock = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield sock.getsockname()[1]
    stop.set()
    t.join()
    sock.close()


def test_endpoint_certificate_near_expiry(tls_server: int) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    eps = probe_endpoints([f"127.0.0.1:{tls_server}", f"127.0.0.1:{dead_port}"])
    base = facts(certs={"certs": [], "partial": False})
    f = Facts(base.euid, base.sections, {"tls_endpoints": eps})
    ctx = CheckContext(target(tls_endpoints=[e["endpoint"] for e in eps]), datetime.now(UTC), {})
    r = evaluate(f, [get("tls.cert-expiry")], ctx)[0]
    by_obj = {o.object: o for o in r.results}
    assert by_obj[f"tls:127.0.0.1:{tls_server}"].passed is False
    assert "expires in 2 days" in by_obj[f"tls:127.0.0.1:{tls_server}"].detail
    assert by_obj[f"tls:127.0.0.1:{dead_port}"].passed is None  # unreachable: not judged, not resolved
