"""Escalation: unacknowledged or undeliverable messages go up the plan's levels; breaches are recorded.

Run by the ``escalation`` flow on every tick with the current time (tests pass a controlled
clock). Each escalation round is itself idempotent: its messages carry the group's dedup key
plus ``#L<level>``, so a tick that runs twice tells nobody twice.

A level with nobody to tell (no contact there, none with an address for the plan's channels, no
provider on-call) is loud: an error in the log, a ``notification.nobody_to_tell`` audit entry
once per group and level, a line in ``opskeeper notify pending``, and the group goes on to the
next level at once (the provider's on-call last), as when every message of a level failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from opskeeper.config.estate import Estate
from opskeeper.config.notify import EscalationStep
from opskeeper.config.secrets import redact
from opskeeper.config.types import Severity
from opskeeper.ledger import Ledger
from opskeeper.ledger import notify as store
from opskeeper.ledger.notify import DeliveryStatus, Notification
from opskeeper.notify import plan
from opskeeper.notify.plan import ONCALL_LEVEL
from opskeeper.notify.records import NotificationRecord
from opskeeper.notify.service import Notifier
from opskeeper.notify.updates import remind_updates

log = logging.getLogger(__name__)


@dataclass
class EscalationReport:
    """What one escalation pass did."""

    # messages sent by escalation
    escalated: list[NotificationRecord] = field(default_factory=list)
    # the first message of each group whose response deadline passed without acknowledgement
    breached: list[NotificationRecord] = field(default_factory=list)
    # reminders to the provider's on-call that a customer is owed an incident update
    reminders: list[NotificationRecord] = field(default_factory=list)
    # escalation levels reached this pass at which nobody could be told
    nobody_told: list[Unreached] = field(default_factory=list)


@dataclass(frozen=True)
class Unreached:
    """A group (named by its first message) in which escalation had nobody to tell at some levels."""

    notification_id: int
    customer_id: str
    event: str
    subject: str
    levels: tuple[int, ...]

    def line(self) -> str:
        levels = ", ".join(str(level) for level in self.levels)
        return (
            f"nobody could be told at level {levels}: #{self.notification_id} {self.customer_id} "
            f"{self.event} ({self.subject}); tell them by hand, then fix the contacts (opskeeper validate)"
        )


def nobody_told(ledger: Ledger, customer_id: str | None = None) -> list[Unreached]:
    """Unacknowledged groups in which some escalation level had nobody to tell (oldest first)."""
    rows = store.unreached_rows(ledger, customer_id)
    firsts: dict[str, Notification] = {}
    for r in rows:
        firsts.setdefault(r.group_key, r)
    return [
        Unreached(r.id, r.customer_id, r.event, r.subject, tuple(r.unreached_levels)) for r in firsts.values()
    ]


def escalate(
    estate: Estate, ledger: Ledger, now: datetime | None = None, notifier: Notifier | None = None
) -> EscalationReport:
    """Escalate every group whose step has passed without ack, or whose messages all failed."""
    now = now or ledger.now()
    notifier = notifier or Notifier()
    report = EscalationReport()
    for group in store.groups_to_escalate(ledger):
        rows = store.group_rows(ledger, group)
        if not rows or any(r.acked_at for r in rows):
            continue
        try:
            estate.customer(rows[0].customer_id)
        except KeyError:
            continue  # a customer removed from the estate: nothing to escalate to
        escalated, unreached = _escalate_group(estate, ledger, notifier, rows, now)
        report.escalated += escalated
        report.nobody_told += unreached
        breach = _breach(ledger, rows, now)
        if breach:
            report.breached.append(breach)
    report.reminders = remind_updates(estate, ledger, now, notifier)
    return report


def _unreachable(rows: list[Notification], level: int) -> bool:
    """Nobody at the current level was told: nobody was there, or every message there failed for good."""
    if any(level in r.unreached_levels for r in rows):
        return True
    suffix = f"#L{level}"
    current = (
        [r for r in rows if r.dedup_key.endswith(suffix)]
        if level > 1
        else [r for r in rows if "#L" not in r.dedup_key]
    )
    return bool(current) and all(r.status == DeliveryStatus.FAILED for r in current)


def _escalate_group(
    estate: Estate, ledger: Ledger, notifier: Notifier, rows: list[Notification], now: datetime
) -> tuple[list[NotificationRecord], list[Unreached]]:
    first = rows[0]
    sev = estate.emergency_plan.plan_for(Severity(first.severity))
    level = max(r.escalation_level for r in rows)
    unreachable = _unreachable(rows, level)
    steps = sorted(sev.escalation, key=lambda st: st.after) if first.ack_required else []
    queue = [st for st in steps if st.level > level]
    sent: list[NotificationRecord] = []
    unreached: list[Unreached] = []
    req = notifier.rerender_request(estate, first)
    while queue or (unreachable and level < ONCALL_LEVEL):
        # Nobody told and nobody left in the plan: the provider's on-call must know.
        step = queue.pop(0) if queue else EscalationStep(after=timedelta(0), level=ONCALL_LEVEL)
        if step.level <= level:
            continue
        if not (unreachable or now >= first.created_at + step.after):
            break
        recips = plan.recipients(estate, req.customer, req.severity, drill=req.drill, level=step.level)
        level = step.level
        if not recips:
            unreachable = True
            why = plan.nobody_at(estate, req.customer, req.severity, level) or "no recipients"
            unreached += _nobody_to_tell(ledger, first, level, why, now)
            continue
        sent += notifier.send_round(estate, ledger, req, recips, now, level=level, group=first.group_key)
        unreachable = False
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
    return sent, unreached


def _nobody_to_tell(
    ledger: Ledger, first: Notification, level: int, why: str, now: datetime
) -> list[Unreached]:
    """Record, once per group and level, that the escalation to ``level`` could tell nobody."""
    levels = store.record_unreached(ledger, first.group_key, level, now, first.id)
    if levels is None:
        return []  # an overlapping escalation run recorded it
    why = redact(why)
    ledger.audit(
        "escalation",
        "notification.nobody_to_tell",
        f"notification:{first.id}",
        {"customer": first.customer_id, "event": first.event, "severity": first.severity,
         "drill": first.drill, "level": level, "why": why},
    )  # fmt: skip
    log.error(
        "escalation of notification #%s (%s, %s) to level %s told nobody: %s",
        first.id, first.customer_id, first.event, level, why,
    )  # fmt: skip
    return [Unreached(first.id, first.customer_id, first.event, first.subject, levels)]


def _mark_level(ledger: Ledger, group: str, level: int, now: datetime) -> None:
    store.record_escalated(ledger, group, level, now)


def _breach(ledger: Ledger, rows: list[Notification], now: datetime) -> NotificationRecord | None:
    first = rows[0]
    if not first.ack_required or first.deadline_at is None or first.breached_at or now <= first.deadline_at:
        return None
    record = NotificationRecord.of(store.record_breached(ledger, first.group_key, first.id, now))
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
