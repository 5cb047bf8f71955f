"""Blackout recurrences (RFC 5545 RRULE): occurrences per calendar year, at a cost flat across years.

An RRULE without its own DTSTART is anchored at ``RRULE_ANCHOR`` (2020-01-01, local midnight), so
INTERVAL>1 and weekly rules without BYDAY are stable from one call to the next instead of depending
on "now". Expanding from that anchor costs more every year (dateutil walks every period from 2020:
one month of a month-end rule took 0.13 ms in 2021 and 2.1 ms in 2050). So a year is expanded from
a *re-anchored* rule whose DTSTART is moved forward by a whole number of the rule's cycles (INTERVAL
years, months, weeks or days): it visits the same periods, defaults the same BY* parts from DTSTART
(month, day, weekday, time of day are kept) and so yields the same occurrences from the new start
on. Rules whose occurrences depend on everything before (COUNT), sub-daily rules and a DTSTART on a
day that not every month or year has are expanded from their real DTSTART, once per year (cached).
``tests/calendar/test_recurrence.py`` compares both paths with plain dateutil expansion.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rruleset, rrulestr

from opskeeper.calendar.intervals import CalendarError

RRULE_ANCHOR = datetime(2020, 1, 1)

_ZONED_DTSTART = "give DTSTART as a local time without TZID or 'Z'; blackouts are read in the customer's zone"


@lru_cache(maxsize=512)
def parse_rrule(rule: str) -> rruleset:
    """The rule as dateutil reads it, anchored at ``RRULE_ANCHOR`` unless it has its own DTSTART."""
    try:
        return rrulestr(rule, dtstart=RRULE_ANCHOR, forceset=True)
    except (ValueError, TypeError) as e:
        raise CalendarError(f"invalid blackout rrule {rule!r}: {e}") from e


def _year_start(year: int) -> datetime:
    return datetime(year, 1, 1)


def _add_months(at: datetime, months: int) -> datetime:
    index = at.year * 12 + at.month - 1 + months
    return at.replace(year=index // 12, month=index % 12 + 1)


def reanchored(rule: rrule, year: int) -> rrule | None:
    """``rule`` with DTSTART moved forward by whole cycles to at most Jan 1 of ``year``, or None when no
    equivalent move exists (COUNT, sub-daily frequency, a DTSTART day past the 28th).

    The moved rule yields exactly the original's occurrences from Jan 1 of ``year`` on: dateutil
    steps from DTSTART's period by INTERVAL periods, so a start a whole number of INTERVALs later
    visits the same periods; the BY* parts defaulted from DTSTART (YEARLY: month and day; MONTHLY: day;
    WEEKLY: weekday; all: time of day) are unchanged by the move.
    """
    # dateutil keeps these on the rule object only; a dateutil without them takes the plain path.
    freq, interval = getattr(rule, "_freq", None), getattr(rule, "_interval", None)
    start: datetime | None = getattr(rule, "_dtstart", None)
    if getattr(rule, "_count", 1) is not None or start is None or not isinstance(interval, int):
        return None
    target = _year_start(year)
    if start >= target:
        return rule
    on_jan_first = (start.month, start.day, start.time()) == (1, 1, time(0, 0))
    if freq == YEARLY:
        if (start.month, start.day) == (2, 29):
            return None
        last = year if on_jan_first else year - 1  # the latest year the new start may fall in
        moved = start.replace(year=start.year + (last - start.year) // interval * interval)
    elif freq == MONTHLY:
        if start.day > 28:
            return None
        last_index = year * 12 + (0 if start.day == 1 and start.time() == time(0, 0) else -1)
        months = last_index - (start.year * 12 + start.month - 1)
        moved = _add_months(start, months // interval * interval)
    elif freq in (WEEKLY, DAILY):
        cycle = timedelta(days=interval * (7 if freq == WEEKLY else 1))
        moved = start + (target - start) // cycle * cycle
    else:
        return None
    assert moved <= target
    return rule.replace(dtstart=moved)


def _year_set(parsed: rruleset, year: int) -> rruleset:
    """A set equivalent to ``parsed`` from Jan 1 of ``year`` on: re-anchored rules where possible."""
    rules = [*parsed._rrule, *parsed._exrule]  # noqa: SLF001  (dateutil exposes no accessor)
    moved = [reanchored(r, year) for r in rules]
    if any(m is None for m in moved):
        return parsed
    out = rruleset()
    n = len(parsed._rrule)  # noqa: SLF001
    for i, m in enumerate(moved):
        assert m is not None
        (out.rrule if i < n else out.exrule)(m)
    for d in parsed._rdate:  # noqa: SLF001
        out.rdate(d)
    for d in parsed._exdate:  # noqa: SLF001
        out.exdate(d)
    return out


@lru_cache(maxsize=4096)
def year_occurrences(rule: str, year: int) -> tuple[datetime, ...]:
    """Occurrences of ``rule`` (local, naive) in [Jan 1 ``year``, Jan 1 ``year`` + 1), sorted."""
    lo, hi = _year_start(year), _year_start(year + 1)
    try:
        found = _year_set(parse_rrule(rule), year).between(lo, hi, inc=True)
    except TypeError as e:  # aware DTSTART (TZID=... or a trailing Z) cannot compare with local dates
        raise CalendarError(f"blackout rrule {rule!r}: {_ZONED_DTSTART}") from e
    return tuple(occ for occ in found if occ < hi)


def rrule_days(rule: str, first: date, last: date) -> list[date]:
    """Local dates of the occurrences of ``rule`` from ``first`` 00:00 to ``last`` 00:00, both included.

    The same as ``parse_rrule(rule).between(first 00:00, last 00:00, inc=True)``, year by year.
    """
    lo = datetime.combine(first, time(0, 0))
    hi = datetime.combine(last, time(0, 0))
    out: list[date] = []
    for year in range(first.year, last.year + 1):
        occs = year_occurrences(rule, year)
        out += [occ.date() for occ in occs[bisect_left(occs, lo) : bisect_right(occs, hi)]]
    return out


def clear_caches() -> None:
    """Forget parsed rules and expanded years (tests and benchmarks that measure a cold start)."""
    parse_rrule.cache_clear()
    year_occurrences.cache_clear()
