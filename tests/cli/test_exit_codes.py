"""Exit codes a script can trust (docs/exit-codes.md): 3 when the window, a blackout or a missing approval
refused the work, through the real CLI and the maintenance flow; 0 when it ran, 2 for bad input."""

from __future__ import annotations

import json
import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from opskeeper.clock import SYSTEM
from opskeeper.errors import InputError, OpskeeperError, Refused, WorkFailed
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from tests.test_maintenance import example_estate

ALWAYS = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "duration": "24h"}
FOREVER = [{"reason": "frozen for the audit", "start": "2000-01-01", "end": "2999-12-31"}]

BOOK = """
name: monthly
steps:
  - name: look
    run: echo look >> {out}
  - name: change
    requires_window: true
    run: echo change >> {out}
  - name: risky
    requires_approval: true
    run: echo risky >> {out}
"""


def cli(*args: str) -> Any:
    _rebind_log_streams()
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def _rebind_log_streams() -> None:
    """Log handlers made during an earlier in-process invocation (Prefect's console handler among them) keep
    that invocation's stream, which the runner closed: point them at this test's stderr."""
    loggers = [logging.root, *(v for v in logging.root.manager.loggerDict.values() if isinstance(v, logging.Logger))]
    for handler in (h for lg in loggers for h in lg.handlers):
        if isinstance(handler, logging.StreamHandler) and getattr(handler.stream, "closed", False):
            handler.stream = sys.stderr  # not setStream: it flushes the closed stream first
            if hasattr(handler, "console"):  # Prefect's rich console writes to its own file
                handler.console.file = sys.stderr


def _never_open_now() -> dict[str, object]:
    """A one-hour window three days from now in volga's zone: closed whatever today is."""
    day = (SYSTEM.now().astimezone(ZoneInfo("Europe/Moscow")) + timedelta(days=3)).strftime("%a").lower()
    return {"days": [day], "start": "00:00", "duration": "1h"}


def volga_estate(tmp_path: Path, home: Path, window: dict[str, object], blackouts: list[dict[str, str]]) -> Path:
    """The example estate, volga only, with this window and these blackouts (none of the shipped ones:
    whether they cover today depends on the date)."""
    path = example_estate(tmp_path, home, BOOK.format(out=tmp_path / "done"))
    data = yaml.safe_load(path.read_text())
    data["customers"] = [c for c in data["customers"] if c["id"] == "volga"]
    data["customers"][0].update(maintenance_window=window, blackouts=blackouts)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _done(tmp_path: Path) -> list[str]:
    out = tmp_path / "done"
    return out.read_text().split() if out.exists() else []


def test_the_classes_carry_the_codes() -> None:
    assert (OpskeeperError.exit_code, WorkFailed.exit_code, InputError.exit_code, Refused.exit_code) == (1, 1, 2, 3)


@pytest.mark.flow
def test_closed_window_exits_3_and_runs_nothing(tmp_path: Path, opskeeper_home: Path) -> None:
    config = volga_estate(tmp_path, opskeeper_home, _never_open_now(), [])
    res = cli("-c", str(config), "maintenance", "run", "monthly", "--customer", "volga", "--json")
    assert res.exit_code == 3, res.output
    [run] = json.loads(res.stdout)
    assert run["status"] == "skipped-window"
    assert f"run {run['run_id']} (volga monthly) refused, nothing was run: outside the maintenance window" in res.stderr
    assert _done(tmp_path) == []
    assert [r.status for r in ledger_runs.list_runs(Ledger.open(), kind="maintenance")] == ["skipped-window"]


@pytest.mark.flow
def test_blackout_exits_3_and_runs_nothing(tmp_path: Path, opskeeper_home: Path) -> None:
    config = volga_estate(tmp_path, opskeeper_home, ALWAYS, FOREVER)
    res = cli("-c", str(config), "maintenance", "run", "monthly", "--customer", "volga")
    assert res.exit_code == 3, res.output
    assert "refused, nothing was run: blackout: frozen for the audit" in res.stderr
    assert _done(tmp_path) == []


@pytest.mark.flow
def test_missing_approval_exits_3_then_the_approved_rerun_finishes_with_0(tmp_path: Path, opskeeper_home: Path) -> None:
    config = volga_estate(tmp_path, opskeeper_home, ALWAYS, [])
    res = cli("-c", str(config), "maintenance", "run", "monthly", "--customer", "volga")
    assert res.exit_code == 3, res.output
    assert "held back step(s) (volga-tms-1: risky)" in res.stderr
    assert _done(tmp_path) == ["look", "change"]
    res = cli("-c", str(config), "maintenance", "run", "monthly", "--customer", "volga", "--approve", "alice")
    assert res.exit_code == 0, res.output
    assert _done(tmp_path) == ["look", "change", "risky"]  # resumed: only the step that was held back


@pytest.mark.flow
def test_a_dry_run_refuses_nothing(tmp_path: Path, opskeeper_home: Path) -> None:
    config = volga_estate(tmp_path, opskeeper_home, _never_open_now(), [])
    res = cli("-c", str(config), "maintenance", "run", "monthly", "--customer", "volga", "--dry-run")
    assert res.exit_code == 0, res.output
    assert _done(tmp_path) == []


def test_drill_refused_in_a_blackout_or_without_a_backup_exits_3(tmp_path: Path, opskeeper_home: Path) -> None:
    config = volga_estate(tmp_path, opskeeper_home, ALWAYS, FOREVER)
    res = cli("-c", str(config), "drill", "run", "data-corruption", "--customer", "volga", "--json")
    assert res.exit_code == 3, res.output
    assert "customer volga is in a blackout (frozen for the audit)" in res.stderr
    (tmp_path / "open").mkdir()
    open_now = volga_estate(tmp_path / "open", opskeeper_home, ALWAYS, [])
    no_backup = cli("-c", str(open_now), "drill", "run", "data-corruption", "--customer", "volga")
    assert no_backup.exit_code == 3, no_backup.output  # refused before any fault: nothing to restore from
    assert "no usable backup of data set" in no_backup.stderr
    unknown = cli("-c", str(config), "drill", "run", "data-corruption", "--customer", "nosuch")
    assert unknown.exit_code == 2, unknown.output  # bad input stays 2
