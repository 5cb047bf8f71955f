"""Response deadlines: 24x7 counts elapsed time, support-hours counts only staffed time.

The one implementation: notifications (the deadline a message states, ``notify pending``'s time
left) and everything else ask :func:`tier_deadline` and :func:`tier_time_left`.

Staffed time is the support hours on support days that are not holidays, as wall-clock
hours in ``tz``, measured as real elapsed time (a DST change inside the hours is honoured).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from opskeeper.calendar.intervals import CalendarError, Interval, local_date, localize, utc
from opskeeper.config.estate import Customer, Estate, SupportHours
from opskeeper.config.types import Severity, Weekday, parse_time_of_day

Coverage = Literal["24x7", "support-hours"]
# Ten years of days without a single staffed minute means the calendar is misconfigured.
_MAX_DAYS = 3660


def support_intervals(
    start: datetime, support_hours: SupportHours, holidays: Sequence[date], tz: str
) -> Iterator[Interval]:
    """Staffed intervals from the local day of ``start`` on (unclipped), forever."""
    if not support_hours.days:
        raise CalendarError("support hours list no days; a support-hours deadline can never fall due")
    # SupportHours' defaults are not run through its validators (plain "mon", "09:00"): normalise.
    days = {Weekday(str(d).lower()[:3]).number for d in support_hours.days}
    opens, closes = parse_time_of_day(support_hours.start), parse_time_of_day(support_hours.end)
    off = set(holidays)
    day = local_date(start, tz)
    for _ in range(_MAX_DAYS):
        if day.weekday() in days and day not in off:
            yield Interval(localize(day, opens, tz), localize(day, closes, tz), "support hours")
        day += timedelta(days=1)
    raise CalendarError(f"no support hours within {_MAX_DAYS} days of {start.isoformat()} (all holidays?)")


def response_deadline(
    opened_at: datetime,
    allowed: timedelta,
    *,
    coverage: Coverage,
    support_hours: SupportHours,
    holidays: list[date],
    tz: str,
) -> datetime:
    """When a response is due: ``allowed`` after ``opened_at`` in elapsed (24x7) or staffed time.

    With support hours 09-18, an event on Friday 17:30 with 2 h allowed is due Monday 10:30.
    """
    opened_at = utc(opened_at)
    if coverage == "24x7":
        return opened_at + allowed
    if coverage != "support-hours":
        raise CalendarError(f"unknown coverage {coverage!r}; expected '24x7' or 'support-hours'")
    left = allowed
    for iv in support_intervals(opened_at, support_hours, holidays, tz):
        if iv.end <= opened_at:
            continue
        begin = max(iv.start, opened_at)
        if left <= iv.end - begin:
            return begin + left
        left -= iv.end - begin
    raise AssertionError("unreachable: support_intervals raises when it runs out")


def business_time_between(
    a: datetime,
    b: datetime,
    *,
    coverage: Coverage,
    support_hours: SupportHours,
    holidays: list[date],
    tz: str,
) -> timedelta:
    """Counted time from ``a`` to ``b`` (negative when ``b`` is before ``a``): time left to a deadline."""
    a, b = utc(a), utc(b)
    if coverage == "24x7":
        return b - a
    if b < a:
        return -business_time_between(
            b, a, coverage=coverage, support_hours=support_hours, holidays=holidays, tz=tz
        )
    total = timedelta(0)
    for iv in support_intervals(a, support_hours, holidays, tz):
        if iv.start >= b:
            break
        overlap = min(iv.end, b) - max(iv.start, a)
        if overlap > timedelta(0):
            total += overlap
    return total


@dataclass(frozen=True)
class SupportCalendar:
    """Who answers when, for one customer: hours, holidays and the zone they are read in."""

    support_hours: SupportHours
    holidays: tuple[date, ...]
    tz: str

    def deadline(self, opened_at: datetime, allowed: timedelta, coverage: Coverage) -> datetime:
        return response_deadline(
            opened_at,
            allowed,
            coverage=coverage,
            support_hours=self.support_hours,
            holidays=list(self.holidays),
            tz=self.tz,
        )

    def time_left(self, now: datetime, deadline: datetime, coverage: Coverage) -> timedelta:
        return business_time_between(
            now,
            deadline,
            coverage=coverage,
            support_hours=self.support_hours,
            holidays=list(self.holidays),
            tz=self.tz,
        )


def support_calendar(estate: Estate, customer: Customer) -> SupportCalendar:
    """The customer's support hours (else the provider's) read in the customer's zone; the provider's
    and the customer's holidays both count (nobody answers on either)."""
    hours = customer.support_hours or estate.provider.support_hours
    holidays = tuple(sorted(set(estate.provider.holidays) | set(customer.holidays)))
    return SupportCalendar(hours, holidays, customer.timezone)


def tier_deadline(
    estate: Estate, customer: Customer, severity: Severity, opened_at: datetime
) -> datetime | None:
    """The response deadline the customer's tier promises for this severity (None: no promise)."""
    tier = estate.tier_of(customer)
    allowed = tier.response.get(severity)
    if allowed is None:
        return None
    return support_calendar(estate, customer).deadline(
        opened_at, allowed, _coverage(tier.coverage_for(severity))
    )


def tier_time_left(
    estate: Estate, customer: Customer, severity: Severity, now: datetime, due: datetime
) -> timedelta:
    """Counted time until ``due`` (staffed time only, when the tier counts that way); negative once past."""
    coverage = _coverage(estate.tier_of(customer).coverage_for(severity))
    return support_calendar(estate, customer).time_left(now, due, coverage)


def _coverage(value: str) -> Coverage:
    if value == "24x7":
        return "24x7"
    if value == "support-hours":
        return "support-hours"
    raise CalendarError(f"unknown coverage {value!r}; expected '24x7' or 'support-hours'")
