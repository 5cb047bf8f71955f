"""The Notifier facade: tell a customer about an event per the emergency plan, exactly once.

``notify`` picks recipients (plan.py), composes a rendered row per recipient (compose.py), writes
every row to the ledger under its idempotency key *before* sending, then sends what is owed
(send.py, which hands each row to delivery.py). Calling it again with the same ``dedup_key``
sends nothing new. ``deliver_pending`` retries what is owed, ``escalate`` (escalation.py) moves
unacknowledged or undeliverable messages up the plan; ``ack`` and ``pending`` are here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from opskeeper.calendar import tier_time_left
from opskeeper.config.estate import Estate
from opskeeper.config.types import Severity
from opskeeper.ledger import Ledger
from opskeeper.ledger import notify as store
from opskeeper.ledger.notify import Notification
from opskeeper.notify import delivery, plan, send
from opskeeper.notify.channels.factory import ChannelFactory, open_channel
from opskeeper.notify.compose import NotifyInputError, Request, private_strings, renderer_for, stored_request
from opskeeper.notify.compose import request as checked_request
from opskeeper.notify.events import Event
from opskeeper.notify.plan import Recipient
from opskeeper.notify.records import NotificationRecord
from opskeeper.notify.render import Renderer

# Importable from here as before (callers of the facade need not know the modules behind it).
__all__ = [
    "Notifier",
    "NotifyInputError",
    "PendingItem",
    "Request",
    "ack",
    "deliver_pending",
    "notify",
    "private_strings",
]


@dataclass(frozen=True)
class PendingItem:
    record: NotificationRecord
    timezone: str
    time_left: timedelta | None  # counted per the tier's coverage; negative once past


class Notifier:
    """Facade over plan, compose, send and delivery. Stateless between calls."""

    def __init__(
        self,
        *,
        templates_dir: Path | None = None,
        channel_factory: ChannelFactory = open_channel,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.templates_dir = templates_dir
        self.channel_factory = channel_factory
        self.sleep = sleep

    def renderer(self, estate: Estate) -> Renderer:
        return renderer_for(estate, self.templates_dir)

    # ------------------------------------------------------------------ sending
    def notify(
        self,
        estate: Estate,
        ledger: Ledger,
        *,
        event: Event | str,
        customer_id: str,
        severity: Severity | str,
        context: dict[str, Any],
        dedup_key: str,
        drill: bool = False,
        now: datetime | None = None,
        topic: str = "",
    ) -> list[NotificationRecord]:
        """Tell the customer's contacts per the plan; idempotent per ``dedup_key``."""
        req = self.request(estate, event, customer_id, severity, context, dedup_key, drill, topic)
        if req.drill and estate.emergency_plan.drills.mode == "silent":
            return []
        recips = plan.recipients(estate, req.customer, req.severity, drill=req.drill)
        return self.send_round(estate, ledger, req, recips, now or ledger.now())

    # A checked request (compose.py): a known event, severity and customer, the context, a dedup key.
    request = staticmethod(checked_request)

    def send_round(
        self,
        estate: Estate,
        ledger: Ledger,
        req: Request,
        recips: list[Recipient],
        now: datetime,
        *,
        level: int | None = None,
        group: str | None = None,
        internal: bool = False,
    ) -> list[NotificationRecord]:
        """Write one row per recipient (unless its key exists), then deliver what is owed (send.py)."""
        return send.send_round(
            estate, ledger, req, recips, now, renderer=self.renderer(estate), channels=self.channel_factory,
            sleep=self.sleep, level=level, group=group, internal=internal,
        )  # fmt: skip

    def deliver_pending(
        self, estate: Estate, ledger: Ledger, now: datetime | None = None
    ) -> list[NotificationRecord]:
        """Send every message still owed whose backoff has passed (new, retrying, or in doubt)."""
        return delivery.deliver_pending(estate, ledger, now or ledger.now(), self.channel_factory, self.sleep)

    def rerender_request(self, estate: Estate, row: Notification) -> Request:
        """The request behind a stored row (for escalation rounds)."""
        return stored_request(estate, row)

    # ------------------------------------------------------------------ acknowledgement
    def ack(self, ledger: Ledger, ref: str, by: str, now: datetime | None = None) -> NotificationRecord:
        """Acknowledge by id or link token; acknowledges every message of the same group."""
        now = now or ledger.now()
        row, fresh = store.ack_group(ledger, ref.strip(), by, now)
        if row is None:
            raise NotifyInputError(f"no notification with id or token {ref!r}")
        record = NotificationRecord.of(row)
        if not fresh:
            return record  # already acknowledged (by whoever came first): nothing to record
        ledger.audit(
            by,
            "notification.acked",
            f"notification:{record.id}",
            {"customer": record.customer_id, "event": record.event},
        )
        return record

    def pending(
        self, estate: Estate, ledger: Ledger, now: datetime | None = None, customer_id: str | None = None
    ) -> list[PendingItem]:
        """What is owed: undelivered messages and those awaiting acknowledgement, with time left."""
        now = now or ledger.now()
        rows = store.awaiting_rows(ledger, customer_id)
        items = []
        for row in rows:
            try:
                customer = estate.customer(row.customer_id)
            except KeyError:
                items.append(PendingItem(NotificationRecord.of(row), "UTC", None))
                continue
            left = None
            if row.deadline_at is not None:
                left = tier_time_left(estate, customer, Severity(row.severity), now, row.deadline_at)
            items.append(PendingItem(NotificationRecord.of(row), customer.timezone, left))
        return items


_DEFAULT = Notifier()


def notify(estate: Estate, ledger: Ledger, **kwargs: Any) -> list[NotificationRecord]:
    return _DEFAULT.notify(estate, ledger, **kwargs)


def deliver_pending(estate: Estate, ledger: Ledger, now: datetime | None = None) -> list[NotificationRecord]:
    return _DEFAULT.deliver_pending(estate, ledger, now)


def ack(ledger: Ledger, id_or_token: str, by: str, now: datetime | None = None) -> NotificationRecord:
    return _DEFAULT.ack(ledger, id_or_token, by, now)
