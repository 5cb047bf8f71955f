"""The attempt lease: overlapping runs never send one message twice; a dead run's lease expires.

The SMTP server is real (aiosmtpd) and slow on demand: it answers DATA only when the test opens
its gate, so "run B starts while run A is inside the send" is arranged by events, not by timing.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from opskeeper.config.notify import DeliveryPolicy, SmtpSettings, WebhookEndpoint
from opskeeper.ledger import Ledger
from opskeeper.ledger.notify import DeliveryStatus, Notification, claim_next_attempt
from opskeeper.notify.channels.outbox import OutboxChannel
from opskeeper.notify.channels.smtp import SmtpChannel
from opskeeper.notify.channels.webhook import WebhookChannel
from opskeeper.notify.delivery import LEASE_FLOOR, _record_failure, deliver, lease_length, message_of
from opskeeper.notify.records import NotificationRecord
from tests.ledger.conftest import pg_url  # noqa: F401  (the throwaway PostgreSQL database fixture)
from tests.notify.conftest import EXAMPLE, GatedMailbox, SmtpServer, estate_file, free_port, use_smtp
from tests.notify.test_delivery import INCIDENT, T0

pytestmark = pytest.mark.smtp


class SlowSmtp:
    """A real SMTP server on loopback whose DATA replies wait for the test's gate; started on demand."""

    def __init__(self) -> None:
        self.box = GatedMailbox()
        self.server = SmtpServer("127.0.0.1", free_port(), self.box)
        self._controller: Controller | None = None

    def up(self) -> None:
        self._controller = Controller(self.box, hostname=self.server.host, port=self.server.port)
        self._controller.start()

    def down(self) -> None:
        self.box.gate.set()  # nothing stays blocked on the way out
        if self._controller:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def slow_smtp() -> Iterator[SlowSmtp]:
    server = SlowSmtp()
    try:
        yield server
    finally:
        server.down()


def _incident(notifier, estate, ledger, now=T0):  # type: ignore[no-untyped-def]
    return notifier.notify(estate, ledger, event="incident_declared", customer_id="volga", severity="emergency",
                           context=INCIDENT, dedup_key="INC-7", now=now)  # fmt: skip


def _row(ledger, row_id: int) -> Notification:  # type: ignore[no-untyped-def]
    with ledger.session() as s:
        return s.get_one(Notification, row_id)


def _overlap_a_slow_send(estate, ledger, notifier, slow_smtp) -> None:  # type: ignore[no-untyped-def]
    """Run A (a thread) is held inside channel.send; run B tries every way in; one message arrives."""
    use_smtp(estate, slow_smtp.server)
    slow_smtp.up()
    outcome: queue.Queue[list[NotificationRecord]] = queue.Queue()
    # An exception in run A leaves the queue empty: the test fails below.
    a = threading.Thread(target=lambda: outcome.put(_incident(notifier, estate, ledger)))
    a.start()
    try:
        assert slow_smtp.box.entered.wait(60), "run A never reached DATA"
        with ledger.session() as s:
            [row] = s.scalars(select(Notification)).all()
            row_id = row.id
        assert row.status == DeliveryStatus.PENDING and row.attempts == 1
        assert row.lease_until is not None and row.lease_until >= T0 + LEASE_FLOOR
        # Run B: the next tick, the same notify again, and deliver() itself on the row.
        assert notifier.deliver_pending(estate, ledger, T0 + timedelta(minutes=1)) == []
        [again] = _incident(notifier, estate, ledger, now=T0 + timedelta(minutes=1))
        assert (again.id, again.status, again.attempts) == (row_id, "pending", 1)
        channel = SmtpChannel(estate.emergency_plan.smtp)
        refused = deliver(ledger, row_id, channel, message_of(row, None), estate.emergency_plan.delivery,
                          T0 + timedelta(minutes=2))  # fmt: skip
        assert (refused.status, refused.attempts) == (DeliveryStatus.PENDING, 1)
    finally:
        slow_smtp.box.gate.set()
        a.join(60)
    [sent] = outcome.get(timeout=1)
    assert sent.status == "sent" and sent.attempts == 1
    assert len(slow_smtp.box.envelopes) == 1
    done = _row(ledger, row_id)
    assert done.lease_until is None and done.sent_at is not None


