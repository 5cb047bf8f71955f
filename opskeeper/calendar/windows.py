"""Maintenance windows and blackouts in the customer's zone, and what is left open between them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache

from dateutil.rrule import rruleset, rrulestr

from opskeeper.calendar.intervals import (
    CalendarError,
    Interval,
    days_between,
    local_date,
    local_midnight,
    localize,
    merge,
    subtract,
    utc,
)
from opskeeper.config.estate import Blackout, Customer, MaintenanceWindow

WINDOW_REASON = "maintenance window"
DEFAULT_HORIZON = timedelta(days=400)
# An RRULE without its own DTSTART is anchored here (local midnight), so INTERVAL>1 and
# weekly rules without BYDAY are stable from one call to the next instead of depending on "now".
RRULE_ANCHOR = datetime(2020, 1, 1)


def window_occurrences(window: MaintenanceWindow, tz: str, start: datetime, end: datetime) -> list[Interval]:
    """Weekly occurrences of ``window`` in ``tz`` that overlap [start, end), merged, in UTC.

    Each starts at the local wall-clock ``window.start`` (see ``localize`` for DST gaps and
    folds) and lasts ``window.duration`` of real elapsed time, so a 4 h window on a fall-back
    night ends at a wall-clock time one hour earlier than usual. Occurrences are not clipped.
    """
    start, end = utc(start), utc(end)
    weekdays = {d.number for d in window.days}
    found = []
    # A window lasts at most 24 h, so one started the local day before may still be running.
    for day in days_between(start, end, tz, pad_before=1):
        if day.weekday() not in weekdays:
            continue
        begin = localize(day, window.start, tz)
        occurrence = Interval(begin, begin + window.duration, WINDOW_REASON)
        if occurrence.overlaps_range(start, end):
            found.append(occurrence)
    return merge(found)


@lru_cache(maxsize=128)
def _parse_rrule(rule: str) -> rruleset:
    try:
        return rrulestr(rule, dtstart=RRULE_ANCHOR, forceset=True)
    except (ValueError, TypeError) as e:
        raise CalendarError(f"invalid blackout rrule {rule!r}: {e}") from e


def _rrule_days(rule: str, first: date, last: date) -> list[date]:
    lo = datetime.combine(first, time(0, 0))
    hi = datetime.combine(last, time(0, 0))
    try:
        found = _parse_rrule(rule).between(lo, hi, inc=True)
    except TypeError as e:  # aware DTSTART (TZID=... or a trailing Z) cannot compare with local dates
        raise CalendarError(
            f"blackout rrule {rule!r}: give DTSTART as a local time without TZID or 'Z'; "
            "blackouts are read in the customer's zone"
        ) from e
    return [occ.date() for occ in found]


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
        days = _rrule_days(blackout.rrule, first, local_date(end, tz) + timedelta(days=1))
        spans = [_day_span(d, blackout.duration, tz) for d in days]
    else:
        assert blackout.start is not None and blackout.end is not None
        # Inclusive end date: the blackout lasts until midnight after its last day.
        spans = [(local_midnight(blackout.start, tz), local_midnight(blackout.end + timedelta(days=1), tz))]
    found = [Interval(b, e, blackout.reason) for b, e in spans]
    return [iv for iv in found if iv.overlaps_range(start, end)]


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
