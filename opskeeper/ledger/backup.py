"""The backup catalog mirror: one row per snapshot per target, plus repository functions.

The repository itself is the truth (it is self-describing); this table mirrors
it so the ledger can answer "when was the last good backup" and reports can
show history after snapshots were pruned (rows are marked, never deleted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from opskeeper.ledger import audit
from opskeeper.ledger.base import Base, UTCDateTime, clock_of, stamp
from opskeeper.ledger.core import Run, RunStatus
from opskeeper.ledger.db import Ledger


class BackupSnapshot(Base):
    __tablename__ = "backup_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    snapshot_id: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    system_id: Mapped[str | None] = mapped_column(String(64))
    dataset: Mapped[str | None] = mapped_column(String(128))
    host: Mapped[str] = mapped_column(String(256))
    source_kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    files: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    new_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    forgotten_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verify_status: Mapped[str | None] = mapped_column(String(32))  # ok | damaged

    __table_args__ = (
        Index("uq_backup_snapshot_target", "snapshot_id", "target", unique=True),
        Index("ix_backup_snapshots_system_time", "system_id", "taken_at"),
    )


@dataclass(frozen=True)
class SnapshotRecord:
    """What the mirror needs of a snapshot (built from a SnapshotManifest by the caller)."""

    snapshot_id: str
    target: str
    host: str
    source_kind: str
    source: str
    taken_at: datetime
    customer_id: str | None = None
    system_id: str | None = None
    dataset: str | None = None
    files: int = 0
    bytes: int = 0
    new_bytes: int = 0
    stored_bytes: int = 0


def record_snapshot(session: Session, rec: SnapshotRecord, run_id: int | None = None) -> BackupSnapshot:
    """Insert or refresh one mirrored snapshot (idempotent: the same snapshot twice is one row)."""
    row = session.scalars(select(BackupSnapshot).where(
        BackupSnapshot.snapshot_id == rec.snapshot_id, BackupSnapshot.target == rec.target)).first()
    if row is None:
        row = BackupSnapshot(snapshot_id=rec.snapshot_id, target=rec.target)
        session.add(row)
    for field in ("host", "source_kind", "source", "taken_at", "customer_id", "system_id", "dataset",
                  "files", "bytes", "new_bytes", "stored_bytes"):
        value = getattr(rec, field)
        if value is not None or getattr(row, field) is None:
            setattr(row, field, value)
    if run_id is not None:
        row.run_id = run_id
    row.forgotten_at = None
    return row


def mark_forgotten(session: Session, target: str, snapshot_ids: Sequence[str]) -> int:
    rows = session.scalars(select(BackupSnapshot).where(
        BackupSnapshot.target == target, BackupSnapshot.snapshot_id.in_(list(snapshot_ids)))).all()
    now = clock_of(session).now()
    for row in rows:
        row.forgotten_at = now
    return len(rows)


def mark_verified(session: Session, target: str, damaged: Sequence[str]) -> None:
    """After a verify: every live snapshot of the target is ok unless named damaged."""
    now = clock_of(session).now()
    rows = session.scalars(select(BackupSnapshot).where(
        BackupSnapshot.target == target, BackupSnapshot.forgotten_at.is_(None))).all()
    for row in rows:
        row.last_verified_at = now
        row.verify_status = "damaged" if row.snapshot_id in damaged else "ok"


def sync_target(session: Session, target: str, present: Sequence[SnapshotRecord]) -> tuple[int, int]:
    """Make the mirror match a repository listing: add what is new, mark what is gone. (added, gone)"""
    live = {r.snapshot_id for r in present}
    known = {row.snapshot_id: row for row in session.scalars(
        select(BackupSnapshot).where(BackupSnapshot.target == target))}
    added = 0
    for rec in present:
        if rec.snapshot_id not in known:
            record_snapshot(session, rec)
            added += 1
    gone = [sid for sid, row in known.items() if sid not in live and row.forgotten_at is None]
    mark_forgotten(session, target, gone)
    return added, len(gone)


def list_snapshots(session: Session, *, system_id: str | None = None, target: str | None = None,
                   include_forgotten: bool = False) -> list[BackupSnapshot]:
    q = select(BackupSnapshot).order_by(BackupSnapshot.taken_at.desc())
    if system_id:
        q = q.where(BackupSnapshot.system_id == system_id)
    if target:
        q = q.where(BackupSnapshot.target == target)
    if not include_forgotten:
        q = q.where(BackupSnapshot.forgotten_at.is_(None))
    return list(session.scalars(q))


def last_snapshot_time(session: Session, system_id: str) -> datetime | None:
    """When the newest live snapshot of a system was taken (the tick uses it to decide a backup is due)."""
    row = session.scalars(select(BackupSnapshot).where(
        BackupSnapshot.system_id == system_id, BackupSnapshot.forgotten_at.is_(None))
        .order_by(BackupSnapshot.taken_at.desc()).limit(1)).first()
    return row.taken_at if row else None


# Commands and queries for opskeeper.backup: each opens its own transaction.


def record_backup_run(ledger: Ledger, *, customer: str, system: str, status: RunStatus, reason: str | None,
                      summary: dict[str, object], snapshots: Sequence[SnapshotRecord], failures: int,
                      started_at: datetime, trigger: str, triggered_by: str | None,
                      flow_run_id: str | None) -> int:
    """One run row for a system's backup, one mirror row per snapshot, one audit entry. Returns the run id."""
    with ledger.session() as s:
        run = Run(kind="backup", customer_id=customer, system_id=system, trigger=trigger,
                  triggered_by=triggered_by, flow_run_id=flow_run_id, started_at=started_at, ended_at=ledger.now(),
                  status=status, reason=reason, summary=summary)
        s.add(run)
        s.flush()
        for rec in snapshots:
            record_snapshot(s, rec, run_id=run.id)
        run_id = run.id
        # Same transaction as the run: the Prefect task retries this, and a retry after a failed
        # separate audit write would record the run (and its snapshots) twice.
        audit.append(s, triggered_by or "opskeeper", "backup.run", f"system:{system}",
                     {"run": run_id, "status": status.value, "snapshots": len(snapshots), "failures": failures})
    return run_id


def record_verify_run(ledger: Ledger, target: str, *, ok: bool, damaged: Sequence[str],
                      summary: dict[str, object]) -> None:
    """Mark the target's snapshots verified (or damaged) and record the verify run."""
    with ledger.session() as s:
        mark_verified(s, target, damaged)
        s.add(Run(kind="backup-verify", trigger="manual", ended_at=ledger.now(),
                  status=RunStatus.OK if ok else RunStatus.FAILED, summary=summary))


def forget_snapshots(ledger: Ledger, target: str, snapshot_ids: Sequence[str]) -> int:
    """Mark pruned snapshots forgotten (rows stay for history)."""
    with ledger.session() as s:
        return mark_forgotten(s, target, snapshot_ids)


def sync_catalog(ledger: Ledger, target: str, present: Sequence[SnapshotRecord]) -> tuple[int, int]:
    """Make the mirror match a repository listing. (added, gone)"""
    with ledger.session() as s:
        return sync_target(s, target, present)


def last_snapshot_times(ledger: Ledger, system_ids: Sequence[str]) -> dict[str, datetime | None]:
    """When each system's newest live snapshot was taken (None: it has none)."""
    with ledger.session() as s:
        return {system_id: last_snapshot_time(s, system_id) for system_id in system_ids}
