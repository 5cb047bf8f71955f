"""Per-host sshd configuration and ed25519 keys for the test bed."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SSHD = "/usr/sbin/sshd"


def write_ed25519_key(path: str, comment: str) -> str:
    """Write a new OpenSSH private key (0600) and its ``.pub``; return the public line ``ssh-ed25519 AAAA...``."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    os.replace(tmp, path)
    line = public.decode()
    with open(path + ".pub", "w") as fh:
        fh.write(f"{line} {comment}\n")
    return line


def fingerprint(public_line: str) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint of a ``type base64`` public key line."""
    blob = base64.b64decode(public_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def sshd_config(*, address: str, host_key: str, pid_file: str, authorized_keys: str, user: str) -> str:
    # Public-key only, no PAM (fast and no account stack), internal sftp (no extra exec per session).
    return f"""\
ListenAddress {address}:22
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
AllowUsers {user}
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
AcceptEnv LANG LC_*
ClientAliveInterval 15
MaxStartups 100:30:200
MaxSessions 64
LogLevel INFO
Subsystem sftp internal-sftp
"""
