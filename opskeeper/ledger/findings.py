"""Security scan tables: scans (with the hardening score), findings and their lifecycle, integrity baselines.

A finding's identity is its fingerprint, sha256(host, check id, normalised object),
so the same problem on the same object is one row across scans. Status moves
new -> open (seen again) -> resolved (its check ran and the object passed or is
gone); a scan whose check could not run leaves it unresolved and marks it
incomparable. Accepting a risk sets ``accepted_until``; once that passes the
finding counts as open again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from opskeeper.ledger.base import Base, UTCDateTime, stamp
from opskeeper.ledger.db import Ledger


class FindingStatus(StrEnum):
    NEW = "new"  # first seen in the latest scan that judged it
    OPEN = "open"  # seen again (persisting)
    RESOLVED = "resolved"  # its check ran and the object passed or is gone


class Classification(StrEnum):
    """What the latest scan of the host said about a finding."""

    NEW = "new"
    PERSISTING = "persisting"
    RESOLVED = "resolved"
    INCOMPARABLE = "incomparable"  # the check (or this object) could not be judged this time


class ScanStatus(StrEnum):
    OK = "ok"  # every enabled check ran
    PARTIAL = "partial"  # some checks could not run
    FAILED = "failed"  # nothing could be collected (unreachable, no python3)


def fingerprint(host: str, check_id: str, obj: str) -> str:
    return hashlib.sha256(f"{host}\0{check_id}\0{obj}".encode()).hexdigest()


class SecurityScan(Base):
    """One scan of one host: its status, hardening score and what changed."""

    __tablename__ = "security_scans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    customer_id: Mapped[str] = mapped_column(String(64))
    system_id: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)  # 0..100, weighted by severity; None if nothing ran
    checks_run: Mapped[int] = mapped_column(Integer, default=0)
    checks_total: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict | None] = mapped_column(JSON)  # counts per classification, skipped checks + why

    __table_args__ = (Index("ix_security_scans_host_time", "host", "started_at"),)


class Finding(Base):
    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    system_id: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(128), index=True)
    check_id: Mapped[str] = mapped_column(String(64))
    object: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(256))
    detail: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=FindingStatus.NEW)
    classification: Mapped[str] = mapped_column(String(16), default=Classification.NEW)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_by: Mapped[datetime] = mapped_column(UTCDateTime)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)  # times it (re)appeared after a resolution
    last_scan_id: Mapped[int | None] = mapped_column(ForeignKey("security_scans.id", ondelete="SET NULL"))
    accepted_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_reason: Mapped[str | None] = mapped_column(Text)
    accepted_by: Mapped[str | None] = mapped_column(String(128))
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def unresolved(self) -> bool:
        return self.status != FindingStatus.RESOLVED

    def accepted(self, now: datetime) -> bool:
        return self.accepted_until is not None and now < self.accepted_until

    def acceptance_expired(self, now: datetime) -> bool:
        return self.accepted_until is not None and now >= self.accepted_until

    def overdue(self, now: datetime) -> bool:
        return self.unresolved and not self.accepted(now) and now > self.due_by

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "fingerprint": self.fingerprint,
            "customer": self.customer_id,
            "system": self.system_id,
            "host": self.host,
            "check": self.check_id,
            "object": self.object,
            "severity": self.severity,
            "title": self.title,
            "detail": self.detail,
            "status": self.status,
            "last_scan": self.classification,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "resolved_at": self.resolved_at,
            "due_by": self.due_by,
            "overdue": self.overdue(now),
            "accepted": self.accepted(now),
            "accepted_until": self.accepted_until,
            "accepted_reason": self.accepted_reason,
            "accepted_by": self.accepted_by,
        }


class IntegrityBaseline(Base):
    """The recorded hash of one monitored file; changes against it are findings."""

    __tablename__ = "integrity_baseline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(600))  # sha256 hex, or "symlink:<target>"
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)

    __table_args__ = (UniqueConstraint("host", "path", name="uq_integrity_host_path"),)


# -- queries ------------------------------------------------------------------------------------------


class FindingFilter(StrEnum):
    NEW = "new"
    OPEN = "open"  # every unresolved finding (new or persisting)
    RESOLVED = "resolved"
    OVERDUE = "overdue"
    ACCEPTED = "accepted"
    ALL = "all"


def list_findings(
    s: Session, now: datetime, which: FindingFilter = FindingFilter.OPEN, customer: str | None = None
) -> list[Finding]:
    q = select(Finding)
    if customer:
        q = q.where(Finding.customer_id == customer)
    if which is FindingFilter.NEW:
        q = q.where(Finding.status == FindingStatus.NEW)
    elif which is FindingFilter.RESOLVED:
        q = q.where(Finding.status == FindingStatus.RESOLVED)
    elif which is not FindingFilter.ALL:
        q = q.where(Finding.status != FindingStatus.RESOLVED)
    rows = list(s.scalars(q.order_by(Finding.host, Finding.check_id, Finding.object)))
    if which is FindingFilter.OVERDUE:
        rows = [f for f in rows if f.overdue(now)]
    elif which is FindingFilter.ACCEPTED:
        rows = [f for f in rows if f.accepted(now)]
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    return sorted(rows, key=lambda f: (order.get(f.severity, 9), f.host, f.check_id, f.object))


def find_one(s: Session, ref: str) -> Finding | None:
    """A finding by numeric id or by a unique fingerprint prefix (at least 8 hex digits)."""
    if ref.isdigit():
        return s.get(Finding, int(ref))
    if len(ref) < 8:
        return None
    rows = list(s.scalars(select(Finding).where(Finding.fingerprint.startswith(ref.lower())).limit(2)))
    return rows[0] if len(rows) == 1 else None


def host_findings(s: Session, host: str) -> dict[str, Finding]:
    return {f.fingerprint: f for f in s.scalars(select(Finding).where(Finding.host == host))}


def baseline(s: Session, host: str) -> dict[str, str]:
    rows = s.scalars(select(IntegrityBaseline).where(IntegrityBaseline.host == host))
    return {r.path: r.digest for r in rows}


def record_baseline(s: Session, host: str, hashes: dict[str, str], now: datetime, *, replace: bool) -> int:
    """Store hashes as the host's baseline: only when it has none yet, or when ``replace`` (rebaseline)."""
    existing = {r.path: r for r in s.scalars(select(IntegrityBaseline).where(IntegrityBaseline.host == host))}
    if existing and not replace:
        return 0
    for path, row in existing.items():
        if path not in hashes:
            s.delete(row)
    for path, digest in hashes.items():
        known = existing.get(path)
        if known is None:
            s.add(IntegrityBaseline(host=host, path=path, digest=digest, recorded_at=now))
        else:
            known.digest, known.recorded_at = digest, now
    return len(hashes)


