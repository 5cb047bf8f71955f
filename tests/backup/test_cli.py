"""The ``backup`` CLI group against the example estate (dir targets under $OPSKEEPER_HOME)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.backup import app
from cli.common import load
from opskeeper.backup.record import due_backups
from opskeeper.clock import SYSTEM
from opskeeper.ledger import Ledger
from opskeeper.ledger.backup import list_snapshots
from tests.backup.conftest import assert_same_tree, make_tree

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "opskeeper.yaml"


@pytest.fixture
def estate_data(opskeeper_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPSKEEPER_CONFIG", str(EXAMPLE))
    make_tree(opskeeper_home / "example" / "hanhai" / "erp-data", files=8, big=1)
    make_tree(opskeeper_home / "example" / "volga" / "tms-data", files=5, big=0, seed=4)
    return opskeeper_home


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def test_run_list_verify_restore_prune(estate_data: Path, tmp_path: Path) -> None:
    code, out = invoke("run", "--json")
    assert code == 0, out
    outcomes = json.loads(out)
    assert {(o["system"], o["target"]) for o in outcomes} == {("erp", "local"), ("erp", "local-offsite"),
                                                              ("tms", "local")}
    code, out = invoke("list", "--system", "erp", "--json")
    assert code == 0
    listed = json.loads(out)
    assert len(listed) == 2 and all(s["system"] == "erp" for s in listed)
    ledger = Ledger.open()
    with ledger.session() as s:
        assert len(list_snapshots(s)) == 3
    code, out = invoke("verify", "--read-data", "100", "--json")
    assert code == 0 and all(r["ok"] for r in json.loads(out))
    code, out = invoke("restore", listed[0]["id"][:10], "--to", str(tmp_path / "r"), "--target", "local")
    assert code == 0, out
    src = estate_data / "example" / "hanhai" / "erp-data"
    assert_same_tree(src, tmp_path / "r" / str(src).lstrip("/"))
    code, out = invoke("restore", "latest", "--system", "tms", "--to", str(tmp_path / "t"))
    assert code == 0, out
    tms = estate_data / "example" / "volga" / "tms-data"
    assert_same_tree(tms, tmp_path / "t" / str(tms).lstrip("/"))
    code, out = invoke("prune", "--dry-run", "--json")
    assert code == 0 and all(r["forgotten"] == [] for r in json.loads(out))


def test_restore_of_unknown_snapshot_is_an_error(estate_data: Path, tmp_path: Path) -> None:
    assert invoke("run")[0] == 0
    code, _ = invoke("restore", "ffffffffffff", "--to", str(tmp_path / "x"))
    assert code == 2


def test_unknown_system_is_bad_input(estate_data: Path) -> None:
    assert invoke("run", "--system", "nope")[0] == 2


def test_wrong_passphrase_exit_code(estate_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke("run", "--system", "tms")[0] == 0
    monkeypatch.setenv("OPSKEEPER_DEMO_PASSPHRASE", "not it")
    code, _ = invoke("list", "--system", "tms")
    assert code == 2
    code, out = invoke("run", "--system", "tms", "--json")
    assert code == 1 and "WrongPassphrase" in out


def test_due_backups_follow_the_ledger_mirror(estate_data: Path) -> None:
    estate = load()
    ledger = Ledger.open()
    assert sorted(due_backups(estate, ledger)) == ["erp", "tms"]
    assert invoke("run", "--system", "erp")[0] == 0
    assert due_backups(estate, ledger) == ["tms"]
    assert sorted(due_backups(estate, ledger, SYSTEM.now() + timedelta(days=1, minutes=1))) == ["erp", "tms"]
