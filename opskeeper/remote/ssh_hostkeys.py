"""Pinned SSH host keys: what we expect (estate line or known_hosts), what the host shows, and the verdict.

RejectPolicy semantics: no pinned key, or a key that differs from the pinned one,
refuses the host. Each refusal is a :class:`SecurityEvent`: one line on the console
(the ``opskeeper.security`` logger, WARNING), an entry in the audit trail.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import paramiko

from opskeeper.remote.interface import HostKeyRejected

if TYPE_CHECKING:
    from opskeeper.remote.ssh import SSHTarget

# Host key algorithm names a pinned key type can be negotiated as (RSA keys sign with SHA-2 today).
_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


class HostKeyProblem(StrEnum):
    UNKNOWN = "host-key-unknown"  # nothing pinned for this host
    CHANGED = "host-key-changed"  # the host shows a different key than the pinned one


@dataclass(frozen=True)
class SecurityEvent:
    """A host refused because of its host key; ``action`` is the audit action name."""

    host: str
    address: str
    port: int
    problem: HostKeyProblem
    presented: str  # "ssh-ed25519 SHA256:..."
    expected: tuple[str, ...]  # fingerprints pinned, empty when unknown
    source: str  # where the pin came from: "estate" or the known_hosts path
    advice: str  # what it means and what to do

    @property
    def action(self) -> str:
        return f"ssh.{self.problem.value}"

    @property
    def line(self) -> str:
        """One line naming the host and both fingerprints, as the console shows it."""
        expected = " or ".join(_fingerprint(k) for k in self.expected) or f"nothing ({self.source})"
        return (f"host {self.host} ({self.address}:{self.port}): host key refused: "
                f"expected {expected}, presented {_fingerprint(self.presented)}")

    @property
    def message(self) -> str:
        return f"{self.line}; {self.advice}"

    def details(self) -> dict[str, object]:
        return {"address": f"{self.address}:{self.port}", "presented": self.presented,
                "expected": list(self.expected), "source": self.source}

    def error(self) -> HostKeyRejected:
        return HostKeyRejected(self.message, event=self)


SecurityEventHook = Callable[[SecurityEvent], None]


class Auditor(Protocol):
    """What the hook needs of the ledger (``opskeeper.ledger.Ledger`` has it)."""

    def audit(self, actor: str, action: str, subject: str, details: dict | None = None) -> None: ...


def audit_security_events(ledger: Auditor, actor: str = "opskeeper") -> SecurityEventHook:
    """A hook recording each refused host key in the hash-chained audit trail (``ssh.host-key-*``)."""

    def record(event: SecurityEvent) -> None:
        ledger.audit(actor, event.action, f"host:{event.host}", {**event.details(), "message": event.message})

    return record


@dataclass(frozen=True)
class ExpectedKeys:
    blobs: dict[bytes, str]  # key blob -> key type name
    source: str

    @property
    def key_types(self) -> list[str]:
        names: list[str] = []
        for kind in self.blobs.values():
            names += [n for n in _ALGORITHMS.get(kind, (kind,)) if n not in names]
        return names


def _fingerprint(described: str) -> str:
    """"ssh-ed25519 SHA256:abc" -> "SHA256:abc"."""
    return described.rpartition(" ")[2]


def fingerprint_blob(blob: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _parse_line(line: str, where: str) -> tuple[bytes, str]:
    parts = line.split()
    try:
        return base64.b64decode(parts[1], validate=True), parts[0]
    except (IndexError, binascii.Error) as e:
        raise HostKeyRejected(f"{where}: pinned host key is not 'TYPE BASE64' (e.g. 'ssh-ed25519 AAAA...')") from e


def expected_host_keys(t: SSHTarget) -> ExpectedKeys:
    """The keys pinned for ``t``: its estate ``host_key`` line and/or the entries of its known_hosts file."""
    blobs: dict[bytes, str] = {}
    sources = []
    if t.host_key:
        blob, kind = _parse_line(t.host_key, t.endpoint)
        blobs[blob] = kind
        sources.append("estate")
    if t.known_hosts:
        try:
            known = paramiko.HostKeys(t.known_hosts)
        except (OSError, paramiko.SSHException) as e:
            raise HostKeyRejected(f"{t.endpoint}: cannot read known_hosts file {t.known_hosts}: {e}") from e
        names = [t.address if t.port == 22 else f"[{t.address}]:{t.port}", t.name]
        for name in names:
            for kind, key in (known.lookup(name) or {}).items():
                blobs[key.asbytes()] = kind
        sources.append(t.known_hosts)
    return ExpectedKeys(blobs, " + ".join(sources) or "nothing pinned")


def check_host_key(t: SSHTarget, expected: ExpectedKeys, presented: paramiko.PKey) -> SecurityEvent | None:
    """None if the presented key is pinned; otherwise the event describing why the host is refused."""
    blob = presented.asbytes()
    if blob in expected.blobs:
        return None
    shown = f"{presented.get_name()} {fingerprint_blob(blob)}"
    pinned = tuple(f"{kind} {fingerprint_blob(b)}" for b, kind in expected.blobs.items())
    if not pinned:
        problem = HostKeyProblem.UNKNOWN
        source = f"known_hosts file {t.known_hosts} has no entry for it" if t.known_hosts else "no key is pinned"
        advice = (f"host key unknown: it presented {shown}; pin it with 'host_key' or 'known_hosts' in the "
                  "estate once you have checked it out of band")
    else:
        problem, source = HostKeyProblem.CHANGED, expected.source
        advice = (f"HOST KEY CHANGED since it was pinned in {source}: someone may be intercepting the "
                  "connection; if the host was rebuilt, verify its new key out of band and update the pin")
    return SecurityEvent(host=t.name, address=t.address, port=t.port, problem=problem, presented=shown,
                         expected=pinned, source=source, advice=advice)
