"""Small value types shared by the config models: durations, times of day, weekdays, time zones."""

from __future__ import annotations

import re
from datetime import time, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BeforeValidator, PlainSerializer

from opskeeper.i18n import Language as Language  # defined with the translations; config names it here too

_DURATION = re.compile(
    r"^\s*(?:(\d+)\s*w)?\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$"
)


def parse_duration(value: Any) -> timedelta:
    """'90m', '2h', '1d12h', '3w' or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m and any(m.groups()):
            w, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
            return timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=s)
    raise ValueError(f"expected a duration like '30m', '2h', '1d12h' or '3w', got {value!r}")


def format_duration(td: timedelta) -> str:
    total = int(td.total_seconds())
    if total == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, total = divmod(total, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]


def parse_time_of_day(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and 0 <= value < 24 * 60:  # YAML reads 02:00 as sexagesimal 120
        return time(value // 60, value % 60)
    if isinstance(value, str):
        m = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
        if m and int(m[1]) < 24 and int(m[2]) < 60:
            return time(int(m[1]), int(m[2]))
    raise ValueError(f"expected a time of day 'HH:MM' (24-hour), got {value!r}")


TimeOfDay = Annotated[
    time, BeforeValidator(parse_time_of_day), PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str)
]


_ZONES: set[str] | None = None


def parse_zone(value: Any) -> str:
    global _ZONES
    if not isinstance(value, str):
        raise ValueError(f"expected an IANA time zone name like 'Europe/Moscow', got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as e:
        if _ZONES is None:
            _ZONES = available_timezones()
        near = sorted(z for z in _ZONES if z.lower().endswith(value.lower().split("/")[-1]))[:3]
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise ValueError(
            f"unknown time zone {value!r}; expected an IANA name like 'Asia/Shanghai'{hint}"
        ) from e
    return value


TimeZoneName = Annotated[str, BeforeValidator(parse_zone)]


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Monday = 0, as ``datetime.weekday()``."""
        return list(Weekday).index(self)


def _weekday(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower()[:3]
    return value


WeekdayName = Annotated[Weekday, BeforeValidator(_weekday)]


class Severity(StrEnum):
    """How urgent an incident or notice is, in the contract's words: it picks the response deadline.

    Not the severity of a finding (``FindingSeverity``): a critical finding may be routine work.
    """

    EMERGENCY = "emergency"
    HIGH = "high"
    ROUTINE = "routine"


class FindingSeverity(StrEnum):
    """How bad a finding is (a security check, a drill's gap): one scale for checks and drills."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def weight(self) -> int:
        """Weight in the hardening score: a critical check counts ten low ones."""
        return {"critical": 10, "high": 5, "medium": 2, "low": 1}[self.value]

    @property
    def rank(self) -> int:
        """0 for critical: sort by it to put the worst first."""
        return list(FindingSeverity).index(self)

    @property
    def fails_drill(self) -> bool:
        return self in (FindingSeverity.CRITICAL, FindingSeverity.HIGH)


class Cadence(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"

