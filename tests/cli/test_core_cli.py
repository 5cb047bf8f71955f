"""Core CLI: runs list/show (JSON), schema, audit list, maintenance input errors and exit codes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from opskeeper.clock import SYSTEM
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import RunStatus, StepStatus
from opskeeper.paths import EXAMPLE_ESTATE
from opskeeper.runbook.engine import StepRecord
from tests.test_maintenance import example_estate

runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture
def two_runs(opskeeper_home: Path) -> tuple[int, int]:
    led = Ledger.open()
    ok = ledger_runs.start_run(led, ledger_runs.NewRun("maintenance", "volga", "monthly", period="2026-11"))
    t = SYSTEM.now()
    for name, status, code in (("health", StepStatus.OK, None), ("clean-temp", StepStatus.FAILED, 1)):
        ledger_runs.add_step(led, ok, StepRecord("monthly", name, "volga-tms-1", t, t + timedelta(seconds=1.5),
                                                 status, 1, code, f"{name} output | with a pipe"))  # fmt: skip
    ledger_runs.finish_run(led, ok, RunStatus.FAILED, "1 step failed", {"hosts": 1})
    skipped = ledger_runs.record_skipped(led, ledger_runs.NewRun("maintenance", "hanhai", "monthly"),
                                         RunStatus.SKIPPED_BLACKOUT, "blackout: 月末结账 (month-end close)")  # fmt: skip
    led.close()
    return ok, skipped


def test_runs_list_json(two_runs: tuple[int, int]) -> None:
    res = cli("runs", "list", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [(r["id"], r["customer"], r["status"]) for r in data] == [
        (two_runs[1], "hanhai", "skipped-blackout"), (two_runs[0], "volga", "failed")]  # fmt: skip
    assert data[0]["reason"] == "blackout: 月末结账 (month-end close)"
    assert data[1]["started_at"].endswith("+00:00") and "steps" not in data[1]
    only = json.loads(cli("runs", "list", "--json", "--customer", "volga").stdout)
    assert [r["id"] for r in only] == [two_runs[0]]


def test_runs_list_json_on_an_empty_ledger(opskeeper_home: Path) -> None:
    res = cli("runs", "list", "--json")
    assert (res.exit_code, json.loads(res.stdout)) == (0, [])


def test_runs_show_json_and_markdown(two_runs: tuple[int, int]) -> None:
    res = cli("runs", "show", str(two_runs[0]), "--json")
    assert res.exit_code == 0, res.output
    run = json.loads(res.stdout)
    assert (run["status"], run["summary"], run["period"]) == ("failed", {"hosts": 1}, "2026-11")
    assert [(s["step"], s["status"], s["exit_code"], s["duration_s"]) for s in run["steps"]] == [
        ("health", "ok", None, 1.5), ("clean-temp", "failed", 1, 1.5)]  # fmt: skip
    shown = cli("-c", str(EXAMPLE_ESTATE), "runs", "show", str(two_runs[0]))
    assert shown.exit_code == 0, shown.output
    assert f"Maintenance run {two_runs[0]}: monthly volga" in shown.stdout
    assert "MSK" in shown.stdout  # times in the customer's zone


def test_runs_show_unknown_id_is_bad_input(opskeeper_home: Path) -> None:
    res = cli("runs", "show", "999", "--json")
    assert (res.exit_code, res.stderr.strip()) == (2, "error: no run 999 in the ledger")


def test_audit_list_json(two_runs: tuple[int, int]) -> None:
    data = json.loads(cli("audit", "list", "--json").stdout)
    assert [(e["action"], e["subject"]) for e in data] == [
        ("run.finished", f"run/{two_runs[1]}"), ("run.finished", f"run/{two_runs[0]}")]  # fmt: skip


def test_schema_is_a_json_schema_the_example_estate_satisfies() -> None:
    res = cli("schema")
    assert res.exit_code == 0
    schema = json.loads(res.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert {"provider", "tiers", "customers"} <= set(schema["required"])
    # What an editor sees: the YAML as plain JSON values (dates as strings).
    estate = json.loads(json.dumps(yaml.safe_load(EXAMPLE_ESTATE.read_text()), default=str))
    jsonschema.validate(estate, schema)
    estate["customers"][0]["systems"][0]["backup"]["passphrase"] = "vault:demo"  # not a reference form
    with pytest.raises(jsonschema.ValidationError, match="vault:demo"):
        jsonschema.validate(estate, schema)
    estate["customers"][0]["systems"][0]["backup"]["passphrase"] = {"ref": "env:X"}  # the long form
    jsonschema.validate(estate, schema)
    estate["customers"][0]["tier_typo"] = "standard"
    with pytest.raises(jsonschema.ValidationError, match="tier_typo"):
        jsonschema.validate(estate, schema)


def test_maintenance_for_an_unknown_customer_is_bad_input(opskeeper_home: Path) -> None:
    res = cli("-c", str(EXAMPLE_ESTATE), "maintenance", "run", "monthly", "--customer", "nosuch")
    assert res.exit_code == 2
    assert res.stderr.strip() == "error: no customer 'nosuch' in the estate; known: hanhai, volga"
    assert not (opskeeper_home / "ledger.sqlite").exists()


def test_maintenance_unknown_cadence_is_a_usage_error() -> None:
    res = cli("-c", str(EXAMPLE_ESTATE), "maintenance", "run", "weekly")
    assert res.exit_code == 2 and "weekly" in res.stderr


@pytest.mark.flow
def test_failing_maintenance_exits_1_and_says_what_failed(tmp_path: Path, opskeeper_home: Path) -> None:
    book = "name: monthly\nsteps:\n  - {name: fine, run: 'true'}\n  - {name: broken-step, run: 'exit 5'}\n"
    config = example_estate(tmp_path, opskeeper_home, book)
    res = cli("-c", str(config), "maintenance", "run", "monthly", "--customer", "volga", "--force-window")
    assert res.exit_code == 1, res.output
    assert "Maintenance summary" in res.stdout
    row = next(line for line in res.stdout.splitlines() if "volga-tms-1" in line)
    assert "failed" in row and "broken-step" in row
    runs = json.loads(cli("runs", "list", "--json", "--kind", "maintenance").stdout)
    assert [(r["customer"], r["status"], r["force_window"]) for r in runs] == [("volga", "failed", True)]


def test_tables_show_data_verbatim_not_as_markup(opskeeper_home: Path) -> None:
    led = Ledger.open()
    ledger_runs.record_skipped(led, ledger_runs.NewRun("maintenance", "volga", "monthly"),
                               RunStatus.SKIPPED_WINDOW, "window [bold]closed[/bold] [a-z]")  # fmt: skip
    led.close()
    res = cli("runs", "list")
    assert res.exit_code == 0 and "window [bold]closed[/bold] [a-z]" in res.stdout


def test_maintenance_outside_the_customers_tier_is_bad_input(tmp_path: Path, opskeeper_home: Path) -> None:
    text = EXAMPLE_ESTATE.read_text().replace(
        "runbooks_dir: ../runbooks", f"runbooks_dir: {EXAMPLE_ESTATE.parent.parent / 'runbooks'}"
    )
    text = text.replace(
        "    cadences: [monthly, quarterly, annual]\n    drill_every: 26w",
        "    cadences: [monthly]\n    drill_every: 26w",
    )  # the standard tier: hanhai
    path = tmp_path / "estate.yaml"
    path.write_text(text)
    res = cli("-c", str(path), "maintenance", "run", "annual", "--customer", "hanhai")
    assert (res.exit_code, res.stderr.strip()) == (
        2,
        "error: customer hanhai: tier 'standard' does not include annual maintenance",
    )
    assert not (opskeeper_home / "ledger.sqlite").exists()
