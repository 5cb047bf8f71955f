"""Declarative base and shared column helpers of every ledger table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Session

from opskeeper.clock import SYSTEM, Clock

CLOCK_OPTION = "opskeeper_clock"  # the ledger's clock, carried as an execution option of its engine


def stamp(context: Any) -> datetime:
    """Column default: the time of the ledger that writes the row (its clock), never the wall behind it."""
    clock = context.execution_options.get(CLOCK_OPTION) if context is not None else None
    return (clock or SYSTEM).now()


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
