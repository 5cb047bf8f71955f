"""Delivery through real servers: SMTP (aiosmtpd), webhooks (http.server), the outbox; retries; no duplicates."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from opskeeper.config.notify import WebhookEndpoint
from opskeeper.ledger.notify import DeliveryStatus, Notification
from opskeeper.notify.escalation import escalate
from tests.notify.conftest import use_smtp

T0 = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
INCIDENT = {
    "incident_id": "INC-7",
    "title": "ERP down",
    "started_at": T0,
    "impact": "Orders cannot be booked.",
}
MAINT = {"cadence": "monthly", "started_at": T0, "ended_at": T0 + timedelta(hours=2), "systems": ["ERP"]}


def _webhook_contact(estate, url: str, kind: str = "json") -> None:  # type: ignore[no-untyped-def]
    c = estate.customer("volga").contacts[0]
    c.endpoints = [WebhookEndpoint(address=url, format=kind)]


@pytest.mark.smtp
def test_smtp_delivery_with_stable_message_id(estate, ledger, notifier, smtp_server) -> None:  # type: ignore[no-untyped-def]
    use_smtp(estate, smtp_server)
    records = notifier.notify(
        estate,
        ledger,
        event="incident_declared",
        customer_id="volga",
        severity="emergency",
        context=INCIDENT,
        dedup_key="INC-7",
        now=T0,
    )
    assert [r.status for r in records] == ["sent"]
    [mail] = smtp_server.mailbox.messages()
    assert mail["Message-ID"] == records[0].message_id
    assert mail["Subject"] == "Инцидент INC-7: ERP down"
    assert "i.petrova@volga.example" in mail["To"]
    text = mail.get_body(("plain",)).get_content()
    assert "Начало: 28 ноября 2026 г., 17:00 (MSK)" in text
    assert "Срок реакции: 28 ноября 2026 г., 18:00 (MSK)" in text  # advanced tier: emergency 1 h, 24x7
    assert "/ack/" + records[0].token in text
    # The same dedup key again sends nothing new.
    again = notifier.notify(
        estate,
        ledger,
        event="incident_declared",
        customer_id="volga",
        severity="emergency",
        context=INCIDENT,
        dedup_key="INC-7",
        now=T0,
    )
    assert [r.id for r in again] == [r.id for r in records]
    assert len(smtp_server.mailbox.envelopes) == 1


@pytest.mark.smtp
def test_no_duplicate_after_crash_between_send_and_record(estate, ledger, notifier, smtp_server) -> None:  # type: ignore[no-untyped-def]
    use_smtp(estate, smtp_server)
    [rec] = notifier.notify(
        estate,
        ledger,
        event="maintenance_completed",
        customer_id="hanhai",
        severity="routine",
        context=MAINT,
        dedup_key="maint:monthly:2026-11",
        now=T0,
    )[:1]
    with ledger.session() as s:  # the record of the send is lost (rolled back by a crash)
        row = s.get_one(Notification, rec.id)
        row.status, row.sent_at = DeliveryStatus.PENDING, None
    resent = notifier.deliver_pending(estate, ledger, T0 + timedelta(minutes=1))
    assert [r.status for r in resent] == ["sent"]
    ids = [m["Message-ID"] for m in smtp_server.mailbox.messages()]
    assert len(ids) == 2 and len(set(ids)) == 1  # sent twice on the wire, under one Message-ID
    assert len(smtp_server.mailbox.distinct()) == 1  # so the mailbox keeps one


_CRASH = """
import os, sys
from datetime import datetime, timedelta, UTC
import opskeeper.notify.delivery as d
from opskeeper.config.loader import load_estate
from opskeeper.ledger import Ledger
from opskeeper.ledger import notify as _t
from opskeeper.notify.service import Notifier
d._record_sent = lambda *a, **k: os._exit(9)   # die after the send, before recording it
t = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
Notifier().notify(load_estate(sys.argv[1]), Ledger.open(), event="maintenance_completed", customer_id="volga",
    severity="routine", context={"cadence": "monthly", "started_at": t, "ended_at": t + timedelta(hours=2),
    "systems": ["TMS"]}, dedup_key="maint:monthly:2026-11", now=t)
