"""The tick flow starts due maintenance in-process when no deployment exists, and only once per window."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from demos.estate import make_example_data
from flows.tick import tick
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from tests.conftest import EXAMPLE_ESTATE


@pytest.fixture()
def always_open_estate(tmp_path: Path, opskeeper_home: Path) -> Path:
    """The example estate with volga only: a window open all week, and a tier with no notice period."""
    make_example_data(opskeeper_home)
    data = yaml.safe_load(EXAMPLE_ESTATE.read_text().replace("${OPSKEEPER_HOME}", str(opskeeper_home)))
    data["runbooks_dir"] = str(EXAMPLE_ESTATE.parent.parent / "runbooks")
    data["customers"] = [c for c in data["customers"] if c["id"] == "volga"]
    volga = data["customers"][0]
    volga["blackouts"] = []
    volga["maintenance_window"] = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                   "start": "00:00", "duration": "24h"}  # fmt: skip
    data["tiers"]["advanced"]["maintenance_notice"] = "0s"
    data["tiers"]["advanced"]["cadences"] = ["monthly"]
    path = tmp_path / "estate.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.mark.flow
def test_tick_starts_due_work_once(always_open_estate: Path) -> None:
    first = tick(config=str(always_open_estate))
    assert "volga/monthly (ran in-process)" in first["started"]
    # The first backup was due (none yet), and the overdue drill could then run against it.
    assert "volga/backup tms (ran in-process)" in first["started"]
    assert "volga/drill data-corruption (ran in-process)" in first["started"]
    runs = ledger_runs.list_runs(Ledger.open(), kind="maintenance", customer_id="volga")
    assert len(runs) == 1 and runs[0].trigger == "tick" and runs[0].triggered_by == "scheduler"
    second = tick(config=str(always_open_estate))
    assert not [s for s in second["started"] if "monthly" in s]  # done in this period (or claimed): not again
    assert len(ledger_runs.list_runs(Ledger.open(), kind="maintenance", customer_id="volga")) == 1


def test_missed_period_is_recorded_once_and_told_once(always_open_estate: Path, opskeeper_home: Path) -> None:
    from datetime import UTC, datetime

    from flows.tick import record_missed
    from opskeeper.config.loader import load_estate

    estate = load_estate(always_open_estate)
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert record_missed.fn(estate, [("volga", "monthly", "2026-10")], now) == 1
    assert record_missed.fn(estate, [("volga", "monthly", "2026-10")], now) == 0  # the next tick: on record
    assert [b.period for b in ledger_runs.breaches(Ledger.open(), "volga")] == ["2026-10"]
    told = list((opskeeper_home / "outbox").glob("volga-sla_breached-*.eml"))
    assert len(told) == 1  # re-telling on every tick is idempotent: one message per contact
