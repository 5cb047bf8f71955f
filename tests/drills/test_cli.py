"""``opskeeper drill`` commands: exit codes (0 pass, 1 fail, 2 refused), JSON output, report formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import common
from cli.drill import app
from opskeeper.config.estate import Estate
from opskeeper.ledger import Ledger
from tests.drills.conftest import ledger_breaking_scenario, variant, write_estate

runner = CliRunner()


@pytest.fixture
def estate_file(backed_up: Estate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_estate(tmp_path / "estate.yaml", runbooks_dir=tmp_path / "runbooks")
    monkeypatch.setattr(common.STATE, "config", path)
    return path


def test_run_list_show_actions(estate_file: Path, tmp_path: Path) -> None:
    variant(tmp_path / "runbooks", "data-corruption", objectives={"rto": "0s"})
    failed = runner.invoke(app, ["run", "data-corruption", "--customer", "hanhai"])
    assert failed.exit_code == 1, failed.output
    assert "RTO exceeded by" in failed.output and "report:" in failed.output
    variant(tmp_path / "runbooks", "data-corruption")
    passed = runner.invoke(app, ["run", "data-corruption", "--customer", "hanhai", "--json"])
    assert passed.exit_code == 0, passed.output
    doc = json.loads(passed.stdout)
    assert doc["drill"]["status"] == "pass" and Path(doc["report"]["html"]).exists()
    listed = json.loads(runner.invoke(app, ["list", "--customer", "hanhai", "--json"]).stdout)
    assert [d["status"] for d in listed] == ["pass", "fail"]
    items = json.loads(runner.invoke(app, ["actions", "--json"]).stdout)
    assert [(i["status"], i["closed_by_drill"]) for i in items] == [("closed", doc["drill"]["id"])]
    assert json.loads(runner.invoke(app, ["actions", "--open", "--json"]).stdout) == []
    md = runner.invoke(app, ["show", str(listed[1]["id"]), "--format", "md"])
    assert md.exit_code == 0 and "| RTO |" in md.stdout
    html = runner.invoke(app, ["show", str(listed[0]["id"]), "--format", "html", "--out", str(tmp_path / "r.html")])
    assert html.exit_code == 0 and "<svg" in (tmp_path / "r.html").read_text()
    js = json.loads(runner.invoke(app, ["show", str(listed[0]["id"]), "--format", "json"]).stdout)
    assert js["evaluation"]["verdict"] == "pass"


def test_refusals_exit_2(estate_file: Path) -> None:
    unknown = runner.invoke(app, ["run", "data-corruption", "--customer", "nobody"])
    assert unknown.exit_code == 2 and "unknown customer 'nobody'" in unknown.output
    missing = runner.invoke(app, ["run", "meteor-strike", "--customer", "hanhai"])
    assert missing.exit_code == 2 and "no drill scenario 'meteor-strike'" in missing.output
    bad_format = runner.invoke(app, ["show", "1", "--format", "pdf"])
    assert bad_format.exit_code == 2


def test_blackout_refused_then_forced(backed_up: Estate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.STATE, "config", write_estate(tmp_path / "e.yaml", blackout_today=True))
    refused = runner.invoke(app, ["run", "data-corruption", "--customer", "hanhai"])
    assert refused.exit_code == 3 and "--force-window" in refused.output
    forced = runner.invoke(app, ["run", "data-corruption", "--customer", "hanhai", "--force-window"])
    assert forced.exit_code == 0, forced.output
    fresh = json.loads(runner.invoke(app, ["freshness", "--json"]).stdout)
    assert {(f["customer"], f["overdue"]) for f in fresh} == {("hanhai", False), ("volga", True)}


def test_a_crashed_drill_exits_1_and_shows_as_error(estate_file: Path, tmp_path: Path) -> None:
    ledger_breaking_scenario(tmp_path / "runbooks", Ledger.open(), tmp_path)
    crashed = runner.invoke(app, ["run", "data-corruption", "--customer", "hanhai"])
    assert crashed.exit_code == 1, crashed.output
    assert "stopped by an unexpected error in recover: LedgerError" in crashed.output
    assert "opskeeper drill show 1" in crashed.output
    listed = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    assert [d["status"] for d in listed] == ["error"]
    md = runner.invoke(app, ["show", "1"])
    assert md.exit_code == 0 and "**ERROR**" in md.stdout and "ERROR (drill crashed)" in md.stdout
    items = json.loads(runner.invoke(app, ["actions", "--open", "--json"]).stdout)
    assert len(items) == 1 and items[0]["title"].startswith("Drill stopped by an unexpected error in recover")
    freshness = json.loads(runner.invoke(app, ["freshness", "--customer", "hanhai", "--json"]).stdout)
    assert {f["scenario"]: f["overdue"] for f in freshness}["data-corruption"] is True
