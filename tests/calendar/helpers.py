"""Small builders shared by the calendar tests."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from opskeeper.config.estate import Blackout, MaintenanceWindow, SupportHours


def utc(text: str) -> datetime:
    """'2026-03-29T01:00Z' -> aware UTC datetime."""
    return datetime.fromisoformat(text)


def wall(at: datetime, tz: str) -> str:
    """Local wall clock with abbreviation, to assert on what a customer would read."""
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")


def window(days: list[str], start: str, duration: str) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate({"days": days, "start": start, "duration": duration})


def blackout(**fields: object) -> Blackout:
    return Blackout.model_validate(fields)


def hours(start: str = "09:00", end: str = "18:00", days: list[str] | None = None) -> SupportHours:
    data: dict[str, object] = {"start": start, "end": end}
    if days is not None:
        data["days"] = days
    return SupportHours.model_validate(data)