def test_a_run_that_overlaps_a_slow_send_sends_nothing(estate, ledger, notifier, slow_smtp) -> None:  # type: ignore[no-untyped-def]
    _overlap_a_slow_send(estate, ledger, notifier, slow_smtp)


@pytest.mark.postgres
def test_a_run_that_overlaps_a_slow_send_sends_nothing_on_postgres(  # type: ignore[no-untyped-def]
    estate, notifier, slow_smtp, request: pytest.FixtureRequest
) -> None:
    ledger = Ledger.open(request.getfixturevalue("pg_url"))  # scale-out: several workers share it
    try:
        _overlap_a_slow_send(estate, ledger, notifier, slow_smtp)
    finally:
        ledger.close()


def test_the_cli_run_during_a_ticks_slow_send_sends_nothing(  # type: ignore[no-untyped-def]
    estate, ledger, notifier, slow_smtp, tmp_path: Path
) -> None:
    """Two processes: the tick (a thread here) is inside a slow send when `opskeeper notify deliver` runs."""
    use_smtp(estate, slow_smtp.server)
    # Real clocks here, because the CLI reads its own: the message was first tried while the relay was down.
    opened = datetime.now(UTC) - timedelta(minutes=10)
    [rec] = _incident(notifier, estate, ledger, now=opened)
    assert rec.status == "pending" and rec.attempts == 3 and "ConnectionRefusedError" in (rec.failure or "")
    assert _row(ledger, rec.id).lease_until is None  # released with the failure: the next run may try
    slow_smtp.up()
    outcome: queue.Queue[list[NotificationRecord]] = queue.Queue()
    tick = threading.Thread(
        target=lambda: outcome.put(notifier.deliver_pending(estate, ledger, datetime.now(UTC)))
    )
    tick.start()
    smtp = (
        f"{{host: 127.0.0.1, port: {slow_smtp.server.port}, security: none, sender: ops@northwind.example}}"
    )
    config = estate_file(tmp_path, f"emergency_plan:\n  channel: smtp\n  smtp: {smtp}\n")
    try:
        assert slow_smtp.box.entered.wait(60), "the tick never reached DATA"
        cli = subprocess.run([sys.executable, "-m", "cli", "-c", str(config), "notify", "deliver", "--json"],
                             env=dict(os.environ), capture_output=True, text=True, timeout=60)  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout) == []  # leased by the tick: not due for anyone else
    finally:
        slow_smtp.box.gate.set()
        tick.join(60)
    [sent] = outcome.get(timeout=1)
    assert (sent.status, sent.attempts) == ("sent", 4)
    assert len(slow_smtp.box.envelopes) == 1


_CLAIM_AND_DIE = """
import os, sys
from datetime import datetime, timedelta, UTC
import opskeeper.notify.delivery as d
from opskeeper.config.loader import load_estate
from opskeeper.config.notify import SmtpSettings
from opskeeper.ledger import Ledger
from opskeeper.ledger import notify as _t
from opskeeper.notify.service import Notifier
d._record_sent = lambda *a, **k: os._exit(9)   # claimed and sent, then killed before the outcome is recorded
estate = load_estate(sys.argv[1])
estate.emergency_plan.channel = "smtp"
estate.emergency_plan.smtp = SmtpSettings(host="127.0.0.1", port=int(sys.argv[2]), security="none",
                                          sender="ops@northwind.example")
t = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
Notifier().notify(estate, Ledger.open(), event="maintenance_completed", customer_id="volga", severity="routine",
    context={"cadence": "monthly", "started_at": t, "ended_at": t + timedelta(hours=2), "systems": ["TMS"]},
    dedup_key="maint:monthly:2026-11", now=t)
"""


