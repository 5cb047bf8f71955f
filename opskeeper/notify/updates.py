"""Incident update cadence: the plan's ``update_every`` per severity, watched for the provider.

opskeeper cannot write the update itself (engineers know what changed), so when a customer
has gone ``update_every`` without news on an open incident, the provider's on-call is reminded
(an ``sla_at_risk`` message, level 9). One reminder per missed slot: the dedup key counts the
updates the customer has had so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from opskeeper.config.estate import Estate
from opskeeper.config.types import Severity
from opskeeper.ledger import Ledger
from opskeeper.ledger import notify as store
from opskeeper.ledger.notify import DeliveryStatus, Notification
from opskeeper.notify import plan
from opskeeper.notify.events import Event
from opskeeper.notify.plan import ONCALL_LEVEL
from opskeeper.notify.records import NotificationRecord, decode_context
from opskeeper.notify.service import Notifier

_INCIDENT = (Event.INCIDENT_DECLARED, Event.INCIDENT_UPDATED, Event.INCIDENT_RESOLVED)


@dataclass(frozen=True)
class _Incident:
    customer_id: str
    incident_id: str
    title: str
    severity: Severity
    drill: bool
    last_update: datetime
    updates: int  # distinct customer-facing messages so far
    resolved: bool


def _incidents(ledger: Ledger) -> list[_Incident]:
    rows = store.incident_rows(ledger, [e.value for e in _INCIDENT], except_level=ONCALL_LEVEL)
    by: dict[tuple[str, str], list[Notification]] = {}
    for r in rows:
        ctx = decode_context(r.context)
        by.setdefault((r.customer_id, str(ctx.get("incident_id", ""))), []).append(r)
    out = []
    for (customer_id, incident_id), group in by.items():
        sent = [r for r in group if r.status == DeliveryStatus.SENT and r.sent_at]
        if not incident_id or not sent:
            continue
        first = min(group, key=lambda r: r.id)
        out.append(_Incident(
            customer_id, incident_id, str(decode_context(first.context).get("title", incident_id)),
            Severity(first.severity), first.drill, max(r.sent_at for r in sent if r.sent_at),
            len({r.group_key for r in sent}), any(r.event == Event.INCIDENT_RESOLVED for r in group),
        ))  # fmt: skip
    return out


def remind_updates(
    estate: Estate, ledger: Ledger, now: datetime, notifier: Notifier | None = None
) -> list[NotificationRecord]:
    """Remind the on-call of every open incident whose customer is owed an update."""
    notifier = notifier or Notifier()
    sent: list[NotificationRecord] = []
    for inc in _incidents(ledger):
        every = estate.emergency_plan.plan_for(inc.severity).update_every
        if inc.resolved or every is None or now < inc.last_update + every:
            continue
        try:
            customer = estate.customer(inc.customer_id)
        except KeyError:
            continue
        dedup = f"update-due:{inc.incident_id}:{inc.updates}"
        if store.group_rows(ledger, plan.group_key(Event.SLA_AT_RISK, customer.id, dedup)):
            continue  # this slot was already reminded
        req = notifier.request(
            estate, Event.SLA_AT_RISK, customer.id, inc.severity,
            {"subject_text": f"update to {customer.name} on {inc.incident_id} ({inc.title})",
             "deadline_at": inc.last_update + every, "remaining": inc.last_update + every - now},
            dedup, inc.drill,
        )  # fmt: skip
        recips = plan.recipients(estate, customer, inc.severity, drill=inc.drill, level=ONCALL_LEVEL)
        sent += notifier.send_round(estate, ledger, req, recips, now, level=ONCALL_LEVEL, internal=True)
    return sent
