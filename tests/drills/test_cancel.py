"""A drill process stopped with SIGTERM mid-recovery still runs its cleanup and records the cancellation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from opskeeper.config.estate import Estate
from opskeeper.ledger import Ledger
from opskeeper.ledger.drills import Drill, DrillStatus
from tests.drills.conftest import REPO, variant, write_estate

SCRIPT = """
import sys
from opskeeper.config.loader import load_estate
from opskeeper.drills.context import DrillRequest
from opskeeper.drills.drive import run_drill
run_drill(load_estate(sys.argv[1]), DrillRequest("data-corruption", "hanhai"))
"""


def test_sigterm_mid_recovery_runs_cleanup(backed_up: Estate, tmp_path: Path) -> None:
    marker = tmp_path / "cleaned"
    runbooks = tmp_path / "runbooks"
    variant(runbooks, "data-corruption", recovery=[{"name": "slow restore", "run": "sleep 60"}],
            cleanup=[{"name": "undo", "run": f"touch {marker}"}])
    estate_file = write_estate(tmp_path / "estate.yaml", runbooks_dir=runbooks)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(estate_file)], cwd=REPO, env=dict(os.environ))
    ledger = Ledger.open()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with ledger.session() as s:
                d = s.query(Drill).first()
                if d and "recovery_started" in [e.kind for e in d.events]:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("the drill never reached its recovery")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) != 0
    finally:
        proc.kill()
    assert marker.exists()
    with ledger.session() as s:
        (d,) = s.query(Drill).all()
        assert d.status == DrillStatus.CANCELLED
        kinds = [e.kind for e in d.events]
        assert "cleanup_done" in kinds and "service_restored" not in kinds


def test_sigterm_mid_cleanup_finishes_the_cleanup_and_records_the_drill(backed_up: Estate, tmp_path: Path) -> None:
    """Stopped during its cleanup, a drill does not stay 'running' half cleaned: the cleanup runs again."""
    marker, once = tmp_path / "cleaned", tmp_path / "interrupted-once"
    runbooks = tmp_path / "runbooks"
    variant(runbooks, "data-corruption",
            cleanup=[{"name": "slow the first time", "run": f"test -e {once} || {{ touch {once}; sleep 60; }}"},
                     {"name": "undo", "run": f"touch {marker}"}])  # fmt: skip
    estate_file = write_estate(tmp_path / "estate.yaml", runbooks_dir=runbooks)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(estate_file)], cwd=REPO, env=dict(os.environ))
    ledger = Ledger.open()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not once.exists():
            time.sleep(0.1)
        assert once.exists(), "the drill never reached its cleanup"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) != 0
    finally:
        proc.kill()
    assert marker.exists()  # the whole cleanup ran, the second time
    with ledger.session() as s:
        (d,) = s.query(Drill).all()
        assert d.status == DrillStatus.CANCELLED
        assert "cleanup_done" in [e.kind for e in d.events]
