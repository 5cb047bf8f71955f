"""Escalation: unacknowledged or undeliverable messages go up the plan's levels; breaches are recorded.

Run by the ``escalation`` flow on every tick with the current time (tests pass a controlled
clock). Each escalation round is itself idempotent: its messages carry the group's dedup key
plus ``#L<level>``, so a tick that runs twice tells nobody twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from opskeeper.config.estate import Estate
from opskeeper.config.notify import EscalationStep
from opskeeper.config.types import Severity
from opskeeper.ledger import Ledger, utcnow
from opskeeper.ledger import notify as store
from opskeeper.ledger.notify import DeliveryStatus, Notification
from opskeeper.notify import plan
from opskeeper.notify.plan import ONCALL_LEVEL
from opskeeper.notify.records import NotificationRecord
from opskeeper.notify.service import Notifier
from opskeeper.notify.updates import remind_updates


@dataclass
class EscalationReport:
    """What one escalation pass did."""

    # messages sent by escalation
    escalated: list[NotificationRecord] = field(default_factory=list)
    # the first message of each group whose response deadline passed without acknowledgement
    breached: list[NotificationRecord] = field(default_factory=list)
    # reminders to the provider's on-call that a customer is owed an incident update
    reminders: list[NotificationRecord] = field(default_factory=list)


def escalate(
    estate: Estate, ledger: Ledger, now: datetime | None = None, notifier: Notifier | None = None
) -> EscalationReport:
    """Escalate every group whose step has passed without ack, or whose messages all failed."""
    now = now or utcnow()
    notifier = notifier or Notifier()
    report = EscalationReport()
    with ledger.session() as s:
        groups = sorted(set(store.open_groups(s)) | set(store.failed_groups(s)))
    for group in groups:
        with ledger.session() as s:
            rows = store.in_group(s, group)
        if not rows or any(r.acked_at for r in rows):
            continue
        try:
            estate.customer(rows[0].customer_id)
        except KeyError:
            continue  # a customer removed from the estate: nothing to escalate to
        report.escalated += _escalate_group(estate, ledger, notifier, rows, now)
        breach = _breach(ledger, rows, now)
        if breach:
            report.breached.append(breach)
    report.reminders = remind_updates(estate, ledger, now, notifier)
    return report


def _unreachable(rows: list[Notification], level: int) -> bool:
    """Every message at the current level failed for good: nobody there was told."""
    suffix = f"#L{level}"
    current = (
        [r for r in rows if r.dedup_key.endswith(suffix)]
        if level > 1
        else [r for r in rows if "#L" not in r.dedup_key]
    )
    return bool(current) and all(r.status == DeliveryStatus.FAILED for r in current)


def _escalate_group(
    estate: Estate, ledger: Ledger, notifier: Notifier, rows: list[Notification], now: datetime
) -> list[NotificationRecord]:
    first = rows[0]
    sev = estate.emergency_plan.plan_for(Severity(first.severity))
    level = max(r.escalation_level for r in rows)
    unreachable = _unreachable(rows, level)
    steps = sorted(sev.escalation, key=lambda st: st.after) if first.ack_required else []
    if unreachable and not any(st.level > level for st in steps) and level < ONCALL_LEVEL:
        steps = [
            *steps,
            EscalationStep(after=timedelta(0), level=ONCALL_LEVEL),
        ]  # nobody left in the plan: the provider's on-call must know
    sent: list[NotificationRecord] = []
    req = notifier.rerender_request(estate, first)
    for step in steps:
        if step.level <= level:
            continue
        if not (unreachable or now >= first.created_at + step.after):
            break
        recips = plan.recipients(estate, req.customer, req.severity, drill=req.drill, level=step.level)
        sent += notifier.send_round(estate, ledger, req, recips, now, level=step.level, group=first.group_key)
        level, unreachable = step.level, False
        _mark_level(ledger, first.group_key, level, now)
        ledger.audit(
            "escalation",
            "notification.escalated",
            f"notification:{first.id}",
            {
                "customer": first.customer_id,
                "event": first.event,
                "level": level,
                "told": [r.name for r in recips],
            },
        )
    return sent


def _mark_level(ledger: Ledger, group: str, level: int, now: datetime) -> None:
    with ledger.session() as s:
        for r in store.in_group(s, group):
            r.escalation_level = max(r.escalation_level, level)
            r.escalated_at = now


def _breach(ledger: Ledger, rows: list[Notification], now: datetime) -> NotificationRecord | None:
    first = rows[0]
    if not first.ack_required or first.deadline_at is None or first.breached_at or now <= first.deadline_at:
        return None
    with ledger.session() as s:
        for r in store.in_group(s, first.group_key):
            r.breached_at = now
        fresh = s.get_one(Notification, first.id)
        record = NotificationRecord.of(fresh)
    ledger.audit(
        "escalation",
        "sla.response_breached",
        f"customer:{first.customer_id}",
        {
            "notification": first.id,
            "event": first.event,
            "severity": first.severity,
            "deadline": first.deadline_at.isoformat(),
            "drill": first.drill,
        },
    )
    return record
