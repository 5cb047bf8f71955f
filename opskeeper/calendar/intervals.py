"""Time intervals and wall-clock-to-instant conversion that is correct across DST changes.

Every instant the calendar hands out is an aware datetime in UTC. Aware datetimes that share
a ``ZoneInfo`` compare and subtract by wall clock (``fold`` is ignored), which is wrong on a
fall-back night; converting to UTC first makes comparison and arithmetic mean elapsed time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from opskeeper.errors import InputError


class CalendarError(InputError):
    """The calendar cannot answer with this input (naive datetime, no support days, ...)."""


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open span of time [start, end) in UTC; ``reason`` says what it is."""

    start: datetime
    end: datetime
    reason: str = ""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise CalendarError(f"interval needs time-zone aware datetimes, got {self.start!r}")
        if self.end < self.start:
            raise CalendarError(f"interval ends before it starts: {self.start} .. {self.end}")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def overlaps_range(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def utc(at: datetime) -> datetime:
    """``at`` as UTC; refuses naive datetimes (their zone would be a guess)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise CalendarError(f"expected a time-zone aware datetime, got naive {at.isoformat()}")
    return at.astimezone(UTC)


def local_date(at: datetime, tz: str) -> date:
    return utc(at).astimezone(zone(tz)).date()


def _wall(at_utc: datetime, tz: ZoneInfo) -> datetime:
    return at_utc.astimezone(tz).replace(tzinfo=None)


def localize(day: date, wall: time, tz: str) -> datetime:
    """The UTC instant of wall-clock ``wall`` on ``day`` in ``tz``.

    An ambiguous time (fall-back) takes its first occurrence (fold=0). A time inside a
    spring-forward gap does not exist: it moves to the first valid instant after the gap,
    i.e. the transition itself (02:30 on a 02:00->03:00 night becomes 03:00).
    """
    z = zone(tz)
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=z, fold=0).astimezone(UTC)
    if _wall(first, z) == naive:
        return first
    # In a gap fold=0 applies the offset before the change and fold=1 the one after; the
    # transition lies between those two instants. Bisect to the second (offsets are whole seconds).
    lo = naive.replace(tzinfo=z, fold=1).astimezone(UTC)
    hi = first
    lo, hi = min(lo, hi), max(lo, hi)
    after = hi.astimezone(z).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if not lo < mid < hi:
            break
        if mid.astimezone(z).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi


def local_midnight(day: date, tz: str) -> datetime:
    return localize(day, time(0, 0), tz)


def days_between(start: datetime, end: datetime, tz: str, *, pad_before: int = 0) -> list[date]:
    """Local dates in ``tz`` touched by [start, end], plus ``pad_before`` days before."""
    first = local_date(start, tz) - timedelta(days=pad_before)
    last = local_date(end, tz)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping or touching intervals joined (the first one's reason is kept)."""
    out: list[Interval] = []
    for iv in sorted(intervals, key=lambda i: (i.start, i.end)):
        if out and iv.start <= out[-1].end:
            if iv.end > out[-1].end:
                out[-1] = replace(out[-1], end=iv.end)
        else:
            out.append(iv)
    return out


def subtract(base: Interval, cuts: Iterable[Interval]) -> list[Interval]:
    """What is left of ``base`` after removing every interval in ``cuts``."""
    left = [base]
    for cut in cuts:
        nxt: list[Interval] = []
        for piece in left:
            if not piece.overlaps(cut):
                nxt.append(piece)
                continue
            if piece.start < cut.start:
                nxt.append(replace(piece, end=cut.start))
            if cut.end < piece.end:
                nxt.append(replace(piece, start=cut.end))
        left = nxt
    return left
