"""Maintenance windows and blackouts in the customer's zone, and what is left open between them.

The tick asks for whole periods (up to a year) of every cadence of every customer, every five minutes.
So what depends only on the calendar is computed once per local year and kept in bounded caches,
keyed by the values that decide it (the window's days, start and length, each blackout's fields,
the zone): window occurrences, blackout occurrences, and each occurrence's status. A query filters
those; it never expands a recurrence from its anchor again. Results are the same as computing afresh
(``tests/calendar/test_cache_equivalence.py``)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from opskeeper.calendar.intervals import (
    Interval,
    local_date,
    local_midnight,
    localize,
    merge,
    subtract,
    utc,
)
from opskeeper.calendar.recurrence import year_occurrences
from opskeeper.config.estate import Blackout, Customer, MaintenanceWindow

WINDOW_REASON = "maintenance window"
DEFAULT_HORIZON = timedelta(days=400)


class _WindowKey(NamedTuple):
    weekdays: frozenset[int]
    start: time
    duration: timedelta
    tz: str


class _BlackoutKey(NamedTuple):
    reason: str
    rrule: str | None
    duration: timedelta | None
    start: date | None
    end: date | None


def _window_key(window: MaintenanceWindow, tz: str) -> _WindowKey:
    return _WindowKey(frozenset(d.number for d in window.days), window.start, window.duration, tz)


def _blackout_key(b: Blackout) -> _BlackoutKey:
    return _BlackoutKey(b.reason, b.rrule, b.duration, b.start, b.end)


def window_occurrences(window: MaintenanceWindow, tz: str, start: datetime, end: datetime) -> list[Interval]:
    """Weekly occurrences of ``window`` in ``tz`` that overlap [start, end), merged, in UTC.

    Each starts at the local wall-clock ``window.start`` (see ``localize`` for DST gaps and
    folds) and lasts ``window.duration`` of real elapsed time, so a 4 h window on a fall-back
    night ends at a wall-clock time one hour earlier than usual. Occurrences are not clipped.
    """
    start, end = utc(start), utc(end)
    return merge(_raw_windows(_window_key(window, tz), start, end))


def _raw_windows(key: _WindowKey, start: datetime, end: datetime) -> list[Interval]:
    """Occurrences overlapping [start, end) (UTC), not merged, in order."""
    # A window lasts at most 24 h, so one started the local day before may still be running.
    first, last = local_date(start, key.tz) - timedelta(days=1), local_date(end, key.tz)
    found = []
    for year in range(first.year, last.year + 1):
        days, occurrences = _window_year(key, year)
        for occurrence in occurrences[bisect_left(days, first) : bisect_right(days, last)]:
            if occurrence.overlaps_range(start, end):
                found.append(occurrence)
    return found


@lru_cache(maxsize=4096)
def _window_year(key: _WindowKey, year: int) -> tuple[tuple[date, ...], tuple[Interval, ...]]:
    """The window's occurrences starting on the local days of ``year``, and those days (for bisecting)."""
    days, occurrences = [], []
    day = date(year, 1, 1)
    while day.year == year:
        if day.weekday() in key.weekdays:
            begin = localize(day, key.start, key.tz)
            days.append(day)
            occurrences.append(Interval(begin, begin + key.duration, WINDOW_REASON))
        day += timedelta(days=1)
    return tuple(days), tuple(occurrences)


def _day_span(day: date, length: timedelta, tz: str) -> tuple[datetime, datetime]:
    """From local midnight of ``day``: whole days count as calendar days (a "3d" blackout ends
    at local midnight even across a DST change); any remainder is elapsed time."""
    begin = local_midnight(day, tz)
    whole = local_midnight(day + timedelta(days=length.days), tz)
    return begin, whole + (length - timedelta(days=length.days))


def _one_blackout(b: _BlackoutKey, tz: str, start: datetime, end: datetime) -> list[Interval]:
    """Occurrences of one blackout overlapping [start, end) (UTC), in order."""
    if b.rrule:
        assert b.duration is not None  # the model requires it with an rrule
        # An occurrence that began up to its length (whole days) before ``start`` may still run.
        first = local_date(start, tz) - timedelta(days=b.duration.days + 1)
        last = local_date(end, tz) + timedelta(days=1)
        # Occurrences from ``first`` 00:00 to ``last`` 00:00, both included (local, naive).
        lo, hi = datetime.combine(first, time(0, 0)), datetime.combine(last, time(0, 0))
        found: list[Interval] = []
        for year in range(first.year, last.year + 1):
            occs, spans = _rrule_year(b.rrule, b.duration, b.reason, tz, year)
            found += spans[bisect_left(occs, lo) : bisect_right(occs, hi)]
    else:
        assert b.start is not None and b.end is not None
        # Inclusive end date: the blackout lasts until midnight after its last day.
        found = [
            Interval(local_midnight(b.start, tz), local_midnight(b.end + timedelta(days=1), tz), b.reason)
        ]
    return [iv for iv in found if iv.overlaps_range(start, end)]


