"""The plan as data: recipients, silent drills, language fallback, webhook payloads, the pending view."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.notify import app
from opskeeper.ledger.notify import Notification
from opskeeper.notify.channels.webhook import WebhookKind, payload
from opskeeper.notify.delivery import message_of
from opskeeper.notify.render import DEFAULT_DIR
from opskeeper.notify.service import Notifier
from tests.notify.conftest import EXAMPLE

T0 = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
INCIDENT = {"incident_id": "INC-3", "title": "ERP slow", "started_at": T0, "impact": "Reports time out."}


def test_silent_drill_tells_nobody(estate, ledger, notifier, opskeeper_home: Path) -> None:  # type: ignore[no-untyped-def]
    estate.emergency_plan.drills.mode = "silent"
    assert notifier.notify(estate, ledger, event="incident_declared", customer_id="hanhai", severity="emergency",
                           context=INCIDENT, dedup_key="drill-1", drill=True, now=T0) == []  # fmt: skip
    assert not (opskeeper_home / "outbox").exists()


def test_announced_drill_goes_to_the_drill_roles_marked(estate, ledger, notifier) -> None:  # type: ignore[no-untyped-def]
    estate.emergency_plan.drills.roles = ["cto"]
    [rec] = notifier.notify(estate, ledger, event="incident_declared", customer_id="hanhai", severity="emergency",
                            context=INCIDENT, dedup_key="drill-2", drill=True, now=T0)  # fmt: skip
    assert rec.contact_name == "李娜" and rec.drill and rec.subject.startswith("【演练】故障通告 INC-3")


def test_language_falls_back_when_a_template_is_missing(estate, ledger, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "notifications"
    shutil.copytree(DEFAULT_DIR, folder)
    (folder / "incident_declared.zh-CN.j2").unlink()
    notifier = Notifier(templates_dir=folder, sleep=lambda _s: None)
    [rec] = notifier.notify(estate, ledger, event="incident_declared", customer_id="hanhai", severity="emergency",
                            context=INCIDENT, dedup_key="INC-3", now=T0)  # fmt: skip
    assert rec.language == "en" and rec.subject == "Incident INC-3: ERP slow"


def test_missing_context_is_bad_input(estate, ledger, notifier) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception) as e:
        notifier.notify(estate, ledger, event="incident_declared", customer_id="hanhai", severity="emergency",
                        context={"title": "x"}, dedup_key="k", now=T0)  # fmt: skip
    assert getattr(e.value, "exit_code", None) == 2 and "incident_id" in str(e.value)


def test_slack_and_teams_payloads(estate, ledger, notifier) -> None:  # type: ignore[no-untyped-def]
    [rec] = notifier.notify(estate, ledger, event="incident_declared", customer_id="volga", severity="emergency",
                            context=INCIDENT, dedup_key="INC-3", now=T0)  # fmt: skip
    with ledger.session() as s:
        message = message_of(s.get_one(Notification, rec.id), "http://ack.example/ack/t")
    slack = payload(WebhookKind.SLACK, message)
    assert slack["text"].startswith("*Инцидент INC-3: ERP slow*\n")
    teams = payload(WebhookKind.TEAMS, message)
    card = teams["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["actions"][0]["url"] == "http://ack.example/ack/t"


def test_pending_table_shows_time_left(estate, ledger, notifier, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPSKEEPER_CONFIG", str(EXAMPLE))
    monkeypatch.setenv("COLUMNS", "250")
    now = datetime.now(UTC)
    notifier.notify(estate, ledger, event="incident_declared", customer_id="volga", severity="emergency",
                    context=INCIDENT, dedup_key="INC-3", now=now - timedelta(minutes=20))  # fmt: skip
    out = CliRunner().invoke(app, ["pending"]).output
    assert "Ирина Петрова" in out
    assert "39 minutes" in out or "40 minutes" in out  # 1 h deadline, opened 20 minutes ago