def score_history(
    s: Session, customer: str | None = None, host: str | None = None, limit: int = 10
) -> dict[str, list[SecurityScan]]:
    """The latest ``limit`` scans with a score per host, oldest first (for a trend)."""
    q = select(SecurityScan).where(SecurityScan.score.is_not(None))
    if customer:
        q = q.where(SecurityScan.customer_id == customer)
    if host:
        q = q.where(SecurityScan.host == host)
    out: dict[str, list[SecurityScan]] = {}
    for scan in s.scalars(
        q.order_by(SecurityScan.host, SecurityScan.started_at.desc(), SecurityScan.id.desc())
    ):
        rows = out.setdefault(scan.host, [])
        if len(rows) < limit:
            rows.append(scan)
    return {h: list(reversed(rows)) for h, rows in sorted(out.items())}


# -- queries and commands for the CLI: each opens its own short transaction -----------------------------


def finding_rows(
    ledger: Ledger, now: datetime, which: FindingFilter = FindingFilter.OPEN, customer: str | None = None
) -> list[dict[str, Any]]:
    """``list_findings`` as rows (``Finding.as_dict``): what ``opskeeper scan findings`` shows."""
    with ledger.session() as s:
        return [f.as_dict(now) for f in list_findings(s, now, which, customer)]


class AcceptStatus(StrEnum):
    ACCEPTED = "accepted"
    NOT_FOUND = "not-found"
    RESOLVED = "resolved"  # nothing to accept


@dataclass(frozen=True)
class AcceptOutcome:
    status: AcceptStatus
    finding_id: int | None = None
    subject: str = ""  # host:check:object


def accept_finding(ledger: Ledger, ref: str, *, until: datetime, reason: str, by: str) -> AcceptOutcome:
    """Accept the risk of the finding ``ref`` (id or fingerprint prefix) until ``until``, if it is unresolved."""
    with ledger.session() as s:
        f = find_one(s, ref)
        if f is None:
            return AcceptOutcome(AcceptStatus.NOT_FOUND)
        subject = f"{f.host}:{f.check_id}:{f.object}"
        if not f.unresolved:
            return AcceptOutcome(AcceptStatus.RESOLVED, f.id, subject)
        f.accepted_until, f.accepted_reason, f.accepted_by = until, reason, by
        return AcceptOutcome(AcceptStatus.ACCEPTED, f.id, subject)


@dataclass(frozen=True)
class ScorePoint:
    scan_id: int
    at: datetime
    score: float
    status: str


def score_points(
    ledger: Ledger, customer: str | None = None, host: str | None = None, limit: int = 10
) -> dict[str, list[ScorePoint]]:
    """``score_history`` as points per host, oldest first."""
    with ledger.session() as s:
        return {
            h: [ScorePoint(x.id, x.started_at, x.score or 0.0, x.status) for x in scans]
            for h, scans in score_history(s, customer, host, limit).items()
        }
