"""GFS retention: which snapshots to keep, computed in a given time zone.

Snapshots newest first; the newest ``keep_last`` are kept; then for each of
daily, weekly (ISO week), monthly and yearly, the newest snapshot of each
period is kept until that rule's count is used up. A snapshot kept by any rule
is kept; the reasons are returned so a dry run can explain itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from opskeeper.config.backup import Retention


@dataclass(frozen=True)
class Decision:
    snapshot_id: str
    time: datetime
    keep: bool
    reasons: tuple[str, ...]


_BUCKETS: tuple[tuple[str, str, Callable[[datetime], tuple[int, ...]]], ...] = (
    ("daily", "keep_daily", lambda t: (t.year, t.month, t.day)),
    ("weekly", "keep_weekly", lambda t: tuple(t.isocalendar()[:2])),
    ("monthly", "keep_monthly", lambda t: (t.year, t.month)),
    ("yearly", "keep_yearly", lambda t: (t.year,)),
)


def apply_retention(snapshots: Sequence[tuple[str, datetime]], policy: Retention, tz: str = "UTC") -> list[Decision]:
    """Decide keep/forget for (id, aware time) pairs; result is newest first."""
    zone = ZoneInfo(tz)
    ordered = sorted(snapshots, key=lambda s: s[1], reverse=True)
    last_bucket: dict[str, tuple[int, ...] | None] = {name: None for name, _, _ in _BUCKETS}
    used: dict[str, int] = {name: 0 for name, _, _ in _BUCKETS}
    out: list[Decision] = []
    for i, (sid, when) in enumerate(ordered):
        local = when.astimezone(zone)
        reasons: list[str] = []
        if i < policy.keep_last:
            reasons.append("last")
        for name, field, bucket_of in _BUCKETS:
            limit = getattr(policy, field)
            bucket = bucket_of(local)
            if used[name] < limit and bucket != last_bucket[name]:
                last_bucket[name] = bucket
                used[name] += 1
                reasons.append(name)
        out.append(Decision(sid, when, bool(reasons), tuple(reasons)))
    return out
