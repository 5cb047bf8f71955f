"""Acknowledgement (CLI and link), escalation with a controlled clock, deadlines, advance notices."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from cli.notify import app
from opskeeper.config.types import Severity
from opskeeper.notify.ackserver import start_ack_server
from opskeeper.notify.escalation import escalate
from opskeeper.notify.notices import send_maintenance_notices
from tests.notify.conftest import EXAMPLE

T0 = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
INCIDENT = {"incident_id": "INC-9", "title": "TMS down", "started_at": T0, "impact": "No dispatching."}


def _incident(notifier, estate, ledger, now=T0):  # type: ignore[no-untyped-def]
    return notifier.notify(
        estate,
        ledger,
        event="incident_declared",
        customer_id="volga",
        severity="emergency",
        context=INCIDENT,
        dedup_key="INC-9",
        now=now,
    )


def test_ack_by_cli(estate, ledger, notifier, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPSKEEPER_CONFIG", str(EXAMPLE))
    [rec] = _incident(notifier, estate, ledger, now=datetime.now(UTC))
    runner = CliRunner()
    shown = runner.invoke(app, ["pending", "--json"])
    assert shown.exit_code == 0, shown.output
    assert '"time_left_s"' in shown.output and f'"id": {rec.id}' in shown.output
    result = runner.invoke(app, ["ack", str(rec.id), "--by", "Ирина"])
    assert result.exit_code == 0, result.output
    assert "acknowledged" in result.output
    assert runner.invoke(app, ["pending", "--json"]).output.strip() == "[]"
    assert runner.invoke(app, ["ack", "999"]).exit_code == 2
    assert escalate(estate, ledger, datetime.now(UTC) + timedelta(hours=3), notifier).escalated == []


def test_ack_by_link(estate, ledger, notifier) -> None:  # type: ignore[no-untyped-def]
    server = start_ack_server(ledger, "127.0.0.1", 0)
    try:
        [rec] = _incident(notifier, estate, ledger)
        link = f"{server.url}/ack/{rec.token}"
        with urllib.request.urlopen(link, timeout=5) as page:  # a GET (mail scanners) never acknowledges
            assert "Инцидент INC-9" in page.read().decode()
        assert notifier.pending(estate, ledger, T0)[0].record.acked_at is None
        with urllib.request.urlopen(urllib.request.Request(link, data=b"", method="POST"), timeout=5) as page:
            assert page.status == 200
        [item] = [i for i in notifier.pending(estate, ledger, T0)] or [None]
        assert item is None  # acknowledged: nothing awaits
        for bad in (
            f"{server.url}/ack/{rec.id}",
            f"{server.url}/ack/nope",
            f"{server.url}/",
            f"{server.url}/etc",
        ):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(bad, timeout=5)
            assert e.value.code == 404
    finally:
        server.stop()


def test_escalation_after_deadline_with_controlled_clock(estate, ledger, notifier) -> None:  # type: ignore[no-untyped-def]
    [first] = _incident(notifier, estate, ledger)
    assert first.deadline_at == T0 + timedelta(hours=1)  # advanced tier, emergency, 24x7
    assert escalate(estate, ledger, T0 + timedelta(minutes=29), notifier).escalated == []
    step1 = escalate(estate, ledger, T0 + timedelta(minutes=31), notifier)
    assert [(r.contact_name, r.level) for r in step1.escalated] == [("Алексей Смирнов", 2)]
    assert step1.escalated[0].subject.startswith("[ЭСКАЛАЦИЯ]") and step1.breached == []
    assert escalate(estate, ledger, T0 + timedelta(minutes=32), notifier).escalated == []  # idempotent
    step2 = escalate(estate, ledger, T0 + timedelta(minutes=61), notifier)
    assert [(r.contact_name, r.level) for r in step2.escalated] == [("Northwind Ops on-call", 9)]
    assert [r.customer_id for r in step2.breached] == ["volga"]
    ok, problems = ledger.verify_audit()
    assert not problems


@dataclass(frozen=True)
class _Window:
    start: datetime
    end: datetime


def test_advance_notice_and_correction(estate, ledger, notifier) -> None:  # type: ignore[no-untyped-def]
    window = _Window(datetime(2026, 11, 28, 14, 0, tzinfo=UTC), datetime(2026, 11, 28, 18, 0, tzinfo=UTC))
    planned = [("hanhai", "monthly", window)]
    assert (
        send_maintenance_notices(estate, ledger, window.start - timedelta(hours=80), planned, notifier) == []
    )
    [sent] = send_maintenance_notices(estate, ledger, window.start - timedelta(hours=71), planned, notifier)
    assert sent.subject == "月度维护计划通知：2026年11月28日 22:00 (CST)" and sent.status == "sent"
    assert (
        send_maintenance_notices(estate, ledger, window.start - timedelta(hours=70), planned, notifier) == []
    )
    moved = _Window(
        window.start + timedelta(days=1), window.end + timedelta(days=1)
    )  # rescheduled a day later
    [fix] = send_maintenance_notices(
        estate, ledger, window.start - timedelta(hours=60), [("hanhai", "monthly", moved)], notifier
    )
    assert fix.subject.startswith("【更正】月度维护计划通知：2026年11月29日 22:00 (CST)")
    assert (
        send_maintenance_notices(
            estate, ledger, window.start - timedelta(hours=59), [("hanhai", "monthly", moved)], notifier
        )
        == []
    )


def test_incident_update_cadence_reminds_oncall(estate, ledger, notifier) -> None:  # type: ignore[no-untyped-def]
    estate.emergency_plan.severities[Severity.EMERGENCY].update_every = timedelta(minutes=30)
    [first] = _incident(notifier, estate, ledger)
    notifier.ack(ledger, str(first.id), "Ирина")  # acknowledged: no escalation, but updates are still owed
    assert escalate(estate, ledger, T0 + timedelta(minutes=20), notifier).reminders == []
    [reminder] = escalate(estate, ledger, T0 + timedelta(minutes=31), notifier).reminders
    assert reminder.level == 9 and reminder.language == "en" and "INC-9" in reminder.subject
    assert not reminder.ack_required and reminder.deadline_at is None
    assert escalate(estate, ledger, T0 + timedelta(minutes=40), notifier).reminders == []  # once per slot
    notifier.notify(estate, ledger, event="incident_resolved", customer_id="volga", severity="emergency",
                    context={**INCIDENT, "resolved_at": T0 + timedelta(minutes=45)}, dedup_key="INC-9/resolved",
                    now=T0 + timedelta(minutes=45))  # fmt: skip
    assert escalate(estate, ledger, T0 + timedelta(hours=3), notifier).reminders == []
