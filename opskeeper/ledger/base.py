"""Declarative base and shared column helpers of every ledger table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, TypeDecorator, inspect
from sqlalchemy.orm import DeclarativeBase, Session

from opskeeper.clock import SYSTEM, Clock

CLOCK_OPTION = "opskeeper_clock"  # the ledger's clock, in the info of each of its sessions


def stamp(_context: Any) -> datetime:
    """Column default of the stamped columns. Rows added through a ledger session never reach it: the
    session stamps them by the ledger's clock before the flush (:func:`stamp_new_rows`)."""
    return SYSTEM.now()


def stamp_new_rows(session: Session, _flush: Any, _instances: Any) -> None:
    """Before a flush: every stamped column left empty on a new row gets the ledger's time."""
    clock = clock_of(session)
    now = None
    for obj in session.new:
        for key, column in inspect(obj).mapper.columns.items():
            default = column.default
            if default is not None and getattr(default, "arg", None) is stamp and getattr(obj, key) is None:
                now = now or clock.now()
                setattr(obj, key, now)


def clock_of(session: Session) -> Clock:
    """The clock of the ledger this session belongs to."""
    clock = session.info.get(CLOCK_OPTION)
    return clock if clock is not None else SYSTEM


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger; use timezone-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every ledger table."""
