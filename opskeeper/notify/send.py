"""Sending one round: a row per recipient in the ledger (unless its key exists), then delivery of what is owed.

Every message is composed before any is written, so a bad template sends nothing; every row is
written before any is sent, so a crash in between leaves rows that the next run sends (under the
same idempotency key and Message-ID).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from opskeeper.calendar import tier_deadline
from opskeeper.config.estate import Estate
from opskeeper.ledger import Ledger
from opskeeper.ledger import notify as store
from opskeeper.ledger.notify import DeliveryStatus, Notification
from opskeeper.notify import plan
from opskeeper.notify.channels.factory import ChannelFactory
from opskeeper.notify.compose import Request, Round, compose
from opskeeper.notify.delivery import advancing, deliver_row
from opskeeper.notify.plan import Recipient
from opskeeper.notify.records import NotificationRecord
from opskeeper.notify.render import Renderer


def send_round(
    estate: Estate,
    ledger: Ledger,
    req: Request,
    recips: list[Recipient],
    now: datetime,
    *,
    renderer: Renderer,
    channels: ChannelFactory,
    sleep: Callable[[float], None] = time.sleep,
    level: int | None = None,
    group: str | None = None,
    internal: bool = False,
) -> list[NotificationRecord]:
    """Write one row per recipient (unless its key exists), then deliver what is owed.

    ``internal`` messages (reminders to the provider) carry no customer deadline and need no ack.
    """
    group = group or plan.group_key(req.event, req.customer.id, req.dedup_key)
    dedup = req.dedup_key if level is None else f"{req.dedup_key}#L{level}"
    first = next(iter(store.group_rows(ledger, group)), None)
    due = first.deadline_at if first else tier_deadline(estate, req.customer, req.severity, now)
    ack_required = estate.emergency_plan.plan_for(req.severity).needs_ack and not internal
    rnd = Round(group, dedup, None if internal else due, ack_required, now, level)
    rows: list[Notification] = []
    new: list[Notification] = []
    for r in recips:
        key = plan.idempotency_key(req.event, req.customer.id, r.name, r.channel, dedup)
        existing = store.row_by_key(ledger, key)
        if existing is not None:
            rows.append(existing)
            continue
        new.append(compose(estate, renderer, req, r, key, rnd))
    for row in new:  # every message is rendered before any is written: a bad template sends nothing
        row.unreached_levels = list(first.unreached_levels) if first else []  # group-wide, like the level
        rows.append(store.insert_once(ledger, row))
    owed = [r for r in rows if _owed(r, now)]
    clock = advancing(now)  # each row's attempt is stamped (and leased) when it really starts
    done = {r.id: deliver_row(estate, ledger, r, clock(), channels, sleep) for r in owed}
    return [NotificationRecord.of(done.get(r.id, r)) for r in rows]


def _owed(row: Notification, now: datetime) -> bool:
    """Pending, its backoff over, and no attempt in flight elsewhere (a live lease)."""
    if row.status != DeliveryStatus.PENDING or (row.next_attempt_at or now) > now:
        return False
    return row.lease_until is None or row.lease_until <= now
