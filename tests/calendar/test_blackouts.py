"""Blackouts (date ranges and RRULEs at local midnight) and the windows they remove or cut."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opskeeper.calendar import (
    CalendarError,
    WindowStatus,
    blackout_at,
    blackout_intervals,
    next_open_window,
    open_windows,
    window_open_at,
    window_status,
)
from opskeeper.config.estate import Customer
from tests.calendar.helpers import blackout, utc, wall

MONTH_END = blackout(reason="month-end close", rrule="FREQ=MONTHLY;BYMONTHDAY=-2", duration="3d")
FESTIVAL = blackout(reason="Spring Festival", start="2027-02-05", end="2027-02-13")
SH = "Asia/Shanghai"


def customer(**changes: object) -> Customer:
    data: dict[str, object] = {
        "id": "c1",
        "name": "C1",
        "timezone": SH,
        "tier": "standard",
        "contacts": [{"name": "x", "role": "it-manager", "email": "x@example.com"}],
        "maintenance_window": {"days": ["sat"], "start": "22:00", "duration": "4h"},
        "blackouts": [MONTH_END, FESTIVAL],
        "systems": [{"id": "s", "hosts": [{"name": "h", "address": "localhost", "local": True}]}],
    }
    data.update(changes)
    return Customer.model_validate(data)


def test_rrule_month_end_crosses_the_month_boundary():
    [iv] = blackout_intervals([MONTH_END], SH, utc("2026-11-25T00:00Z"), utc("2026-11-29T00:00Z"))
    assert wall(iv.start, SH) == "2026-11-29 00:00 CST"
    assert wall(iv.end, SH) == "2026-12-02 00:00 CST"
    assert blackout_at([MONTH_END], SH, utc("2026-12-01T15:59Z")) is MONTH_END  # Dec 1 23:59 local
    assert blackout_at([MONTH_END], SH, utc("2026-12-01T16:00Z")) is None  # Dec 2 00:00 local
    assert blackout_at([MONTH_END], SH, utc("2026-11-28T15:59Z")) is None  # Nov 28 23:59 local


def test_rrule_month_end_across_year_end_is_found_from_january():
    # Occurrence starts 2026-12-30 local; a query that starts on Jan 1 must still see it.
    ivs = blackout_intervals([MONTH_END], SH, utc("2026-12-31T16:00Z"), utc("2027-01-05T00:00Z"))
    assert [(wall(i.start, SH), wall(i.end, SH)) for i in ivs] == [
        ("2026-12-30 00:00 CST", "2027-01-02 00:00 CST")
    ]
    assert blackout_at([MONTH_END], SH, utc("2027-01-01T12:00Z")) is MONTH_END


def test_rrule_negative_monthday_in_february_and_leap_year():
    # (Jan 30 - Feb 2 also overlaps February; start the query after it.)
    ivs = blackout_intervals([MONTH_END], SH, utc("2027-02-03T00:00Z"), utc("2027-03-10T00:00Z"))
    assert [wall(i.start, SH) for i in ivs] == ["2027-02-27 00:00 CST"]
    assert wall(ivs[0].end, SH) == "2027-03-02 00:00 CST"
    ivs = blackout_intervals([MONTH_END], SH, utc("2028-02-10T00:00Z"), utc("2028-03-10T00:00Z"))
    assert [wall(i.start, SH) for i in ivs] == ["2028-02-28 00:00 CST"]


def test_rrule_whole_days_end_at_local_midnight_across_dst():
    b = blackout(reason="close", rrule="FREQ=MONTHLY;BYMONTHDAY=28", duration="2d")
    [iv] = blackout_intervals([b], "Europe/Berlin", utc("2026-03-28T12:00Z"), utc("2026-03-28T13:00Z"))
    assert wall(iv.start, "Europe/Berlin") == "2026-03-28 00:00 CET"
    assert wall(iv.end, "Europe/Berlin") == "2026-03-30 00:00 CEST"
    assert iv.duration == timedelta(hours=47)


def test_rrule_with_hours_in_duration_adds_elapsed_time():
    b = blackout(reason="payroll", rrule="FREQ=WEEKLY;BYDAY=FR", duration="1d6h")
    [iv] = blackout_intervals([b], "America/New_York", utc("2026-11-27T12:00Z"), utc("2026-11-27T13:00Z"))
    assert wall(iv.start, "America/New_York") == "2026-11-27 00:00 EST"
    assert wall(iv.end, "America/New_York") == "2026-11-28 06:00 EST"


def test_date_range_is_inclusive_of_whole_local_days():
    [iv] = blackout_intervals([FESTIVAL], SH, utc("2027-01-01T00:00Z"), utc("2027-03-01T00:00Z"))
    assert wall(iv.start, SH) == "2027-02-05 00:00 CST"
    assert wall(iv.end, SH) == "2027-02-14 00:00 CST"
    assert blackout_at([FESTIVAL], SH, utc("2027-02-13T15:59Z")) is FESTIVAL  # 13th, 23:59 local
    assert blackout_at([FESTIVAL], SH, utc("2027-02-13T16:00Z")) is None  # 14th, 00:00 local
    assert blackout_at([FESTIVAL], SH, utc("2027-02-04T15:59Z")) is None  # 4th, 23:59 local
    # the same dates in another zone are other instants
    [ny] = blackout_intervals(
        [FESTIVAL], "America/New_York", utc("2027-01-01T00:00Z"), utc("2027-03-01T00:00Z")
    )
    assert ny.start == utc("2027-02-05T05:00Z")


def test_blackout_at_returns_the_first_in_config_order():
    new_year = blackout(reason="new year", start="2026-12-31", end="2027-01-08")
    assert blackout_at([MONTH_END, new_year], SH, utc("2027-01-01T04:00Z")) is MONTH_END
    assert blackout_at([new_year, MONTH_END], SH, utc("2027-01-01T04:00Z")) is new_year


def test_window_cut_by_month_end_keeps_the_part_before_midnight():
    c = customer()
    [occ] = window_status(c, utc("2026-11-28T00:00Z"), utc("2026-11-29T00:00Z"))
    assert occ.status is WindowStatus.CUT
    assert occ.blocked_reasons == ["month-end close"]
    assert [(wall(p.start, SH), wall(p.end, SH)) for p in occ.open] == [
        ("2026-11-28 22:00 CST", "2026-11-29 00:00 CST")
    ]
    assert window_open_at(c, utc("2026-11-28T15:00Z")) is not None
    assert window_open_at(c, utc("2026-11-28T16:30Z")) is None  # 00:30 local: blackout


def test_window_removed_by_date_range_and_next_open_window_skips_it():
    c = customer()
    # Sat 2027-02-06 falls in the festival; Sat 2027-02-13 22:00 too, but its last two hours
    # (Feb 14 00:00-02:00) are after the inclusive end date; Sat 2027-02-20 is free.
    occs = window_status(c, utc("2027-02-01T00:00Z"), utc("2027-02-21T00:00Z"))
    statuses = {wall(o.window.start, SH)[:10]: o.status for o in occs}
    assert statuses == {
        "2027-02-06": WindowStatus.REMOVED,
        "2027-02-13": WindowStatus.CUT,
        "2027-02-20": WindowStatus.OPEN,
    }
    nxt = next_open_window(c, utc("2027-02-01T00:00Z"))
    assert nxt is not None and wall(nxt.start, SH) == "2027-02-14 00:00 CST"
    assert wall(nxt.end, SH) == "2027-02-14 02:00 CST"
    opens = open_windows(c, utc("2027-02-01T00:00Z"), utc("2027-02-21T00:00Z"))
    assert [wall(o.start, SH) for o in opens] == ["2027-02-14 00:00 CST", "2027-02-20 22:00 CST"]


def test_next_open_window_may_already_be_running_and_none_beyond_horizon():
    c = customer()
    running = next_open_window(c, utc("2026-12-05T15:00Z"))  # Sat 23:00 local, inside the window
    assert running is not None and running.start == utc("2026-12-05T14:00Z")
    always_blacked = customer(blackouts=[blackout(reason="frozen", rrule="FREQ=DAILY", duration="1d")])
    assert next_open_window(always_blacked, utc("2026-12-01T00:00Z"), horizon=timedelta(days=60)) is None


def test_rrule_with_own_dtstart_and_interval():
    fortnight = blackout(
        reason="sprint review", rrule="DTSTART:20260105T000000\nRRULE:FREQ=WEEKLY;INTERVAL=2", duration="1d"
    )
    ivs = blackout_intervals([fortnight], "Europe/Berlin", utc("2026-11-01T00:00Z"), utc("2026-11-30T00:00Z"))
    assert [wall(i.start, "Europe/Berlin") for i in ivs] == ["2026-11-09 00:00 CET", "2026-11-23 00:00 CET"]


def test_rrule_with_zoned_dtstart_is_refused_with_a_clear_message():
    zoned = blackout(reason="x", rrule="DTSTART:20260105T000000Z\nRRULE:FREQ=WEEKLY", duration="1d")
    with pytest.raises(CalendarError, match="DTSTART as a local time"):
        blackout_intervals([zoned], "Europe/Berlin", utc("2026-11-01T00:00Z"), utc("2026-11-30T00:00Z"))


def test_blackout_day_whose_midnight_does_not_exist_starts_at_0100():
    # Santiago springs forward at midnight: 2026-09-06 00:00 does not exist, the day starts at 01:00.
    b = blackout(reason="fiestas", start="2026-09-06", end="2026-09-06")
    [iv] = blackout_intervals([b], "America/Santiago", utc("2026-09-01T00:00Z"), utc("2026-09-10T00:00Z"))
    assert wall(iv.start, "America/Santiago") == "2026-09-06 01:00 -03"
    assert iv.duration == timedelta(hours=23)
