"""``opskeeper schedule show`` on the example estate: tables, valid JSON, ledger-backed "done"."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.schedule import app as schedule_app
from opskeeper.paths import EXAMPLE_ESTATE

root = typer.Typer()
root.add_typer(schedule_app, name="schedule")
runner = CliRunner()


@pytest.fixture(autouse=True)
def example_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSKEEPER_CONFIG", str(EXAMPLE_ESTATE))


def show(*args: str):
    return runner.invoke(root, ["schedule", "show", *args], env={"COLUMNS": "200"})


def test_json_is_valid_and_lists_the_hanhai_month_end_blackout(opskeeper_home: Path):
    result = show("--days", "60", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    hanhai = next(c for c in data["customers"] if c["customer"] == "hanhai")
    assert any("month-end" in b["reason"] for b in hanhai["blackouts"])
    assert {c["customer"] for c in data["customers"]} == {"hanhai", "volga"}
    assert not (opskeeper_home / "ledger.sqlite").exists()  # read-only: no ledger is created


def test_json_at_fixed_time_shows_runs_moved_by_blackouts():
    result = show("--customer", "volga", "--at", "2026-11-23T14:00Z", "--json")
    assert result.exit_code == 0, result.output
    [volga] = json.loads(result.stdout)["customers"]
    jan = next(r for r in volga["runs"] if r["cadence"] == "monthly" and r["period"] == "2027-01")
    annual = next(r for r in volga["runs"] if r["cadence"] == "annual" and r["period"] == "2027")
    assert jan["window"]["start_local"] == annual["window"]["start_local"] == "2027-01-17T03:00:00+03:00"
    assert annual["notice_at_local"] == "2027-01-14T03:00:00+03:00"
    # The annual run of 2027 repeats January's monthly steps: January is covered, one run, one notice.
    assert jan["status"] == "covered" and jan["covered_by"] == "annual 2027" and jan["notice_at"] is None
    assert [m["window"]["start_local"] for m in jan["moved_by"]] == [
        "2027-01-03T03:00:00+03:00",
        "2027-01-10T03:00:00+03:00",
    ]
    removed = [w for w in volga["windows"] if w["status"] == "removed"]
    assert len(removed) == 2 and removed[0]["zone"] == "MSK"


def test_table_output_names_zone_blackouts_and_moves():
    result = show("--days", "60", "--at", "2026-11-23T14:00Z")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Sat 2026-11-28 22:00 CST" in out
    assert "月末结账 (month-end close)" in out
    assert "Runs moved or cut by blackouts" in out
    assert "Sun 2027-01-17 03:00 -> 06:00 MSK" in out


def test_done_runs_come_from_the_ledger():
    from opskeeper.ledger import Ledger
    from opskeeper.ledger.core import Run

    ledger = Ledger.open()
    with ledger.session() as s:
        s.add(Run(kind="maintenance", cadence="monthly", customer_id="hanhai", period="2026-11", status="ok",
                  started_at=datetime(2026, 11, 7, 14, tzinfo=UTC)))
        s.add(Run(kind="maintenance", cadence="quarterly", customer_id="hanhai", period="2026-Q4",
                  status="failed", started_at=datetime(2026, 11, 7, 14, tzinfo=UTC)))  # fmt: skip
    ledger.close()
    result = show("--customer", "hanhai", "--at", "2026-11-23T14:00Z", "--json")
    assert result.exit_code == 0, result.output
    runs = {
        (r["cadence"], r["period"]): r["status"] for r in json.loads(result.stdout)["customers"][0]["runs"]
    }
    assert runs[("monthly", "2026-11")] == "done"
    # The failed quarterly waits for a later window, which the annual run (a superset) takes too.
    assert runs[("quarterly", "2026-Q4")] == "covered"
    assert runs[("annual", "2026")] == "planned"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--customer", "nope"], "unknown customer 'nope'; known: hanhai, volga"),
        (["--at", "tomorrow"], "--at: expected an ISO 8601 time"),
        (["--at", "2026-11-23T14:00"], "give a UTC offset"),
    ],
)
def test_bad_input_exits_2(args, message):
    result = show(*args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