@lru_cache(maxsize=16384)
def _rrule_year(
    rule: str, length: timedelta, reason: str, tz: str, year: int
) -> tuple[tuple[datetime, ...], tuple[Interval, ...]]:
    """The recurrence's occurrences in ``year`` (local, naive) and the blackout each one starts."""
    occs = year_occurrences(rule, year)
    return occs, tuple(Interval(*_day_span(o.date(), length, tz), reason) for o in occs)


def _blackouts(keys: Sequence[_BlackoutKey], tz: str, start: datetime, end: datetime) -> list[Interval]:
    out: list[Interval] = []
    for b in keys:
        out.extend(_one_blackout(b, tz, start, end))
    return sorted(out, key=lambda iv: (iv.start, iv.end, iv.reason))


def blackout_intervals(
    blackouts: Sequence[Blackout], tz: str, start: datetime, end: datetime
) -> list[Interval]:
    """Every blackout occurrence overlapping [start, end) in ``tz``, sorted, not merged (each keeps
    its own reason), not clipped."""
    return _blackouts([_blackout_key(b) for b in blackouts], tz, utc(start), utc(end))


def blackout_at(blackouts: Sequence[Blackout], tz: str, at: datetime) -> Blackout | None:
    """The first blackout (in config order) in force at ``at``, or None."""
    at = utc(at)
    for b in blackouts:
        if any(iv.contains(at) for iv in _one_blackout(_blackout_key(b), tz, at, at + timedelta(seconds=1))):
            return b
    return None


class WindowStatus(StrEnum):
    OPEN = "open"
    CUT = "cut"  # part of it falls in a blackout
    REMOVED = "removed"  # all of it falls in blackouts


@dataclass(frozen=True)
class WindowOccurrence:
    """One window occurrence, what is left open of it, and the blackouts that took the rest."""

    window: Interval
    open: tuple[Interval, ...]
    blocked_by: tuple[Interval, ...]

    @property
    def status(self) -> WindowStatus:
        if not self.blocked_by:
            return WindowStatus.OPEN
        return WindowStatus.CUT if self.open else WindowStatus.REMOVED

    @property
    def blocked_reasons(self) -> list[str]:
        return list(dict.fromkeys(iv.reason for iv in self.blocked_by))


def _occurrence(window: Interval, blackouts: Sequence[Interval]) -> WindowOccurrence:
    hits = tuple(b for b in blackouts if b.overlaps(window))
    return WindowOccurrence(window, tuple(subtract(window, hits)), hits)


# Bounded: a tick needs two local years per customer (an annual period ends on the next Jan 1).
@lru_cache(maxsize=4096)
def _status_year(
    window: _WindowKey, blackouts: tuple[_BlackoutKey, ...], year: int
) -> tuple[tuple[date, ...], tuple[WindowOccurrence, ...]]:
    """Each (unmerged) window occurrence starting in local ``year``, with what the blackouts left of it."""
    days, occurrences = _window_year(window, year)
    return days, tuple(_occurrence(w, _blackouts(blackouts, window.tz, w.start, w.end)) for w in occurrences)


def window_status(customer: Customer, start: datetime, end: datetime) -> list[WindowOccurrence]:
    """The customer's window occurrences overlapping [start, end), each with its open parts and the
    blackouts that removed or cut it."""
    start, end = utc(start), utc(end)
    tz = customer.timezone
    key = _window_key(customer.maintenance_window, tz)
    blackouts = tuple(_blackout_key(b) for b in customer.blackouts)
    first, last = local_date(start, tz) - timedelta(days=1), local_date(end, tz)
    found: list[WindowOccurrence] = []
    for year in range(first.year, last.year + 1):
        days, occurrences = _status_year(key, blackouts, year)
        found += [
            occ
            for occ in occurrences[bisect_left(days, first) : bisect_right(days, last)]
            if occ.window.overlaps_range(start, end)
        ]
    windows = merge(occ.window for occ in found)
    if windows == [occ.window for occ in found]:
        return found
    # Occurrences that touch (24 h windows on consecutive days) are one window: judge it afresh.
    cuts = _blackouts(blackouts, tz, windows[0].start, windows[-1].end)
    return [_occurrence(w, cuts) for w in windows]


def open_windows(customer: Customer, start: datetime, end: datetime) -> list[Interval]:
    """Window time minus blackouts, overlapping [start, end); see ``window_status`` for who cut what."""
    start, end = utc(start), utc(end)
    return [
        part
        for occ in window_status(customer, start, end)
        for part in occ.open
        if part.overlaps_range(start, end)
    ]


def next_open_window(
    customer: Customer, after: datetime, horizon: timedelta = DEFAULT_HORIZON
) -> Interval | None:
    """The first open window that has not ended at ``after``; it may already be running
    (``start <= after``), which is what a caller asking "can I run now" wants. None within ``horizon``."""
    after = utc(after)
    step = timedelta(days=35)
    lo = after
    while lo < after + horizon:
        hi = min(lo + step, after + horizon)
        for part in open_windows(customer, lo, hi):
            if part.end > after:
                return part
        lo = hi
    return None


def window_open_at(customer: Customer, at: datetime) -> Interval | None:
    """The open window containing ``at``, or None (outside the window, or in a blackout)."""
    at = utc(at)
    for part in open_windows(customer, at, at + timedelta(seconds=1)):
        if part.contains(at):
            return part
    return None
