"""SMTP over STARTTLS and implicit TLS with login from a secret reference (real aiosmtpd, self-signed CA)."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opskeeper.config.notify import SmtpSettings
from opskeeper.config.secrets import SecretRef
from tests.notify.conftest import Mailbox, free_port

T0 = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
MAINT = {"cadence": "monthly", "started_at": T0, "ended_at": T0 + timedelta(hours=2), "systems": ["ERP"]}
pytestmark = [pytest.mark.smtp, pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    c = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("tls")
    (d / "cert.pem").write_bytes(c.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return d / "cert.pem", d / "key.pem"


def _auth(server, session, envelope, mechanism, data):  # type: ignore[no-untyped-def]
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"ops", b"s3cret-pass")
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself


@pytest.fixture(params=["starttls", "ssl"])
def tls_server(request: pytest.FixtureRequest, cert: tuple[Path, Path]) -> Iterator[tuple[str, int, Mailbox]]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    box, port = Mailbox(), free_port()
    common: dict[str, Any] = {"authenticator": _auth, "auth_required": True}
    if request.param == "starttls":
        controller = Controller(
            box, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True, **common
        )
    else:
        controller = Controller(
            box, hostname="127.0.0.1", port=port, ssl_context=ctx, auth_require_tls=False, **common
        )
    controller.start()
    try:
        yield request.param, port, box
    finally:
        controller.stop()


def test_smtp_tls_with_login_from_secret(estate, ledger, notifier, tls_server, cert, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    security, port, box = tls_server
    monkeypatch.setenv("OPSKEEPER_TEST_SMTP_PASSWORD", "s3cret-pass")
    estate.emergency_plan.channel = "smtp"
    estate.emergency_plan.smtp = SmtpSettings(
        host="127.0.0.1", port=port, security=security, username="ops",
        password=SecretRef.model_validate("env:OPSKEEPER_TEST_SMTP_PASSWORD"), sender="ops@northwind.example",
        ca_file=str(cert[0]), timeout=timedelta(seconds=5),
    )  # fmt: skip
    [rec] = notifier.notify(estate, ledger, event="maintenance_completed", customer_id="hanhai", severity="routine",
                            context=MAINT, dedup_key="m-11", now=T0)  # fmt: skip
    assert rec.status == "sent", rec.failure
    [mail] = box.messages()
    assert mail["Subject"] == "月度维护已完成：ERP"
    assert "2026年11月28日 22:00 (CST)" in mail.get_body(("plain",)).get_content()


def test_smtp_wrong_password_fails_permanently(
    estate, ledger, notifier, tls_server, cert, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    security, port, box = tls_server
    monkeypatch.setenv("OPSKEEPER_TEST_SMTP_PASSWORD", "wrong-password")
    estate.emergency_plan.channel = "smtp"
    estate.emergency_plan.smtp = SmtpSettings(
        host="127.0.0.1", port=port, security=security, username="ops",
        password=SecretRef.model_validate("env:OPSKEEPER_TEST_SMTP_PASSWORD"), sender="ops@northwind.example",
        ca_file=str(cert[0]), timeout=timedelta(seconds=5),
    )  # fmt: skip
    [rec] = notifier.notify(estate, ledger, event="maintenance_completed", customer_id="hanhai", severity="routine",
                            context=MAINT, dedup_key="m-11", now=T0)  # fmt: skip
    assert rec.status == "failed" and rec.attempts == 1, rec.failure
    assert "login refused" in (rec.failure or "") and "wrong-password" not in (rec.failure or "")
    assert box.envelopes == []
