"""The ledger's identity: a random id recorded once as an audit entry, so the chain protects it too.

Anchors are filed under it. A wiped or truncated ledger loses it or starts a new one; the anchors of
the old identity at the targets are still checked against it (see check.py), so that shows.
"""

from __future__ import annotations

import uuid

from opskeeper.ledger import Ledger
from opskeeper.ledger import anchors as trail

IDENTITY_ACTION = "ledger.identity"
_SUBJECT = "ledger:"


def identity_of(subject: str | None) -> str | None:
    return subject.removeprefix(_SUBJECT) if subject else None


def ledger_id(ledger: Ledger) -> str | None:
    """The identity recorded first (a concurrent second one is ignored), or None before the first anchor."""
    return identity_of(trail.first_subject(ledger, IDENTITY_ACTION))


def ensure_ledger_id(ledger: Ledger) -> str:
    """This ledger's identity, recorded now if it has none."""
    found = ledger_id(ledger)
    if found:
        return found
    ledger.audit("opskeeper", IDENTITY_ACTION, f"{_SUBJECT}{uuid.uuid4().hex}",
                 {"why": "names this ledger's audit anchors"})  # fmt: skip
    first = ledger_id(ledger)
    assert first is not None
    return first
