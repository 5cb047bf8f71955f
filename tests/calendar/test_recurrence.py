"""Blackout recurrences expanded year by year from a re-anchored rule give exactly what plain dateutil
gives from the 2020 anchor (or the rule's own DTSTART), in 2021, 2027, 2036 and 2050."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from dateutil.rrule import rrulestr

from opskeeper.calendar import CalendarError
from opskeeper.calendar.recurrence import RRULE_ANCHOR, parse_rrule, reanchored, rrule_days

RULES = [
    "FREQ=MONTHLY;BYMONTHDAY=-1",
    "FREQ=MONTHLY;BYMONTHDAY=-2",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=MONTHLY;INTERVAL=5;BYMONTHDAY=10",
    "FREQ=MONTHLY;INTERVAL=7",  # day defaults from the anchor (the 1st)
    "FREQ=WEEKLY;INTERVAL=2",  # weekday defaults from the anchor (a Wednesday)
    "FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,TH",
    "FREQ=WEEKLY;INTERVAL=2;WKST=SU;BYDAY=SU,MO",
    "FREQ=WEEKLY;BYDAY=FR",
    "FREQ=DAILY;INTERVAL=10",
    "FREQ=DAILY;INTERVAL=9;BYMONTH=3",
    "FREQ=YEARLY",
    "FREQ=YEARLY;BYMONTH=1,4,7,10;BYMONTHDAY=1",
    "FREQ=YEARLY;INTERVAL=3;BYMONTH=6;BYMONTHDAY=15",
    "FREQ=YEARLY;INTERVAL=4;BYMONTH=2",  # month given, day defaults from the anchor
    "FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO",
    "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=40",
    "FREQ=WEEKLY;INTERVAL=2;COUNT=900",
    "FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20300101T000000",
    "FREQ=WEEKLY;INTERVAL=3;UNTIL=20400615",
    "DTSTART:20260105T000000\nRRULE:FREQ=WEEKLY;INTERVAL=2",
    "DTSTART:20230317T090000\nRRULE:FREQ=MONTHLY;INTERVAL=4",
    "DTSTART:20230317T090000\nRRULE:FREQ=YEARLY;INTERVAL=2",
    "DTSTART:20240229T000000\nRRULE:FREQ=YEARLY",  # no equivalent start in most years: plain path
    "DTSTART:20250131T000000\nRRULE:FREQ=MONTHLY;INTERVAL=2",  # idem
    "DTSTART:20311205T000000\nRRULE:FREQ=DAILY;INTERVAL=11",  # starts after some asked years
    "FREQ=HOURLY;INTERVAL=25",  # sub-daily: plain path
    "RRULE:FREQ=MONTHLY;BYMONTHDAY=1\nEXRULE:FREQ=YEARLY;INTERVAL=2;BYMONTH=1;BYMONTHDAY=1",
    "RRULE:FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=15\nRDATE:20270704T000000,20500704T000000\nEXDATE:20360415T000000",
]
YEARS = (2021, 2027, 2036, 2050)


def plain(rule: str, first: date, last: date) -> list[date]:
    """dateutil straight from the anchor: the reference."""
    lo, hi = (RRULE_ANCHOR.replace(year=d.year, month=d.month, day=d.day) for d in (first, last))
    return [o.date() for o in rrulestr(rule, dtstart=RRULE_ANCHOR, forceset=True).between(lo, hi, inc=True)]


def ranges(year: int) -> list[tuple[date, date]]:
    rnd = random.Random(year)
    fixed = [
        (date(year, 1, 1), date(year, 12, 31)),  # a year
        (date(year, 2, 1), date(year, 3, 1)),  # a month
        (date(year - 1, 12, 20), date(year, 1, 10)),  # across the year end
        (date(year, 6, 30), date(year, 6, 30)),  # one day
        (date(year, 3, 5), date(year + 2, 2, 3)),  # several years
    ]
    spread = []
    for _ in range(6):
        first = date(year, 1, 1) + timedelta(days=rnd.randrange(365))
        spread.append((first, first + timedelta(days=rnd.randrange(1, 120))))
    return fixed + spread


@pytest.mark.parametrize("rule", RULES)
def test_year_by_year_expansion_equals_plain_dateutil(rule: str) -> None:
    for year in YEARS:
        for first, last in ranges(year):
            assert rrule_days(rule, first, last) == plain(rule, first, last), (rule, first, last)


def test_rules_without_an_equivalent_start_keep_the_plain_expansion() -> None:
    def moved(rule: str) -> object:
        return reanchored(parse_rrule(rule)._rrule[0], 2050)  # noqa: SLF001

    assert moved("FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=40") is None
    assert moved("FREQ=HOURLY;INTERVAL=25") is None
    assert moved("DTSTART:20240229T000000\nRRULE:FREQ=YEARLY") is None
    fortnight = moved("FREQ=WEEKLY;INTERVAL=2")
    assert fortnight is not None and fortnight._dtstart == RRULE_ANCHOR + timedelta(weeks=2 * 782)  # type: ignore[attr-defined]  # noqa: SLF001


def test_zoned_dtstart_is_refused_with_a_clear_message() -> None:
    with pytest.raises(CalendarError, match="without TZID or 'Z'"):
        rrule_days("DTSTART:20260105T000000Z\nRRULE:FREQ=WEEKLY", date(2026, 11, 1), date(2026, 11, 30))
