"""Cadence periods are judged in the customer's zone, boundaries at local midnight."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opskeeper.calendar import next_period, period_of
from opskeeper.config.types import Cadence
from tests.calendar.helpers import utc, wall


def test_first_hour_of_december_in_shanghai_is_still_november_in_utc():
    at = utc("2026-11-30T16:30Z")  # 2026-12-01 00:30 in Shanghai
    p = period_of(Cadence.MONTHLY, at, "Asia/Shanghai")
    assert p.key == "2026-12"
    assert p.start == utc("2026-11-30T16:00Z")
    assert p.end == utc("2026-12-31T16:00Z")
    assert period_of(Cadence.MONTHLY, at, "UTC").key == "2026-11"
    assert (
        period_of(Cadence.MONTHLY, utc("2026-11-30T15:30Z"), "Asia/Shanghai").key == "2026-11"
    )  # 23:30 local


def test_new_year_eve_in_new_york_is_still_the_old_year():
    at = utc("2027-01-01T04:30Z")  # 2026-12-31 23:30 EST
    assert period_of(Cadence.MONTHLY, at, "America/New_York").key == "2026-12"
    assert period_of(Cadence.QUARTERLY, at, "America/New_York").key == "2026-Q4"
    assert period_of(Cadence.ANNUAL, at, "America/New_York").key == "2026"
    assert period_of(Cadence.ANNUAL, at, "UTC").key == "2027"
    assert period_of(Cadence.ANNUAL, at, "Asia/Shanghai").key == "2027"


@pytest.mark.parametrize(
    ("cadence", "at", "key", "start_wall", "end_wall"),
    [
        (Cadence.QUARTERLY, "2026-02-10T12:00Z", "2026-Q1", "2026-01-01 00:00 CET", "2026-04-01 00:00 CEST"),
        (Cadence.QUARTERLY, "2026-11-10T12:00Z", "2026-Q4", "2026-10-01 00:00 CEST", "2027-01-01 00:00 CET"),
        (Cadence.ANNUAL, "2026-06-10T12:00Z", "2026", "2026-01-01 00:00 CET", "2027-01-01 00:00 CET"),
        (Cadence.MONTHLY, "2026-03-15T12:00Z", "2026-03", "2026-03-01 00:00 CET", "2026-04-01 00:00 CEST"),
    ],
)
def test_boundaries_are_local_midnight_in_berlin(cadence, at, key, start_wall, end_wall):
    p = period_of(cadence, utc(at), "Europe/Berlin")
    assert (p.key, wall(p.start, "Europe/Berlin"), wall(p.end, "Europe/Berlin")) == (
        key,
        start_wall,
        end_wall,
    )


def test_period_containing_spring_forward_is_an_hour_short():
    p = period_of(Cadence.MONTHLY, utc("2026-03-15T12:00Z"), "Europe/Berlin")
    assert p.end - p.start == timedelta(days=31) - timedelta(hours=1)
    sydney = period_of(Cadence.MONTHLY, utc("2026-10-15T12:00Z"), "Australia/Sydney")
    assert sydney.end - sydney.start == timedelta(days=31) - timedelta(hours=1)


def test_next_period_chains_without_gaps():
    p = period_of(Cadence.QUARTERLY, utc("2026-11-23T00:00Z"), "Australia/Sydney")
    keys = []
    for _ in range(5):
        nxt = next_period(Cadence.QUARTERLY, p, "Australia/Sydney")
        assert nxt.start == p.end
        keys.append(nxt.key)
        p = nxt
    assert keys == ["2027-Q1", "2027-Q2", "2027-Q3", "2027-Q4", "2028-Q1"]
    assert p.contains(p.start) and not p.contains(p.end)
