"""backup-target-lost: the primary target disappears mid-drill; a restore from the secondary proves the plan,
and a system without a secondary gets the gap as a finding. Real repositories, a real missing directory."""

from __future__ import annotations

from pathlib import Path

from opskeeper.config.estate import Estate
from opskeeper.drills.context import DrillRequest
from opskeeper.drills.drive import run_drill
from opskeeper.ledger import Ledger
from opskeeper.ledger.drills import DrillStatus, list_items
from tests.drills.conftest import backup_system, breakdown


def test_restore_from_the_secondary_target(backed_up: Estate, ledger: Ledger) -> None:
    backed_up.customer("hanhai").systems[0].drills.append("backup-target-lost")
    local = Path(backed_up.backup_targets["local"].path)  # type: ignore[union-attr]
    result = run_drill(backed_up, DrillRequest("backup-target-lost", "hanhai"), ledger=ledger)
    ev = result.evaluation
    assert result.status is DrillStatus.PASS, (ev.findings, ev.checks)
    restore = [e.detail for e in result.timeline.steps() if "recovery/" in e.detail]
    assert restore and ev.rpo.measured is not None
    assert (local / "config").exists()  # cleanup gave the target back
    assert not Path(str(local) + ".drill-lost").exists()
    print("\n" + breakdown(result))


def test_no_secondary_target_is_a_finding(example_estate: Estate, ledger: Ledger) -> None:
    backup_system(example_estate, "volga")
    example_estate.customer("volga").systems[0].drills.append("backup-target-lost")
    result = run_drill(example_estate, DrillRequest("backup-target-lost", "volga"), ledger=ledger)
    assert result.status is DrillStatus.FAIL
    assert "no-secondary-target" in {f.fingerprint for f in result.evaluation.findings}
    with ledger.session() as s:
        titles = [i.title for i in list_items(s, customer="volga", only_open=True)]
    assert any("secondary target" in t for t in titles)
    assert (Path(example_estate.backup_targets["local"].path) / "config").exists()  # type: ignore[union-attr]
