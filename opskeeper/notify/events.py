"""The event catalogue: what customers are told about, and what each message needs to say it.

Each event has a template per language (``runbooks/templates/notifications/<event>.<lang>.j2``)
and a spec: the context variables the caller must give, the optional ones with their
defaults, and a sample context used by ``validate_templates`` and ``notify preview``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from opskeeper.config.types import Language, Severity
from opskeeper.i18n import Localized


class Event(StrEnum):
    MAINTENANCE_SCHEDULED = "maintenance_scheduled"
    MAINTENANCE_STARTED = "maintenance_started"
    MAINTENANCE_COMPLETED = "maintenance_completed"
    MAINTENANCE_FAILED = "maintenance_failed"
    BACKUP_FAILED = "backup_failed"
    SECURITY_FINDING = "security_finding"
    INCIDENT_DECLARED = "incident_declared"
    INCIDENT_UPDATED = "incident_updated"
    INCIDENT_RESOLVED = "incident_resolved"
    DRILL_SCHEDULED = "drill_scheduled"
    DRILL_STARTED = "drill_started"
    DRILL_COMPLETED = "drill_completed"
    SLA_AT_RISK = "sla_at_risk"
    SLA_BREACHED = "sla_breached"


@dataclass(frozen=True)
class EventSpec:
    severity: Severity  # the usual severity (callers may choose another)
    required: tuple[str, ...]
    optional: dict[str, Any] = field(default_factory=dict)


_T0 = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)  # a Saturday: 22:00 in Shanghai, 17:00 in Moscow

SAMPLE: dict[str, Any] = {
    "cadence": "monthly",
    "window_start": _T0,
    "window_end": _T0 + timedelta(hours=4),
    "systems": ["ERP"],
    "correction": False,
    "lead_time": timedelta(hours=72, minutes=10),
    "notice_period": timedelta(hours=72),
    "short_notice": False,
    "previous_start": None,
    "previous_end": None,
    "started_at": _T0,
    "ended_at": _T0 + timedelta(hours=2, minutes=10),
    "summary": "All checks passed; 2.1 GB of old logs compressed.",
    "reason": "Disk check failed on the database volume.",
    "system": "ERP",
    "failed_at": _T0,
    "title": Localized.of(
        "SSH accepts password authentication",
        {Language.ZH_CN: "SSH 允许密码认证", Language.RU: "SSH допускает аутентификацию по паролю"},
    ),
    "count": 1,
    "finding_severity": "critical",
    "remediation_due": _T0 + timedelta(days=7),
    "incident_id": "INC-2026-042",
    "impact": "ERP unavailable for all users.",
    "status_text": "Database restored from the 21:00 backup; verifying data.",
    "next_update": _T0 + timedelta(hours=1),
    "resolved_at": _T0 + timedelta(hours=3),
    "scenario": Localized.of(
        "Data corruption on the primary",
        {Language.ZH_CN: "主服务器数据损坏", Language.RU: "Повреждение данных на основном сервере"},
    ),
    "findings": [
        Localized.of(
            "Verification failed: data intact",
            {Language.ZH_CN: "验证未通过：data intact", Language.RU: "Проверка не пройдена: data intact"},
        )
    ],
    "verdict": "passed",
    "rto_measured": timedelta(minutes=42),
    "rto_objective": timedelta(hours=8),
    "rpo_measured": timedelta(minutes=15),
    "rpo_objective": timedelta(hours=24),
    "action_items": 2,
    "subject_text": "Response to incident INC-2026-042",
    "deadline_at": _T0 + timedelta(hours=2),
    "remaining": timedelta(minutes=30),
    "breached_at": _T0 + timedelta(hours=2, minutes=5),
}

_MAINT = ("cadence", "window_start", "window_end", "systems")

SPECS: dict[Event, EventSpec] = {
    Event.MAINTENANCE_SCHEDULED: EventSpec(
        Severity.ROUTINE, _MAINT,
        {"correction": False, "previous_start": None, "previous_end": None,
         "lead_time": None, "notice_period": None, "short_notice": False},
    ),  # fmt: skip
    Event.MAINTENANCE_STARTED: EventSpec(Severity.ROUTINE, _MAINT),
    Event.MAINTENANCE_COMPLETED: EventSpec(
        Severity.ROUTINE, ("cadence", "started_at", "ended_at", "systems"), {"summary": ""}
    ),
    Event.MAINTENANCE_FAILED: EventSpec(Severity.HIGH, ("cadence", "started_at", "systems", "reason")),
    Event.BACKUP_FAILED: EventSpec(Severity.HIGH, ("system", "failed_at", "reason")),
    Event.SECURITY_FINDING: EventSpec(
        Severity.HIGH, ("system", "title", "finding_severity", "remediation_due"), {"count": 1}
    ),
    Event.INCIDENT_DECLARED: EventSpec(
        Severity.EMERGENCY, ("incident_id", "title", "started_at", "impact"), {"next_update": None}
    ),
    Event.INCIDENT_UPDATED: EventSpec(
        Severity.EMERGENCY, ("incident_id", "title", "status_text"), {"next_update": None}
    ),
    Event.INCIDENT_RESOLVED: EventSpec(
        Severity.EMERGENCY, ("incident_id", "title", "started_at", "resolved_at"), {"summary": ""}
    ),
    Event.DRILL_SCHEDULED: EventSpec(Severity.ROUTINE, ("scenario", "window_start", "window_end", "systems")),
    Event.DRILL_STARTED: EventSpec(Severity.ROUTINE, ("scenario", "started_at", "systems")),
    Event.DRILL_COMPLETED: EventSpec(
        Severity.ROUTINE,
        ("scenario", "verdict", "rto_measured", "rto_objective", "rpo_measured", "rpo_objective"),
        {"summary": "", "action_items": 0, "findings": []},
    ),
    Event.SLA_AT_RISK: EventSpec(Severity.HIGH, ("subject_text", "deadline_at", "remaining")),
    Event.SLA_BREACHED: EventSpec(Severity.HIGH, ("subject_text", "deadline_at", "breached_at")),
}

# Events that are about a drill are always marked as drills, whatever the caller says.
DRILL_EVENTS = frozenset({Event.DRILL_SCHEDULED, Event.DRILL_STARTED, Event.DRILL_COMPLETED})


def missing_context(event: Event, context: dict[str, Any]) -> list[str]:
    return [name for name in SPECS[event].required if name not in context]


def complete_context(event: Event, context: dict[str, Any]) -> dict[str, Any]:
    """The caller's context with the event's optional variables defaulted."""
    return {**SPECS[event].optional, **context}


def sample_context(event: Event) -> dict[str, Any]:
    spec = SPECS[event]
    return {name: SAMPLE[name] for name in (*spec.required, *spec.optional)}
