"""The audit trail as anchoring reads it: the head, the last entry, one entry's hash, the identity entry."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opskeeper.ledger.audit import AuditEntry, AuditHead
from opskeeper.ledger.db import Ledger


@dataclass(frozen=True)
class TrailState:
    """What the check reads once: the trail's last entry and the ledger's identity entry."""

    last_seq: int
    identity_subject: str | None


def _first_subject(s: Session, action: str) -> str | None:
    """The subject of the first entry with ``action`` (a concurrent second one is ignored)."""
    q = select(AuditEntry.subject).where(AuditEntry.action == action).order_by(AuditEntry.seq).limit(1)
    return s.execute(q).scalar()


def first_subject(ledger: Ledger, action: str) -> str | None:
    with ledger.session() as s:
        return _first_subject(s, action)


def head(ledger: Ledger) -> tuple[int, str]:
    """The chain head: (last sequence number, its hash)."""
    with ledger.session() as s:
        row = s.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    return int(row.seq), str(row.hash)


def head_seq_and_subject(ledger: Ledger, action: str) -> tuple[int | None, str | None]:
    """The head's sequence number (None before the first entry) and the first ``action`` entry's subject."""
    with ledger.session() as s:
        seq = s.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar()
        return seq, _first_subject(s, action)


def trail_state(ledger: Ledger, identity_action: str) -> TrailState:
    with ledger.session() as s:
        last_seq = s.execute(select(func.max(AuditEntry.seq))).scalar() or 0
        return TrailState(last_seq, _first_subject(s, identity_action))


def last_seq(ledger: Ledger) -> int:
    with ledger.session() as s:
        return s.execute(select(func.max(AuditEntry.seq))).scalar() or 0


def entry_hash(ledger: Ledger, seq: int) -> str | None:
    with ledger.session() as s:
        return s.execute(select(AuditEntry.hash).where(AuditEntry.seq == seq)).scalar()
