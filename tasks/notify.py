"""Prefect tasks of the notification area: thin wrappers over opskeeper.notify (I/O with retries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import task

from opskeeper.config.estate import Estate
from opskeeper.ledger import Ledger
from opskeeper.ledger import notify as _tables  # noqa: F401  (registers the table)
from opskeeper.notify.escalation import EscalationReport, escalate
from opskeeper.notify.notices import send_maintenance_notices
from opskeeper.notify.records import NotificationRecord
from opskeeper.notify.service import Notifier


@task(retries=2, retry_delay_seconds=[5, 30])
def send_notification(estate: Estate, ledger_url: str | None, **request: Any) -> list[NotificationRecord]:
    """Tell a customer about an event (idempotent per dedup_key; safe to retry)."""
    return Notifier().notify(estate, Ledger.open(ledger_url), **request)


@task(retries=2, retry_delay_seconds=[5, 30])
def deliver_pending(
    estate: Estate, ledger_url: str | None, now: datetime | None = None
) -> list[NotificationRecord]:
    """Retry messages still owed whose backoff has passed."""
    return Notifier().deliver_pending(estate, Ledger.open(ledger_url), now)


@task
def escalate_unacknowledged(
    estate: Estate, ledger_url: str | None, now: datetime | None = None
) -> EscalationReport:
    """Escalate what passed its step without acknowledgement; record response-deadline breaches."""
    return escalate(estate, Ledger.open(ledger_url), now)


@task(retries=2, retry_delay_seconds=[5, 30])
def maintenance_notices(
    estate: Estate, ledger_url: str | None, now: datetime, planned: list[Any]
) -> list[NotificationRecord]:
    """Advance notices and corrections for planned maintenance windows."""
    return send_maintenance_notices(estate, Ledger.open(ledger_url), now, planned)
