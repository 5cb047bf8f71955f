"""Maintenance window occurrences across DST changes, midnight and zones without DST."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from opskeeper.calendar import CalendarError, Interval, localize, window_occurrences
from tests.calendar.helpers import utc, wall, window


@pytest.mark.parametrize(
    ("tz", "day", "expected_utc", "expected_wall"),
    [
        # 02:30 does not exist on spring-forward night: the window opens when the clocks jump.
        ("Europe/Berlin", "2026-03-29", "2026-03-29T01:00Z", "2026-03-29 03:00 CEST"),
        ("America/New_York", "2026-03-08", "2026-03-08T07:00Z", "2026-03-08 03:00 EDT"),
        ("Australia/Sydney", "2026-10-04", "2026-10-03T16:00Z", "2026-10-04 03:00 AEDT"),
    ],
)
def test_window_at_0230_on_spring_forward_day_opens_after_the_gap(tz, day, expected_utc, expected_wall):
    start = utc(f"{day}T00:00Z") - timedelta(days=1)
    [occ] = window_occurrences(window(["sun"], "02:30", "1h"), tz, start, start + timedelta(days=2))
    assert occ.start == utc(expected_utc)
    assert wall(occ.start, tz) == expected_wall
    assert occ.duration == timedelta(hours=1)


@pytest.mark.parametrize(
    ("tz", "day", "at", "expected_utc", "expected_wall"),
    [
        # Ambiguous wall time on fall-back night: the first occurrence (summer time) wins.
        ("Europe/Berlin", "2026-10-25", "02:30", "2026-10-25T00:30Z", "2026-10-25 02:30 CEST"),
        ("America/New_York", "2026-11-01", "01:30", "2026-11-01T05:30Z", "2026-11-01 01:30 EDT"),
        ("Australia/Sydney", "2026-04-05", "02:30", "2026-04-04T15:30Z", "2026-04-05 02:30 AEDT"),
    ],
)
def test_ambiguous_start_on_fall_back_night_takes_first_occurrence(tz, day, at, expected_utc, expected_wall):
    start = utc(f"{day}T00:00Z") - timedelta(days=1)
    [occ] = window_occurrences(window(["sun"], at, "2h"), tz, start, start + timedelta(days=2))
    assert occ.start == utc(expected_utc)
    assert wall(occ.start, tz) == expected_wall


def test_window_on_fall_back_night_lasts_real_elapsed_time():
    # Berlin, Sun 2026-10-25 01:00 CEST for 4 h: the clock shows 04:00 CET at the end, not 05:00.
    w = window(["sun"], "01:00", "4h")
    [occ] = window_occurrences(w, "Europe/Berlin", utc("2026-10-24T12:00Z"), utc("2026-10-25T12:00Z"))
    assert occ.duration == timedelta(hours=4)
    assert wall(occ.start, "Europe/Berlin") == "2026-10-25 01:00 CEST"
    assert wall(occ.end, "Europe/Berlin") == "2026-10-25 04:00 CET"


def test_window_across_spring_forward_night_lasts_real_elapsed_time():
    # New York, Sat 2026-03-07 23:00 EST for 4 h: ends 04:00 EDT (the night lost an hour).
    [occ] = window_occurrences(
        window(["sat"], "23:00", "4h"), "America/New_York", utc("2026-03-07T00:00Z"), utc("2026-03-09T00:00Z")
    )
    assert occ == Interval(utc("2026-03-08T04:00Z"), utc("2026-03-08T08:00Z"), occ.reason)
    assert wall(occ.end, "America/New_York") == "2026-03-08 04:00 EDT"


def test_window_crossing_midnight_is_found_from_the_next_day():
    # Shanghai Sat 22:00 + 4 h ends Sun 02:00; a query starting Sun 00:30 local still sees it.
    w = window(["sat"], "22:00", "4h")
    occs = window_occurrences(w, "Asia/Shanghai", utc("2026-11-28T16:30Z"), utc("2026-11-29T00:00Z"))
    assert occs == [Interval(utc("2026-11-28T14:00Z"), utc("2026-11-28T18:00Z"), occs[0].reason)]
    assert wall(occs[0].end, "Asia/Shanghai") == "2026-11-29 02:00 CST"


def test_zone_without_dst_keeps_the_same_utc_time_all_year():
    w = window(["sat"], "22:00", "4h")
    occs = window_occurrences(w, "Asia/Shanghai", utc("2026-03-01T00:00Z"), utc("2026-11-30T00:00Z"))
    assert len(occs) == 39
    assert {o.start.strftime("%a %H:%M") for o in occs} == {"Sat 14:00"}
    assert {o.duration for o in occs} == {timedelta(hours=4)}


def test_weekly_window_keeps_local_time_across_dst():
    w = window(["sun"], "03:00", "3h")
    occs = window_occurrences(w, "Europe/Berlin", utc("2026-03-20T00:00Z"), utc("2026-04-06T00:00Z"))
    assert [wall(o.start, "Europe/Berlin") for o in occs] == [
        "2026-03-22 03:00 CET",
        "2026-03-29 03:00 CEST",
        "2026-04-05 03:00 CEST",
    ]
    assert [o.start.hour for o in occs] == [2, 1, 1]


def test_overlapping_occurrences_are_merged():
    # Daily 24 h windows touch each other: one continuous interval.
    w = window(["mon", "tue", "wed"], "08:00", "24h")
    occs = window_occurrences(w, "Europe/Berlin", utc("2026-11-23T00:00Z"), utc("2026-11-27T00:00Z"))
    assert occs == [Interval(utc("2026-11-23T07:00Z"), utc("2026-11-26T07:00Z"), occs[0].reason)]


def test_several_days_and_range_overlap():
    w = window(["tue", "thu"], "20:00", "2h")
    occs = window_occurrences(w, "America/New_York", utc("2026-11-24T02:00Z"), utc("2026-11-27T02:00Z"))
    # Tue 2026-11-24 20:00 EST = 2026-11-25T01:00Z, Thu 26 20:00 EST = 27T01:00Z
    assert [o.start for o in occs] == [utc("2026-11-25T01:00Z"), utc("2026-11-27T01:00Z")]


def test_naive_datetimes_are_refused():
    from datetime import datetime

    with pytest.raises(CalendarError, match="naive"):
        window_occurrences(window(["sun"], "03:00", "1h"), "UTC", datetime(2026, 1, 1), datetime(2026, 2, 1))


def test_localize_non_dst_zone_is_plain_offset():
    from datetime import date

    assert localize(date(2026, 11, 30), time(23, 30), "Asia/Shanghai") == utc("2026-11-30T15:30Z")
