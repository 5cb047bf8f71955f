"""``opskeeper simulate`` on crafted estates with known answers (simulated time, nothing contacted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from opskeeper.config.loader import load_estate
from opskeeper.simulate import Outage, Simulation, parse_time, run
from opskeeper.simulate_report import report
from tests.conftest import EXAMPLE_ESTATE

runner = CliRunner()


def crafted(tmp_path: Path, *, blackouts: list[dict[str, Any]] | None = None,
            catch_up: dict[str, Any] | None = None) -> Path:  # fmt: skip
    """volga alone: monthly only, Sunday 03:00-06:00 MSK, 72 h notice, the given blackouts and catch-up."""
    data = yaml.safe_load(EXAMPLE_ESTATE.read_text())
    data["runbooks_dir"] = str(EXAMPLE_ESTATE.parent.parent / "runbooks")
    data["customers"] = [c for c in data["customers"] if c["id"] == "volga"]
    data["customers"][0]["blackouts"] = blackouts or []
    data["customers"][0]["systems"][0]["drills"] = []
    data["tiers"]["advanced"]["cadences"] = ["monthly"]
    data["tiers"]["advanced"]["catch_up"] = catch_up or {"policy": "full"}
    path = tmp_path / "estate.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def simulate(path: Path, tmp_path: Path, start: str, end: str, *outages: str, fail_rate: float = 0.0):  # type: ignore[no-untyped-def]
    estate = load_estate(path)
    sim = Simulation(parse_time(start, "f"), parse_time(end, "t"), tuple(Outage.parse(o) for o in outages),
                     fail_rate, seed=7)  # fmt: skip
    work = tmp_path / "sim"
    work.mkdir(exist_ok=True)
    ledger = run(estate, sim, work)
    try:
        [volga] = report(estate, ledger, sim.start, sim.end, list(estate.customers))
    finally:
        ledger.close()
    [monthly] = volga.cadences
    return monthly


def test_a_period_that_loses_its_only_windows_is_one_breach_recorded_once(tmp_path: Path) -> None:
    freeze = {"reason": "March freeze", "start": "2027-03-01", "end": "2027-03-31"}
    r = simulate(crafted(tmp_path, blackouts=[freeze]), tmp_path, "2027-01-01", "2027-05-31")
    assert (r.periods, r.runs, r.ok, r.missed, r.duplicates, r.in_blackout, r.outside_window) == (
        5,
        4,
        4,
        1,
        0,
        0,
        0,
    )
    [breach] = r.breaches
    assert breach["period"] == "2027-03" and "no open maintenance window" in breach["reason"]
    assert "March freeze" in breach["reason"] and r.missed_with_open_window == 0
    assert r.shortest_lead_h is not None and r.shortest_lead_h >= 72


@pytest.mark.parametrize(
    ("catch_up", "outage", "missed", "shortest"),
    [
        (None, "2027-01-01T00:00Z/28d12h", 1, 72.0),  # full notice only: January is lost
        (
            {"policy": "short", "min_lead": "4h"},
            "2027-01-01T00:00Z/28d12h",
            0,
            36.0,
        ),  # Jan 31 told 36 h ahead
        ({"policy": "short", "min_lead": "4h"}, "2027-01-01T00:00Z/29d23h", 1, 72.0),  # 1 h left: too short
        ({"policy": "none"}, "2027-01-01T00:00Z/29d23h", 0, 1.0),  # any notice: told 1 h ahead
    ],
)
def test_outage_and_catch_up_policy(tmp_path: Path, catch_up, outage, missed, shortest) -> None:  # type: ignore[no-untyped-def]
    # The scheduler ticks from 20 December, then is down from New Year until late January; the last
    # January window is Sunday 31 January 03:00 MSK (00:00 UTC).
    r = simulate(crafted(tmp_path, catch_up=catch_up), tmp_path, "2026-12-20", "2027-03-01", outage)
    assert r.missed == missed and r.duplicates == 0
    if missed:
        assert [b["period"] for b in r.breaches] == ["2027-01"]
        assert "could be announced in time" in r.breaches[0]["reason"]
    assert r.shortest_lead_h is not None and r.shortest_lead_h >= shortest
    assert r.catch_up_notices == (0 if missed or catch_up is None else 1)
    if not missed and catch_up:
        assert r.shortest_lead_h < 72 + 1  # the catch-up run was told with the short lead


def test_failed_runs_are_retried_in_later_windows_with_their_own_notice(tmp_path: Path) -> None:
    r = simulate(crafted(tmp_path), tmp_path, "2027-01-01", "2027-03-01", fail_rate=1.0)
    assert r.ok == 0 and r.failed == r.runs > 2  # every window of the period that could be announced
    assert r.shortest_lead_h is not None and r.shortest_lead_h >= 72
    assert "failed in" in r.breaches[0]["reason"]


def cli(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["simulate", *args], env={"COLUMNS": "200"})


def test_cli_json_on_the_example_estate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSKEEPER_CONFIG", str(EXAMPLE_ESTATE))
    result = cli("--from", "2027-01-01", "--to", "2027-07-01", "--customer", "volga", "--json")
    assert result.exit_code == 0, result.output
    [volga] = json.loads(result.stdout)["customers"]
    by = {r["cadence"]: r for r in volga["cadences"]}
    assert by["annual"]["runs"] == 1 and by["monthly"]["covered"] >= 1 and by["quarterly"]["covered"] >= 1
    assert all(r["missed"] == r["duplicates"] == r["in_blackout"] == 0 for r in by.values())
    assert all(r["shortest_lead_h"] >= 72 for r in by.values())
    assert volga["drills"][0]["drills"] >= 1 and volga["drills"][0]["shortest_lead_h"] >= 72


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2027-13-01", "--to", "2028-01-01"], "--from: expected a date"),
        (["--from", "2027-01-01", "--to", "2026-01-01"], "--to must be after --from"),
        (["--from", "2027-01-01", "--to", "2028-01-01", "--outage", "2027-02-01"], "expected START/DURATION"),
        (
            ["--from", "2027-01-01", "--to", "2028-01-01", "--outage", "2027-02-01T00:00Z/soon"],
            "bad duration",
        ),
        (["--from", "2027-01-01", "--to", "2028-01-01", "--customer", "nope"], "unknown customer 'nope'"),
        (["--from", "2027-01-01", "--to", "2028-01-01", "--fail-rate", "2"], "--fail-rate"),
    ],
)
def test_bad_input_exits_2(args: list[str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSKEEPER_CONFIG", str(EXAMPLE_ESTATE))
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
