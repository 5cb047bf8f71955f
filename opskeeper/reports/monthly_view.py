"""The view types of the monthly service report: the period, the scrubber, the rows and the report.

Plain data: :mod:`opskeeper.reports.monthly_data` fills them from the ledger and
:mod:`opskeeper.reports.monthly` renders them. This module imports neither (no cycle).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from opskeeper.config.estate import Customer
from opskeeper.config.secrets import redact
from opskeeper.config.types import Language
from opskeeper.errors import InputError
from opskeeper.notify.render import PRIVATE_MASK

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class ReportInputError(InputError):
    """Unknown customer, a malformed month, an unknown format or language."""


@dataclass(frozen=True)
class Period:
    """One calendar month in the customer's zone, as UTC instants [start, end)."""

    month: str
    tz: str
    start: datetime
    end: datetime

    def holds(self, at: datetime | None) -> bool:
        return at is not None and self.start <= at < self.end


def month_period(month: str, tz: str) -> Period:
    m = _MONTH.match(month.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ReportInputError(f"month {month!r} is not YYYY-MM (e.g. 2026-11)")
    year, mon = int(m.group(1)), int(m.group(2))
    zone = ZoneInfo(tz)
    start = datetime(year, mon, 1, tzinfo=zone)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=zone)
    return Period(f"{year:04d}-{mon:02d}", tz, start.astimezone(UTC), end.astimezone(UTC))


def month_of(at: datetime, tz: str) -> str:
    return f"{at.astimezone(ZoneInfo(tz)):%Y-%m}"


class Scrubber:
    """Masks secrets (the process-wide redactor) and what the provider keeps private."""

    def __init__(self, customer: Customer, extra: Iterable[str] = ()) -> None:
        values = [p for s in customer.systems for p in s.private] + [
            h.address for s in customer.systems for h in s.hosts
        ]
        self.values = sorted({v for v in [*values, *extra] if v and len(v) >= 3}, key=len, reverse=True)

    def __call__(self, text: str | None) -> str:
        if not text:
            return ""
        text = redact(text)
        for value in self.values:
            text = text.replace(value, PRIVATE_MASK).replace(html.escape(value), PRIVATE_MASK)
        return text


# -- the rows -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    host: str
    step: str
    status: str
    text: str


@dataclass(frozen=True)
class RunRow:
    id: int
    cadence: str
    status: str
    started: datetime
    duration: timedelta | None
    trigger: str
    reason: str
    problems: list[Problem]


@dataclass(frozen=True)
class HealthRow:
    host: str
    metric: str  # disk | memory | load
    subject: str
    latest: float | None
    low: float | None
    high: float | None
    samples: int
    unit: str


@dataclass(frozen=True)
class BackupRow:
    system: str
    dataset: str
    snapshots: int
    targets: str
    last_taken: datetime | None
    size: int
    verify_status: str
    verified_at: datetime | None


@dataclass(frozen=True)
class RestoreRow:
    at: datetime
    snapshot: str
    target: str
    files: int | None


@dataclass(frozen=True)
class FindingRow:
    """Open findings of one kind (severity and title): 60 pending updates are one line, not 60."""

    severity: str
    title: str
    count: int
    hosts: str
    due: datetime  # the earliest
    overdue: int


@dataclass(frozen=True)
class ScoreRow:
    host: str
    previous: float | None
    first: float | None
    last: float | None
    scans: int
    points: list[float]


@dataclass(frozen=True)
class SecuritySummary:
    new: int
    resolved: int
    open: int
    overdue: int
    open_rows: list[FindingRow]
    scores: list[ScoreRow]


@dataclass(frozen=True)
class DrillRow:
    id: int
    scenario: str
    status: str
    started: datetime
    score: int | None
    rto: timedelta | None
    rto_target: timedelta | None
    rpo: timedelta | None
    rpo_target: timedelta | None
    scenario_title: str = ""  # the scenario's title in the report's language (``scenario`` is its name)

    @property
    def rto_met(self) -> bool | None:
        return None if self.rto is None or self.rto_target is None else self.rto <= self.rto_target

    @property
    def rpo_met(self) -> bool | None:
        return None if self.rpo is None or self.rpo_target is None else self.rpo <= self.rpo_target


@dataclass(frozen=True)
class NoticeRow:
    id: int
    event: str
    severity: str
    drill: bool
    recipient: str
    channel: str
    status: str
    sent: datetime | None
    acked: datetime | None
    ack_after: timedelta | None
    ack_required: bool
    deadline: datetime | None
    breached: bool


@dataclass(frozen=True)
class BreachRow:
    kind: str
    subject: str
    period: str
    at: datetime
    reason: str
    deadline: datetime | None = None  # for a missed response deadline


@dataclass(frozen=True)
class ItemRow:
    id: int
    scenario: str
    severity: str
    title: str
    owner: str
    due: datetime
    overdue: bool
    scenario_title: str = ""  # in the report's language; ``title`` is too, where the finding's code is known


@dataclass
class MonthlyReport:
    customer_id: str
    customer_name: str
    tier: str
    lang: Language
    period: Period
    generated_at: datetime
    runs: list[RunRow] = field(default_factory=list)
    health: list[HealthRow] = field(default_factory=list)
    backups: list[BackupRow] = field(default_factory=list)
    restores: list[RestoreRow] = field(default_factory=list)
    security: SecuritySummary | None = None
    drills: list[DrillRow] = field(default_factory=list)
    notices: list[NoticeRow] = field(default_factory=list)
    breaches: list[BreachRow] = field(default_factory=list)
    items: list[ItemRow] = field(default_factory=list)

    @property
    def runs_ok(self) -> int:
        return sum(1 for r in self.runs if r.status == "ok")
