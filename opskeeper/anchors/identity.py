"""The ledger's identity: a random id recorded once as an audit entry, so the chain protects it too.

Anchors are filed under it. A wiped or truncated ledger loses it or starts a new one; the anchors of
the old identity at the targets are still checked against it (see check.py), so that shows.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from opskeeper.ledger import Ledger
from opskeeper.ledger import audit as ledger_audit

IDENTITY_ACTION = "ledger.identity"
_SUBJECT = "ledger:"


def ledger_id(session: Session) -> str | None:
    """The identity recorded first (a concurrent second one is ignored), or None before the first anchor."""
    subject = session.execute(
        select(ledger_audit.AuditEntry.subject)
        .where(ledger_audit.AuditEntry.action == IDENTITY_ACTION)
        .order_by(ledger_audit.AuditEntry.seq)
        .limit(1)
    ).scalar()
    return subject.removeprefix(_SUBJECT) if subject else None


def ensure_ledger_id(ledger: Ledger) -> str:
    """This ledger's identity, recorded now if it has none."""
    with ledger.session() as s:
        found = ledger_id(s)
    if found:
        return found
    with ledger.session() as s:
        ledger_audit.append(s, "opskeeper", IDENTITY_ACTION, f"{_SUBJECT}{uuid.uuid4().hex}",
                            {"why": "names this ledger's audit anchors"})  # fmt: skip
    with ledger.session() as s:
        first = ledger_id(s)
    assert first is not None
    return first
