"""Maintenance windows and blackouts in the customer's zone, and what is left open between them."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache

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


def window_occurrences(window: MaintenanceWindow, tz: str, start: datetime, end: datetime) -> list[Interval]:
    """Weekly occurrences of ``window`` in ``tz`` that overlap [start, end), merged, in UTC.

    Each starts at the local wall-clock ``window.start`` (see ``localize`` for DST gaps and
    folds) and lasts ``window.duration`` of real elapsed time, so a 4 h window on a fall-back
    night ends at a wall-clock time one hour earlier than usual. Occurrences are not clipped.
    """
    start, end = utc(start), utc(end)
    # A window lasts at most 24 h, so one started the local day before may still be running.
    first, last = local_date(start, tz) - timedelta(days=1), local_date(end, tz)
    key = (frozenset(d.number for d in window.days), window.start, window.duration, tz)
    found = []
    for year in range(first.year, last.year + 1):
        days, occurrences = _window_year(*key, year)
        for occurrence in occurrences[bisect_left(days, first) : bisect_right(days, last)]:
            if occurrence.overlaps_range(start, end):
                found.append(occurrence)
    return merge(found)


@lru_cache(maxsize=4096)
def _window_year(
    weekdays: frozenset[int], begins: time, length: timedelta, tz: str, year: int
) -> tuple[tuple[date, ...], tuple[Interval, ...]]:
    """The window's occurrences starting on the local days of ``year``, and those days (for bisecting)."""
    days, occurrences = [], []
    day = date(year, 1, 1)
    while day.year == year:
        if day.weekday() in weekdays:
            begin = localize(day, begins, tz)
            days.append(day)
            occurrences.append(Interval(begin, begin + length, WINDOW_REASON))
        day += timedelta(days=1)
    return tuple(days), tuple(occurrences)


def _day_span(day: date, length: timedelta, tz: str) -> tuple[datetime, datetime]:
    """From local midnight of ``day``: whole days count as calendar days (a "3d" blackout ends
    at local midnight even across a DST change); any remainder is elapsed time."""
    begin = local_midnight(day, tz)
    whole = local_midnight(day + timedelta(days=length.days), tz)
    return begin, whole + (length - timedelta(days=length.days))


def _one_blackout(blackout: Blackout, tz: str, start: datetime, end: datetime) -> list[Interval]:
    if blackout.rrule:
        assert blackout.duration is not None  # the model requires it with an rrule
        lookback = blackout.duration.days + 1
        first = local_date(start, tz) - timedelta(days=lookback)
        last = local_date(end, tz) + timedelta(days=1)
        # Occurrences from ``first`` 00:00 to ``last`` 00:00, both included (local, naive).
        lo, hi = datetime.combine(first, time(0, 0)), datetime.combine(last, time(0, 0))
        found: list[Interval] = []
        for year in range(first.year, last.year + 1):
            occs, spans = _rrule_year(blackout.rrule, blackout.duration, blackout.reason, tz, year)
            found += spans[bisect_left(occs, lo) : bisect_right(occs, hi)]
    else:
        assert blackout.start is not None and blackout.end is not None
        # Inclusive end date: the blackout lasts until midnight after its last day.
        begin = local_midnight(blackout.start, tz)
        found = [Interval(begin, local_midnight(blackout.end + timedelta(days=1), tz), blackout.reason)]
    return [iv for iv in found if iv.overlaps_range(start, end)]


@lru_cache(maxsize=16384)
def _rrule_year(
    rule: str, length: timedelta, reason: str, tz: str, year: int
) -> tuple[tuple[datetime, ...], tuple[Interval, ...]]:
    """The recurrence's occurrences in ``year`` (local, naive) and the blackout each one starts."""
    occs = year_occurrences(rule, year)
    return occs, tuple(Interval(*_day_span(o.date(), length, tz), reason) for o in occs)


def blackout_intervals(
    blackouts: Sequence[Blackout], tz: str, start: datetime, end: datetime
) -> list[Interval]:
    """Every blackout occurrence overlapping [start, end) in ``tz``, sorted, not merged (each keeps
    its own reason), not clipped."""
    start, end = utc(start), utc(end)
    out: list[Interval] = []
    for b in blackouts:
        out.extend(_one_blackout(b, tz, start, end))
    return sorted(out, key=lambda iv: (iv.start, iv.end, iv.reason))


def blackout_at(blackouts: Sequence[Blackout], tz: str, at: datetime) -> Blackout | None:
    """The first blackout (in config order) in force at ``at``, or None."""
    at = utc(at)
    for b in blackouts:
        if any(iv.contains(at) for iv in _one_blackout(b, tz, at, at + timedelta(seconds=1))):
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


def window_status(customer: Customer, start: datetime, end: datetime) -> list[WindowOccurrence]:
    """The customer's window occurrences overlapping [start, end), each with its open parts and the
    blackouts that removed or cut it."""
    tz = customer.timezone
    windows = window_occurrences(customer.maintenance_window, tz, start, end)
    if not windows:
        return []
    blackouts = blackout_intervals(customer.blackouts, tz, windows[0].start, windows[-1].end)
    out = []
    for w in windows:
        hits = tuple(b for b in blackouts if b.overlaps(w))
        out.append(WindowOccurrence(w, tuple(subtract(w, hits)), hits))
    return out


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
