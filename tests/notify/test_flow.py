"""The escalation flow under the Prefect test harness, with a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flows.escalation import escalation
from opskeeper.notify.helpers import maintenance_result
from tests.notify.conftest import EXAMPLE

T0 = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


@pytest.mark.flow
def test_escalation_flow_escalates_and_records_breach(estate, ledger, notifier) -> None:  # type: ignore[no-untyped-def]
    notifier.notify(estate, ledger, event="incident_declared", customer_id="volga", severity="emergency",
                    context={"incident_id": "INC-1", "title": "TMS down", "started_at": T0, "impact": "all"},
                    dedup_key="INC-1", now=T0)  # fmt: skip
    assert escalation(config=str(EXAMPLE), now=T0 + timedelta(minutes=10)) == {
        "retried": 0, "delivered": 0, "escalated": 0, "breached": 0, "reminded": 0,
        "nobody_told": 0,
    }  # fmt: skip
    summary = escalation(config=str(EXAMPLE), now=T0 + timedelta(minutes=65))
    assert summary["escalated"] == 2 and summary["breached"] == 1  # CTO and on-call, deadline 1 h passed


def test_demo_maintenance_messages_land_in_outbox(estate, ledger, notifier, opskeeper_home) -> None:  # type: ignore[no-untyped-def]
    for customer in ("hanhai", "volga"):
        maintenance_result(estate, ledger, customer_id=customer, cadence="monthly", period="2026-11",
                           started_at=T0, ended_at=T0 + timedelta(hours=1), ok=True, now=T0, notifier=notifier)  # fmt: skip
    names = sorted(p.name for p in (opskeeper_home / "outbox").glob("*.eml"))
    assert [n.rsplit("-", 1)[0] for n in names] == [
        "hanhai-maintenance_completed-zh-CN", "volga-maintenance_completed-ru",
    ]  # fmt: skip
