"""Showing instants to people: in their zone, with the zone's abbreviation."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def fmt_local(at: datetime, tz: str, *, seconds: bool = False) -> str:
    """``2026-11-28 22:00 CST`` for ``Asia/Shanghai``."""
    local = at.astimezone(ZoneInfo(tz))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")
