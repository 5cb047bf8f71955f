"""The cached, year-by-year calendar gives what a plain computation gives: windows day by day,
blackout RRULEs expanded by dateutil from the 2020 anchor, statuses judged afresh per query."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from opskeeper.calendar import (
    Interval,
    WindowOccurrence,
    blackout_at,
    blackout_intervals,
    localize,
    merge,
    open_windows,
    subtract,
    window_status,
)
from opskeeper.config.estate import Blackout, Customer, MaintenanceWindow
from tests.calendar.helpers import blackout

ANCHOR = datetime(2020, 1, 1)
BLACKOUTS = [
    blackout(reason="month-end", rrule="FREQ=MONTHLY;BYMONTHDAY=-2", duration="3d"),
    blackout(reason="last day", rrule="FREQ=MONTHLY;BYMONTHDAY=-1", duration="1d6h"),
    blackout(reason="last friday", rrule="FREQ=MONTHLY;BYDAY=-1FR", duration="1d"),
    blackout(reason="fortnight", rrule="FREQ=WEEKLY;INTERVAL=2", duration="1d"),
    blackout(reason="quarterly", rrule="FREQ=YEARLY;BYMONTH=1,4,7,10;BYMONTHDAY=1", duration="10d"),
    blackout(reason="forty", rrule="FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=40", duration="2d"),
    blackout(reason="until", rrule="FREQ=WEEKLY;BYDAY=TU;UNTIL=20300101", duration="12h"),
    blackout(reason="sprint", rrule="DTSTART:20260105T000000\nRRULE:FREQ=WEEKLY;INTERVAL=2", duration="1d"),
    blackout(reason="range", start="2027-02-05", end="2027-02-13"),
    blackout(reason="range", start="2050-12-20", end="2051-01-03"),
]
CASES = [  # zone, window days, start, duration
    ("Asia/Shanghai", ["sat"], "22:00", "4h"),
    ("Europe/Berlin", ["sun"], "02:30", "3h"),  # in the spring-forward gap once a year
    ("America/New_York", ["mon", "thu"], "01:30", "1h"),  # ambiguous on fall-back night
    ("America/Santiago", ["sat", "sun"], "00:00", "2h"),  # midnight DST changes
    ("Australia/Sydney", ["fri"], "20:00", "6h"),
    ("UTC", ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "00:00", "24h"),  # touching: one window
    ("Europe/London", ["sat", "sun"], "12:00", "24h"),
]


def plain_windows(window: MaintenanceWindow, tz: str, start: datetime, end: datetime) -> list[Interval]:
    z = ZoneInfo(tz)
    first = start.astimezone(z).date() - timedelta(days=1)
    weekdays = {d.number for d in window.days}
    found = []
    for i in range((end.astimezone(z).date() - first).days + 1):
        day = first + timedelta(days=i)
        if day.weekday() in weekdays:
            begin = localize(day, window.start, tz)
            iv = Interval(begin, begin + window.duration, "maintenance window")
            if iv.overlaps_range(start, end):
                found.append(iv)
    return merge(found)


def plain_blackouts(blackouts: list[Blackout], tz: str, start: datetime, end: datetime) -> list[Interval]:
    z = ZoneInfo(tz)
    out = []
    for b in blackouts:
        if b.rrule:
            assert b.duration is not None
            first = start.astimezone(z).date() - timedelta(days=b.duration.days + 1)
            last = end.astimezone(z).date() + timedelta(days=1)
            rule = rrulestr(b.rrule, dtstart=ANCHOR, forceset=True)
            days = [
                o.date()
                for o in rule.between(*(datetime.combine(d, time()) for d in (first, last)), inc=True)
            ]
            whole = timedelta(days=b.duration.days)
            spans = [
                (localize(d, time(), tz), localize(d + whole, time(), tz) + b.duration - whole) for d in days
            ]
        else:
            assert b.start is not None and b.end is not None
            spans = [(localize(b.start, time(), tz), localize(b.end + timedelta(days=1), time(), tz))]
        out += [Interval(s, e, b.reason) for s, e in spans if s < end and start < e]
    return sorted(out, key=lambda iv: (iv.start, iv.end, iv.reason))


def plain_status(c: Customer, start: datetime, end: datetime) -> list[WindowOccurrence]:
    windows = plain_windows(c.maintenance_window, c.timezone, start, end)
    if not windows:
        return []
    cuts = plain_blackouts(c.blackouts, c.timezone, windows[0].start, windows[-1].end)
    out = []
    for w in windows:
        hits = tuple(b for b in cuts if b.overlaps(w))
        out.append(WindowOccurrence(w, tuple(subtract(w, hits)), hits))
    return out


def make(i: int, tz: str, days: list[str], start: str, duration: str) -> Customer:
    rnd = random.Random(i)
    return Customer.model_validate({
        "id": f"c{i}", "name": "C", "timezone": tz, "tier": "standard",
        "contacts": [{"name": "x", "role": "it-manager", "email": "x@example.com"}],
        "maintenance_window": {"days": days, "start": start, "duration": duration},
        "blackouts": rnd.sample(BLACKOUTS, 3) + BLACKOUTS[-2:],
        "systems": [{"id": "s", "hosts": [{"name": "h", "address": "localhost", "local": True}]}],
    })  # fmt: skip


def spans(year: int) -> list[tuple[datetime, datetime]]:
    rnd = random.Random(year)
    out = [(datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC))]
    for length in (
        timedelta(seconds=1),
        timedelta(hours=5),
        timedelta(days=9),
        timedelta(days=95),
        timedelta(days=400),
    ):
        for _ in range(2):
            at = datetime(year, 1, 1, tzinfo=UTC) + timedelta(minutes=rnd.randrange(366 * 24 * 60))
            out.append((at, at + length))
    return out


@pytest.mark.parametrize("case", range(len(CASES)))
def test_window_status_and_blackouts_equal_the_plain_computation(case: int) -> None:
    c = make(case, *CASES[case])
    for year in (2021, 2027, 2036, 2050):
        for start, end in spans(year):
            assert window_status(c, start, end) == plain_status(c, start, end), (start, end)
            expected = plain_blackouts(c.blackouts, c.timezone, start, end)
            assert blackout_intervals(c.blackouts, c.timezone, start, end) == expected, (start, end)


def test_open_windows_and_blackout_at_agree_with_the_plain_computation() -> None:
    c = make(0, *CASES[0])
    start = datetime(2050, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=366)
    plain_open = [p for occ in plain_status(c, start, end) for p in occ.open if p.overlaps_range(start, end)]
    assert open_windows(c, start, end) == plain_open
    for hours in range(0, 366 * 24, 7):
        at = start + timedelta(hours=hours)
        plain_in = next((b for b in c.blackouts if any(iv.contains(at) for iv in plain_blackouts([b], c.timezone, at, at + timedelta(seconds=1)))), None)  # fmt: skip
        assert blackout_at(c.blackouts, c.timezone, at) is plain_in, at


def test_a_date_in_a_window_does_not_depend_on_what_was_asked_before() -> None:
    """Warm caches from a wide query, then a narrow one: the same answer as from cold."""
    c = make(1, *CASES[1])
    narrow = (datetime(2036, 3, 29, 0, tzinfo=UTC), datetime(2036, 3, 31, tzinfo=UTC))
    window_status(c, datetime(2035, 6, 1, tzinfo=UTC), datetime(2037, 6, 1, tzinfo=UTC))
    assert window_status(c, *narrow) == plain_status(c, *narrow)
    assert date(2036, 3, 30).weekday() == 6  # the Sunday of the spring-forward night in Berlin
