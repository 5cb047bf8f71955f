"""Builders shared by the security tests: facts, targets, self-signed certificates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opskeeper.checks.security.model import Facts, ScanTarget, Section
from opskeeper.config.security import SecurityPolicy


def facts(**sections: Any) -> Facts:
    """Facts from keyword sections; a string value means the section failed with that error."""
    out = {
        name: Section(False, data, None) if isinstance(data, str) else Section(True, None, data)
        for name, data in sections.items()
    }
    return Facts(euid=0, sections=out)


def target(host: str = "h1", customer: str = "c1", ports: tuple[int, ...] = (), **policy: Any) -> ScanTarget:
    return ScanTarget(customer, "sys", host, SecurityPolicy(**policy), ports)


def self_signed_pem(
    days_left: float, cn: str = "test.example", key: ec.EllipticCurvePrivateKey | None = None
) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now + timedelta(days=days_left))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()
