"""An escalation that reaches nobody is loud: audit, error log, `notify pending`, and `validate` beforehand."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app as main_app
from cli.notify import app
from opskeeper.config.notify import WebhookEndpoint
from opskeeper.config.secrets import SecretRef
from opskeeper.config.types import Severity
from opskeeper.ledger.audit import AuditEntry
from opskeeper.ledger.notify import Notification
from opskeeper.notify import validate
from opskeeper.notify.escalation import escalate, nobody_told
from tests.notify.conftest import EXAMPLE, estate_file, use_smtp

T0 = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
INCIDENT = {"incident_id": "INC-5", "title": "TMS down", "started_at": T0, "impact": "No dispatching."}
MAINT = {"cadence": "monthly", "started_at": T0, "ended_at": T0 + timedelta(hours=2), "systems": ["TMS"]}
SECRET_NAME = "cto-7f3a9c-on-leave"  # a contact name that is also a secret value: must not reach the log


def _nobody_entries(ledger) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with ledger.session() as s:
        q = select(AuditEntry).where(AuditEntry.action == "notification.nobody_to_tell")
        return list(s.scalars(q.order_by(AuditEntry.seq)))


@pytest.mark.smtp
def test_a_level_without_a_reachable_contact_is_recorded_logged_and_skipped(  # type: ignore[no-untyped-def]
    estate, ledger, notifier, smtp_server, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_smtp(estate, smtp_server)
    estate.emergency_plan.severities[Severity.EMERGENCY].channels = ["email"]
    cto = estate.customer("volga").contacts[1]  # level 2, reachable only by a webhook the plan does not use
    cto.name, cto.endpoints = SECRET_NAME, [WebhookEndpoint(address="http://127.0.0.1:9/hook")]
    monkeypatch.setenv("OPSKEEPER_TEST_SECRET", SECRET_NAME)
    SecretRef.model_validate("env:OPSKEEPER_TEST_SECRET").resolve()  # registers it with the redactor
    [first] = notifier.notify(estate, ledger, event="incident_declared", customer_id="volga",
                              severity="emergency", context=INCIDENT, dedup_key="INC-5", now=T0)  # fmt: skip
    assert first.status == "sent"
    with caplog.at_level(logging.ERROR, logger="opskeeper.notify.escalation"):
        report = escalate(estate, ledger, T0 + timedelta(minutes=31), notifier)
    assert [(u.notification_id, u.levels) for u in report.nobody_told] == [(first.id, (2,))]
    # Nobody at level 2: the provider's on-call is told at once, not at the plan's 60 minutes.
    assert [(r.contact_name, r.level, r.status) for r in report.escalated] == [
        ("Northwind Ops on-call", 9, "sent")
    ]
    assert [to for _f, to, _raw in smtp_server.mailbox.envelopes] == [
        ["i.petrova@volga.example"], ["oncall@northwind-ops.example"]
    ]  # fmt: skip
    [entry] = _nobody_entries(ledger)
    assert entry.subject == f"notification:{first.id}"
    assert entry.details["level"] == 2 and entry.details["customer"] == "volga"
    assert "no contact at escalation_level 2" in entry.details["why"]
    assert SECRET_NAME not in json.dumps(entry.details, ensure_ascii=False)
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    logged = record.getMessage()
    assert "told nobody" in logged and "level 2" in logged
    assert "channels of severity emergency (email)" in logged
    assert SECRET_NAME not in logged and "***" in logged
    # Later ticks record nothing again, and the group stays at the on-call.
    for minutes in (32, 61, 120):
        later = escalate(estate, ledger, T0 + timedelta(minutes=minutes), notifier)
        assert later.nobody_told == [] and later.escalated == []
    assert len(_nobody_entries(ledger)) == 1 and len(smtp_server.mailbox.envelopes) == 2
    with ledger.session() as s:
        assert {tuple(r.unreached_levels) for r in s.scalars(select(Notification))} == {(2,)}
    assert ledger.verify_audit()[1] == []


def test_no_oncall_address_shows_in_notify_pending(  # type: ignore[no-untyped-def]
    estate, ledger, notifier, webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = estate.customer("volga").contacts[0]
    c.endpoints = [WebhookEndpoint(address=webhook.url("/customer"))]
    estate.provider.oncall_email = None  # and no oncall_webhook: the provider's on-call cannot be told
    webhook.always_status = 410  # the customer's hook is gone for good
    [rec] = notifier.notify(estate, ledger, event="maintenance_completed", customer_id="volga", severity="routine",
                            context=MAINT, dedup_key="maint:monthly:2026-11", now=T0)  # fmt: skip
    assert rec.status == "failed"
    report = escalate(estate, ledger, T0 + timedelta(minutes=1), notifier)
    assert [u.levels for u in report.nobody_told] == [(9,)] and report.escalated == []
    assert escalate(estate, ledger, T0 + timedelta(minutes=2), notifier).nobody_told == []
    assert [e.details["why"] for e in _nobody_entries(ledger)] == [
        "level 9 is the provider's on-call, but provider.oncall_email / oncall_webhook are not set"
    ]
    assert [u.levels for u in nobody_told(ledger)] == [(9,)]

    monkeypatch.setenv("OPSKEEPER_CONFIG", str(EXAMPLE))
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()
    table = runner.invoke(app, ["pending"])
    assert table.exit_code == 0, table.output
    line = f"nobody could be told at level 9: #{rec.id} volga maintenance_completed"
    assert line in table.output
    shown = runner.invoke(app, ["pending", "--json"])
    assert [i["unreached_levels"] for i in json.loads(shown.output)] == [[9]]
    # Someone handled it by hand and acknowledged: no longer shown as unreached.
    notifier.ack(ledger, str(rec.id), "oncall by phone")
    assert "nobody could be told" not in runner.invoke(app, ["pending"]).output


def test_validate_rejects_escalation_levels_nobody_can_be_reached_at(estate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert validate.validate(estate) == []  # the example estate reaches every level
    plan = (
        "emergency_plan:\n"
        "  severities:\n"
        "    emergency:\n"
        "      channels: [email]\n"
        "      escalation:\n"
        "        - {after: 30m, level: 2}\n"
        "        - {after: 1h, level: 9}\n"
        "    high:\n"
        "      channels: [webhook]\n"
        "      escalation:\n"
        "        - {after: 4h, level: 9}\n"
    )
    cto = "{name: Алексей Смирнов, role: cto, escalation_level: 2, email: a.smirnov@volga.example}"
    by_hook = (
        "{name: Алексей Смирнов, role: cto, escalation_level: 2, webhook: 'https://hooks.volga.example/x'}"
    )
    path = estate_file(tmp_path, plan, {cto: by_hook})
    lines = path.read_text().splitlines()
    at = {
        text: lines.index(f"        - {text}") + 1
        for text in ("{after: 30m, level: 2}", "{after: 4h, level: 9}")
    }
    result = CliRunner().invoke(main_app, ["-c", str(path), "validate"])
    assert result.exit_code == 2
    assert result.stderr.strip().removeprefix("error: ").splitlines() == [
        f"{path}:{at['{after: 30m, level: 2}']}: emergency_plan.severities.emergency.escalation[0].level: "
        "customer 'volga': no contact at escalation_level 2 (Алексей Смирнов) has an address on the channels "
        "of severity emergency (email)",
        f"{path}:{at['{after: 4h, level: 9}']}: emergency_plan.severities.high.escalation[0].level: level 9 is "
        "the provider's on-call, but it has only provider.oncall_email and severity high uses channels "
        "(webhook); set provider.oncall_webhook",
    ]