"""


def test_outbox_crash_after_send_does_not_duplicate(estate, ledger, notifier, opskeeper_home: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.notify.conftest import EXAMPLE

    proc = subprocess.run(
        [sys.executable, "-c", _CRASH, str(EXAMPLE)],
        env=dict(os.environ),
        cwd=Path.cwd(),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 9, proc.stderr.decode()
    outbox = opskeeper_home / "outbox"
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 1
    with ledger.session() as s:
        [row] = s.scalars(select(Notification)).all()
        assert row.status == DeliveryStatus.PENDING and row.attempts == 1  # in doubt
    assert notifier.deliver_pending(estate, ledger, T0 + timedelta(minutes=1)) == []  # the dead run's lease
    resumed = notifier.deliver_pending(estate, ledger, T0 + timedelta(minutes=10))  # the lease has expired
    assert [r.status for r in resumed] == ["sent"]
    assert sorted(outbox.glob("*.eml")) == files  # the same file, replaced, not a second one
    mail = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert mail["Subject"] == "Завершено ежемесячное обслуживание: TMS"


def test_webhook_retries_quickly_then_succeeds(estate, ledger, notifier, webhook) -> None:  # type: ignore[no-untyped-def]
    _webhook_contact(estate, webhook.url())
    webhook.fail_next = 2
    [rec] = notifier.notify(
        estate,
        ledger,
        event="incident_declared",
        customer_id="volga",
        severity="emergency",
        context=INCIDENT,
        dedup_key="INC-7",
        now=T0,
    )
    assert rec.status == "sent" and rec.attempts == 3
    keys = {headers["Idempotency-Key"] for _p, headers, _b in webhook.requests}
    assert keys == {rec.key}
    body = webhook.requests[-1][2]
    assert body["event"] == "incident_declared" and body["subject"] == "Инцидент INC-7: ERP down"


def test_webhook_retry_after_server_comes_back(estate, ledger, notifier, webhook) -> None:  # type: ignore[no-untyped-def]
    _webhook_contact(estate, webhook.url(), kind="slack")
    webhook.down()
    [rec] = notifier.notify(
        estate,
        ledger,
        event="incident_declared",
        customer_id="volga",
        severity="emergency",
        context=INCIDENT,
        dedup_key="INC-7",
        now=T0,
    )
    assert rec.status == "pending" and rec.attempts == 3 and "webhook http://127.0.0.1" in (rec.failure or "")
    assert notifier.deliver_pending(estate, ledger, T0 + timedelta(seconds=10)) == []  # backoff not over
    webhook.up()
    [again] = notifier.deliver_pending(estate, ledger, T0 + timedelta(minutes=10))
    assert again.status == "sent" and again.attempts == 4
    assert webhook.requests[0][2]["text"].startswith("*Инцидент INC-7: ERP down*")


def test_permanent_failure_escalates(estate, ledger, notifier, webhook) -> None:  # type: ignore[no-untyped-def]
    _webhook_contact(estate, webhook.url("/customer"))
    estate.provider.oncall_webhook = webhook.url("/oncall")
    webhook.fail_next, webhook.fail_status = 1, 404  # the customer's hook is gone
    [rec] = notifier.notify(
        estate,
        ledger,
        event="maintenance_completed",
        customer_id="volga",
        severity="routine",
        context=MAINT,
        dedup_key="maint:monthly:2026-11",
        now=T0,
    )
    assert rec.status == "failed" and rec.attempts == 1 and "HTTP 404" in (rec.failure or "")
    report = escalate(estate, ledger, T0 + timedelta(minutes=1), notifier)
    told = {(r.contact_name, r.level, r.status) for r in report.escalated}
    assert ("Northwind Ops on-call", 9, "sent") in told
    assert webhook.requests[-1][0] == "/oncall"
    assert webhook.requests[-1][2]["subject"].startswith("[ESCALATED]")
    assert escalate(estate, ledger, T0 + timedelta(minutes=2), notifier).escalated == []  # once only
