"""Helpers for the SSH tests: targets for test-bed hosts, extra client keys."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from opskeeper.config.secrets import SecretRef
from opskeeper.remote.ssh import SSHTarget
from testbed import TestHost


def target(h: TestHost, **overrides: object) -> SSHTarget:
    fields: dict[str, object] = dict(
        name=h.name, address=h.address, user=h.user, key=SecretRef(ref=f"file:{h.key_path}"),
        host_key=h.host_key_line, sudo=True, connect_timeout=3.0,
    )
    fields.update(overrides)
    return SSHTarget(**fields)  # type: ignore[arg-type]


def new_client_key(path: Path, passphrase: bytes | None = None) -> str:
    """Write an ed25519 private key (encrypted when a passphrase is given); return its public line."""
    key = Ed25519PrivateKey.generate()
    enc = (serialization.BestAvailableEncryption(passphrase) if passphrase
           else serialization.NoEncryption())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, enc))
    path.chmod(0o600)
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return pub.decode()
