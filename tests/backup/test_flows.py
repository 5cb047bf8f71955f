"""The backup flows under the Prefect test harness, against the example estate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.backup import backup, verify_backups
from opskeeper.backup.errors import BackupError
from opskeeper.ledger import Ledger
from opskeeper.ledger.backup import list_snapshots
from opskeeper.ledger.core import Run
from tests.backup.conftest import make_tree
from tests.backup.test_cli import EXAMPLE

pytestmark = pytest.mark.flow


@pytest.fixture
def estate(opskeeper_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPSKEEPER_CONFIG", str(EXAMPLE))
    make_tree(opskeeper_home / "example" / "hanhai" / "erp-data", files=6, big=1)
    return opskeeper_home


def test_backup_flow_records_and_verify_flow_passes(estate: Path) -> None:
    result = backup(system="erp")
    assert len(result["snapshots"]) == 2  # type: ignore[arg-type]
    ledger = Ledger.open()
    with ledger.session() as s:
        assert {r.target for r in list_snapshots(s, system_id="erp")} == {"local", "local-offsite"}
        run = s.get(Run, result["run_id"])
        assert run is not None and run.status == "ok" and run.kind == "backup"
    assert verify_backups(read_pct=100) == {"local": True, "local-offsite": True}


def test_backup_flow_fails_when_the_source_is_gone(estate: Path) -> None:
    shutil.rmtree(estate / "example" / "hanhai" / "erp-data")
    with pytest.raises(BackupError, match="does not exist"):
        backup(system="erp", prune=False)
    ledger = Ledger.open()
    with ledger.session() as s:
        runs = [r for r in s.query(Run).filter(Run.kind == "backup")]
        assert runs and runs[-1].status == "failed"
