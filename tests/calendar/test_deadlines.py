"""Response deadlines: 24x7 is elapsed time, support-hours counts only staffed time in the zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from opskeeper.calendar import (
    CalendarError,
    business_time_between,
    response_deadline,
    support_calendar,
    tier_deadline,
    tier_time_left,
)
from opskeeper.config.loader import load_estate
from opskeeper.config.types import Severity
from opskeeper.paths import EXAMPLE_ESTATE
from tests.calendar.helpers import hours, utc, wall

BERLIN = "Europe/Berlin"
NINE_TO_SIX = hours()


def due(opened: str, allowed: timedelta, tz: str = BERLIN, holidays: list[date] | None = None, **kw):
    return response_deadline(
        utc(opened),
        allowed,
        coverage=kw.get("coverage", "support-hours"),
        support_hours=kw.get("support_hours", NINE_TO_SIX),
        holidays=holidays or [],
        tz=tz,
    )


def test_friday_evening_event_is_due_monday_morning():
    # Fri 2026-11-27 17:30 CET, 2 h: 30 min on Friday, 1 h 30 on Monday.
    assert wall(due("2026-11-27T16:30Z", timedelta(hours=2)), BERLIN) == "2026-11-30 10:30 CET"


def test_event_outside_hours_starts_counting_at_opening():
    assert wall(due("2026-11-24T05:00Z", timedelta(hours=2)), BERLIN) == "2026-11-24 11:00 CET"
    assert wall(due("2026-11-28T10:00Z", timedelta(hours=1)), BERLIN) == "2026-11-30 10:00 CET"  # Saturday


def test_holidays_are_skipped():
    # Wed 2026-12-23 17:00, 4 h; Thu 24 and Fri 25 are holidays, then the weekend.
    holidays = [date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26)]
    assert (
        wall(due("2026-12-23T16:00Z", timedelta(hours=4), holidays=holidays), BERLIN)
        == "2026-12-28 12:00 CET"
    )


def test_weekend_with_dst_change_keeps_local_hours():
    # Fri 2026-03-27 17:30 CET; clocks go forward on Sunday; due Mon 10:30 CEST (08:30 UTC).
    d = due("2026-03-27T16:30Z", timedelta(hours=2))
    assert d == utc("2026-03-30T08:30Z")
    assert wall(d, BERLIN) == "2026-03-30 10:30 CEST"
    # New York falls back on Sunday 2026-11-01: due Mon 10:30 EST (15:30 UTC).
    ny = due("2026-10-30T21:30Z", timedelta(hours=2), tz="America/New_York")
    assert wall(ny, "America/New_York") == "2026-11-02 10:30 EST"


def test_dst_change_inside_support_hours_counts_real_time():
    # Support every day 01:00-05:00 Berlin; on 2026-03-29 that is only 3 h (02:00-03:00 does not exist).
    night = hours("01:00", "05:00", days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
    d = due("2026-03-29T00:00Z", timedelta(hours=3), support_hours=night)
    assert wall(d, BERLIN) == "2026-03-29 05:00 CEST"
    d = due("2026-03-29T00:00Z", timedelta(hours=4), support_hours=night)
    assert wall(d, BERLIN) == "2026-03-30 02:00 CEST"
    # Sydney falls back on 2026-04-05: 01:00-05:00 lasts 5 h.
    d = due("2026-04-04T14:00Z", timedelta(hours=5), tz="Australia/Sydney", support_hours=night)
    assert wall(d, "Australia/Sydney") == "2026-04-05 05:00 AEST"


def test_24x7_is_elapsed_time_across_fall_back():
    d = due("2026-10-24T23:30Z", timedelta(hours=2), coverage="24x7")  # 01:30 CEST
    assert wall(d, BERLIN) == "2026-10-25 02:30 CET"


def test_shanghai_support_hours_without_dst():
    d = due("2026-11-27T09:30Z", timedelta(hours=2), tz="Asia/Shanghai")  # Fri 17:30 CST
    assert d == utc("2026-11-30T02:30Z")


def test_business_time_between_is_time_left_to_deadline():
    kw = dict(coverage="support-hours", support_hours=NINE_TO_SIX, holidays=[], tz=BERLIN)
    a, b = utc("2026-11-27T16:00Z"), utc("2026-11-30T09:00Z")  # Fri 17:00 -> Mon 10:00
    assert business_time_between(a, b, **kw) == timedelta(hours=2)
    assert business_time_between(b, a, **kw) == -timedelta(hours=2)
    assert business_time_between(a, b, **{**kw, "coverage": "24x7"}) == b - a
    opened = utc("2026-11-27T16:30Z")
    deadline = due("2026-11-27T16:30Z", timedelta(hours=2))
    assert business_time_between(opened, deadline, **kw) == timedelta(hours=2)


def test_no_support_days_is_an_error():
    never = hours(days=[])
    with pytest.raises(CalendarError, match="support hours list no days"):
        due("2026-11-27T16:30Z", timedelta(hours=2), support_hours=never)


def test_support_calendar_of_example_customer_uses_provider_hours_in_customer_zone():
    estate = load_estate(EXAMPLE_ESTATE)
    cal = support_calendar(estate, estate.customer("hanhai"))
    assert cal.tz == "Asia/Shanghai" and date(2026, 12, 25) in cal.holidays
    # Wed 2026-12-23 17:00 CST, 2 h: 1 h on Wed; Dec 24/25 are provider holidays -> Mon Dec 28 10:00 CST.
    d = cal.deadline(utc("2026-12-23T09:00Z"), timedelta(hours=2), "support-hours")
    assert wall(d, "Asia/Shanghai") == "2026-12-28 10:00 CST"
    assert cal.time_left(utc("2026-12-23T09:00Z"), d, "support-hours") == timedelta(hours=2)


def test_tier_deadline_in_support_hours_across_holidays_and_weekend():
    estate = load_estate(EXAMPLE_ESTATE)
    hanhai = estate.customer("hanhai")  # standard tier: high = 8 h in support hours (09-18, Asia/Shanghai)
    opened = datetime(2026, 12, 23, 7, 0, tzinfo=UTC)  # Wednesday 15:00 CST: 3 h left that day
    due = tier_deadline(estate, hanhai, Severity.HIGH, opened)
    # Thu 24 and Fri 25 Dec are provider holidays, then the weekend: the other 5 h are Monday 09-14.
    assert due == datetime(2026, 12, 28, 6, 0, tzinfo=UTC)  # Monday 14:00 CST
    assert tier_deadline(estate, hanhai, Severity.EMERGENCY, opened) == opened + timedelta(hours=2)  # 24x7
    left = tier_time_left(estate, hanhai, Severity.HIGH, datetime(2026, 12, 26, 4, 0, tzinfo=UTC), due)
    assert left == timedelta(hours=5)  # Saturday: no staffed time passes until Monday
