"""Cadence periods (month, quarter, year) with boundaries at local midnight in the customer's zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import assert_never

from opskeeper.calendar.intervals import local_date, local_midnight, utc
from opskeeper.config.types import Cadence


@dataclass(frozen=True)
class Period:
    """One period of a cadence: ``key`` as recorded in the ledger (2026-11, 2026-Q4, 2026); [start, end) in UTC."""

    key: str
    start: datetime
    end: datetime

    def contains(self, at: datetime) -> bool:
        return self.start <= utc(at) < self.end


def _bounds(cadence: Cadence, day: date) -> tuple[str, date, date]:
    if cadence is Cadence.MONTHLY:
        first = day.replace(day=1)
        nxt = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        return f"{day.year}-{day.month:02d}", first, nxt
    if cadence is Cadence.QUARTERLY:
        q = (day.month - 1) // 3
        first = date(day.year, 3 * q + 1, 1)
        nxt = date(day.year + 1, 1, 1) if q == 3 else date(day.year, 3 * q + 4, 1)
        return f"{day.year}-Q{q + 1}", first, nxt
    if cadence is Cadence.ANNUAL:
        return f"{day.year}", date(day.year, 1, 1), date(day.year + 1, 1, 1)
    assert_never(cadence)


def period_of(cadence: Cadence, at: datetime, tz: str) -> Period:
    """The period of ``cadence`` that contains ``at``, judged by the local date in ``tz``."""
    key, first, nxt = _bounds(Cadence(cadence), local_date(at, tz))
    return Period(key, local_midnight(first, tz), local_midnight(nxt, tz))


def next_period(cadence: Cadence, period: Period, tz: str) -> Period:
    return period_of(cadence, period.end, tz)