def test_a_dead_runs_lease_expires_then_the_message_goes_again(estate, ledger, notifier, smtp_server) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run([sys.executable, "-c", _CLAIM_AND_DIE, str(EXAMPLE), str(smtp_server.port)],
                          env=dict(os.environ), cwd=Path.cwd(), capture_output=True, timeout=60)  # fmt: skip
    assert proc.returncode == 9, proc.stderr.decode()
    assert len(smtp_server.mailbox.envelopes) == 1
    with ledger.session() as s:
        [row] = s.scalars(select(Notification)).all()
    assert row.status == DeliveryStatus.PENDING and row.attempts == 1 and row.lease_until is not None
    use_smtp(estate, smtp_server)
    lease = lease_length(estate.emergency_plan.delivery, SmtpChannel(estate.emergency_plan.smtp))
    assert T0 + lease <= row.lease_until < T0 + lease + timedelta(minutes=1)
    # While the lease lives, nobody sends it: not the tick, not the same notify again.
    assert notifier.deliver_pending(estate, ledger, T0 + timedelta(minutes=1)) == []
    assert notifier.deliver_pending(estate, ledger, row.lease_until - timedelta(seconds=1)) == []
    assert len(smtp_server.mailbox.envelopes) == 1
    [resent] = notifier.deliver_pending(estate, ledger, row.lease_until + timedelta(seconds=1))
    assert (resent.status, resent.attempts) == ("sent", 2)
    assert _row(ledger, row.id).lease_until is None
    ids = [m["Message-ID"] for m in smtp_server.mailbox.messages()]
    assert len(ids) == 2 and len(set(ids)) == 1  # twice on the wire after the crash, under one Message-ID


def test_a_late_failure_of_an_expired_holder_leaves_the_new_holder_alone(estate, ledger, smtp_server) -> None:  # type: ignore[no-untyped-def]
    """A send that outlives its lease: the run that took the row over decides, not the late failure."""
    proc = subprocess.run([sys.executable, "-c", _CLAIM_AND_DIE, str(EXAMPLE), str(smtp_server.port)],
                          env=dict(os.environ), cwd=Path.cwd(), capture_output=True, timeout=60)  # fmt: skip
    assert proc.returncode == 9, proc.stderr.decode()
    with ledger.session() as s:
        [row] = s.scalars(select(Notification)).all()
    expired = row.lease_until + timedelta(seconds=1)
    taken = claim_next_attempt(ledger, row.id, expired, expired + LEASE_FLOOR, None)  # another run takes it over
    assert taken == 2
    late = _record_failure(ledger, row.id, 1, "timed out", expired, True, True, estate.emergency_plan.delivery)
    assert (late.status, late.attempts) == (DeliveryStatus.PENDING, 2)
    after = _row(ledger, row.id)
    assert after.status == DeliveryStatus.PENDING and after.failure is None
    assert after.lease_until == expired + LEASE_FLOOR  # the new holder's lease stands


def test_quick_retries_renew_the_holders_own_lease(estate, ledger, notifier, webhook) -> None:  # type: ignore[no-untyped-def]
    c = estate.customer("volga").contacts[0]
    c.endpoints = [WebhookEndpoint(address=webhook.url())]
    webhook.fail_next = 2  # the first two attempts of this one delivery fail
    [rec] = _incident(notifier, estate, ledger)
    assert (rec.status, rec.attempts) == ("sent", 3)
    assert len(webhook.requests) == 3 and _row(ledger, rec.id).lease_until is None


def test_lease_covers_the_channels_timeouts_with_a_floor(estate, opskeeper_home: Path) -> None:  # type: ignore[no-untyped-def]
    policy = DeliveryPolicy(quick_retries=2, quick_backoff=timedelta(seconds=10))
    slow = SmtpSettings(host="127.0.0.1", port=25, sender="ops@x.example", timeout=timedelta(minutes=2))
    assert lease_length(policy, SmtpChannel(slow)) > 10 * timedelta(minutes=2)  # every SMTP wait timing out
    assert lease_length(policy, SmtpChannel(slow)) > lease_length(DeliveryPolicy(), SmtpChannel(slow))
    assert lease_length(policy, WebhookChannel("json", timeout=15)) == LEASE_FLOOR
    assert lease_length(policy, OutboxChannel(opskeeper_home, "ops@x.example")) == LEASE_FLOOR
