"""Delivery faults on real servers: the SMTP server down then up, a webhook answering 500 then 200.

Each ends the same way: the message waits in the ledger's outbox (pending, its failure on record),
the flush after the server is back (``deliver_pending``, what the tick and ``opskeeper notify
deliver`` call) delivers it, and delivers it once: a later flush sends nothing.
Time is injected (``now=``); the notifier's quick-retry sleep is stubbed, so nothing waits. The estate
(2 quick retries, 4 attempts at most), ledger, notifier and webhook server are the notification tests'.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from opskeeper.config.estate import Estate
from opskeeper.config.notify import WebhookEndpoint
from opskeeper.ledger import Ledger
from opskeeper.ledger import notify as _tables  # noqa: F401  (registers the table)
from opskeeper.notify.records import NotificationRecord
from opskeeper.notify.service import Notifier
from tests.notify.conftest import Mailbox, SmtpServer, WebhookServer, free_port, use_smtp
from tests.notify.test_delivery import INCIDENT, T0

QUICK = 2  # quick retries in the same call: 3 attempts per flush


class RestartableSmtp:
    """aiosmtpd on one fixed port, stopped and started again by the test; one mailbox throughout."""

    def __init__(self) -> None:
        self.server = SmtpServer("127.0.0.1", free_port(), Mailbox())
        self._controller: Controller | None = None

    def up(self) -> None:
        self._controller = Controller(self.server.mailbox, hostname=self.server.host, port=self.server.port)
        self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp() -> Iterator[RestartableSmtp]:
    server = RestartableSmtp()
    server.up()
    try:
        yield server
    finally:
        server.down()


def _declare(estate: Estate, ledger: Ledger, notifier: Notifier) -> list[NotificationRecord]:
    return notifier.notify(estate, ledger, event="incident_declared", customer_id="volga", severity="emergency",
                           context=INCIDENT, dedup_key="INC-7", now=T0)  # fmt: skip


def _flush_until_sent(estate: Estate, ledger: Ledger, notifier: Notifier) -> list[NotificationRecord]:
    """Flush as the tick does, an hour of ticks apart, until nothing is owed; every record returned."""
    seen: list[NotificationRecord] = []
    for hour in range(1, 6):
        seen += notifier.deliver_pending(estate, ledger, T0 + timedelta(hours=hour))
        if seen and seen[-1].status == "sent":
            return seen
    raise AssertionError(f"not delivered after 5 flushes: {seen}")


@pytest.mark.smtp
def test_smtp_down_then_up_delivers_once(
    estate: Estate, ledger: Ledger, notifier: Notifier, smtp: RestartableSmtp
) -> None:
    use_smtp(estate, smtp.server)
    smtp.down()
    [rec] = _declare(estate, ledger, notifier)
    assert rec.status == "pending" and rec.attempts == QUICK + 1, rec
    assert f"127.0.0.1:{smtp.server.port}" in (rec.failure or ""), rec.failure  # names the server
    [owed] = notifier.pending(estate, ledger, T0)
    assert owed.record.id == rec.id and owed.record.sent_at is None  # in the outbox, on record
    assert notifier.deliver_pending(estate, ledger, T0 + timedelta(seconds=5)) == []  # backoff not over
    assert smtp.server.mailbox.envelopes == []

    smtp.up()
    sent = _flush_until_sent(estate, ledger, notifier)
    assert [r.id for r in sent] == [rec.id] and sent[-1].attempts == QUICK + 2
    assert notifier.deliver_pending(estate, ledger, T0 + timedelta(days=1)) == []  # nothing owed any more
    assert _declare(estate, ledger, notifier)[0].status == "sent"  # the same incident again: no new row
    [mail] = smtp.server.mailbox.messages()  # exactly one on the wire
    assert mail["Message-ID"] == sent[-1].message_id
    assert mail["Subject"] == "Инцидент INC-7: ERP down"


def test_webhook_500_then_200_delivers_once(
    estate: Estate, ledger: Ledger, notifier: Notifier, webhook: WebhookServer
) -> None:
    estate.customer("volga").contacts[0].endpoints = [WebhookEndpoint(address=webhook.url(), format="json")]
    failures = QUICK + 1  # all of the first flush's attempts: the message must wait for a later one
    webhook.fail_next, webhook.fail_status = failures, 500
    [rec] = _declare(estate, ledger, notifier)
    assert rec.status == "pending" and "HTTP 500" in (rec.failure or ""), rec
    sent = _flush_until_sent(estate, ledger, notifier)
    assert sent[-1].id == rec.id and sent[-1].attempts == failures + 1
    assert notifier.deliver_pending(estate, ledger, T0 + timedelta(days=1)) == []
    assert len(webhook.requests) == failures + 1  # so exactly one request was answered 200
    keys = {headers["Idempotency-Key"] for _path, headers, _body in webhook.requests}
    assert keys == {rec.key}  # every attempt carried the same key: a receiver can drop a repeat
    assert {body["subject"] for _p, _h, body in webhook.requests} == {"Инцидент INC-7: ERP down"}
