"""Hash-chained audit trail.

Each entry's hash covers its own fields and the previous entry's hash, so an
edited or deleted row breaks the chain. A one-row head table holds the last
sequence number and hash; updating it first serialises concurrent writers on
SQLite and PostgreSQL alike, and lets ``verify`` detect a truncated tail.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Integer, String, Text, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from opskeeper.config.secrets import redact
from opskeeper.ledger.base import Base, UTCDateTime, clock_of

if TYPE_CHECKING:  # db imports this module
    from opskeeper.ledger.db import Ledger

GENESIS = "0" * 64


class AuditEntry(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(256))
    details: Mapped[dict] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(Text, default=GENESIS)


def _entry_hash(
    prev: str, seq: int, at: datetime, actor: str, action: str, subject: str, details: Any
) -> str:
    payload = json.dumps(
        [prev, seq, at.isoformat(), actor, action, subject, details],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def append(
    session: Session, actor: str, action: str, subject: str, details: dict | None = None
) -> AuditEntry:
    """Append one entry in the caller's transaction."""
    _ensure_head(session)
    # Taking the write lock on the head first serialises writers (SQLite RESERVED lock, PG row lock).
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    seq, prev = int(head.seq), head.hash
    at = clock_of(session).now()
    clean = _scrub(details or {})
    actor, subject = redact(actor), redact(subject)
    digest = _entry_hash(prev, seq, at, actor, action, subject, clean)
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        details=clean,
        prev_hash=prev,
        hash=digest,
    )
    session.add(entry)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=digest))
    return entry


def _ensure_head(session: Session) -> None:
    """Create the head row once. Concurrent first writers must not both insert it (one would fail and
    lose its entry): insert-or-ignore waits for the other writer's row, then the UPDATE below queues."""
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(
            insert(AuditHead).values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing(index_elements=["id"])
        )
    elif session.execute(select(AuditHead.id).where(AuditHead.id == 1)).scalar() is None:
        session.add(AuditHead(id=1, seq=0, hash=GENESIS))
        session.flush()


@dataclass(frozen=True)
class AuditProblem:
    seq: int
    problem: str


def verify(session: Session) -> tuple[int, list[AuditProblem]]:
    """Walk the chain; return (entries checked, problems found)."""
    problems: list[AuditProblem] = []
    prev, expected_seq, count = GENESIS, 1, 0
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
        count += 1
        if entry.seq != expected_seq:
            problems.append(
                AuditProblem(expected_seq, f"entries {expected_seq}..{entry.seq - 1} are missing")
            )
        if entry.prev_hash != prev:
            problems.append(AuditProblem(entry.seq, "previous-hash link broken (an entry before it changed)"))
        digest = _entry_hash(
            entry.prev_hash, entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.details
        )
        if digest != entry.hash:
            problems.append(AuditProblem(entry.seq, "content does not match its hash (entry edited)"))
        prev, expected_seq = entry.hash, entry.seq + 1
    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one_or_none()
    if head is None and count:
        # append() writes the head with the first entry: rows without it mean the head was deleted.
        problems.append(AuditProblem(expected_seq - 1, "the chain head is missing (tail may be truncated)"))
    elif head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
        problems.append(AuditProblem(head.seq, f"chain ends at {expected_seq - 1} but head says {head.seq}"))
    return count, problems


@dataclass(frozen=True)
class AuditLine:
    """An audit entry as read (``opskeeper audit list``)."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    hash: str


def recent_entries(ledger: Ledger, limit: int = 30) -> list[AuditLine]:
    """The newest ``limit`` audit entries, newest first."""
    with ledger.session() as s:
        rows = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)).scalars()
        return [AuditLine(e.seq, e.at, e.actor, e.action, e.subject, e.details, e.hash) for e in rows]
