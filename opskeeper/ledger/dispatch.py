"""Dispatch rows: one per claimed piece of tick work (kind, customer, subject, slot), unique, so that a
second tick finds the work claimed. See opskeeper/scheduling.py:claim."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError

from opskeeper.ledger.core import Dispatch
from opskeeper.ledger.db import Ledger, LedgerError

DispatchKey = tuple[str, str, str, str]  # kind, customer_id, subject, slot


def _where(key: DispatchKey) -> tuple[ColumnElement[bool], ...]:
    kind, customer_id, subject, slot = key
    return (Dispatch.kind == kind, Dispatch.customer_id == customer_id, Dispatch.subject == subject,
            Dispatch.slot == slot)  # fmt: skip


def insert_dispatch(ledger: Ledger, key: DispatchKey, now: datetime) -> bool:
    """Insert the dispatch row; False when one with this key exists (another tick claimed the work)."""
    kind, customer_id, subject, slot = key
    try:
        with ledger.session() as s:
            s.add(Dispatch(kind=kind, customer_id=customer_id, subject=subject, slot=slot, dispatched_at=now))
    except LedgerError as e:
        if isinstance(e.__cause__, IntegrityError):
            return False
        raise
    return True


def dispatched_at(ledger: Ledger, key: DispatchKey) -> datetime | None:
    with ledger.session() as s:
        return s.execute(select(Dispatch.dispatched_at).where(*_where(key))).scalar()


def take_over_stale(ledger: Ledger, key: DispatchKey, now: datetime, stale: timedelta) -> bool:
    """Re-stamp the claim with ``now`` if it is still older than ``stale``: of two ticks taking it over
    at once, one wins."""
    with ledger.session() as s:
        taken = s.execute(
            update(Dispatch)
            .where(*_where(key), Dispatch.dispatched_at <= now - stale)
            .values(dispatched_at=now)
        ).rowcount  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
    return bool(taken == 1)


def is_claimed(ledger: Ledger, key: DispatchKey) -> bool:
    with ledger.session() as s:
        return s.execute(select(Dispatch.id).where(*_where(key))).first() is not None
