"""The report and the pack over records written by the real maintenance and backup code (example estate)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from opskeeper.backup.ops import backup_system
from opskeeper.backup.record import record_backup_run
from opskeeper.clock import SYSTEM
from opskeeper.reports import evidence, monthly
from tests.test_maintenance import VOLGA_OPEN, Env, example_estate


def test_report_of_a_real_monthly_run_and_backup(tmp_path: Path, opskeeper_home: Path) -> None:
    env = Env(example_estate(tmp_path, opskeeper_home))
    res = env.run("volga", VOLGA_OPEN)  # Sunday 04:00 MSK: inside volga's window
    customer = env.estate.customer("volga")
    started = SYSTEM.now()
    outcomes = backup_system(env.estate, customer, customer.system("tms"))
    record_backup_run(env.ledger, "volga", "tms", outcomes, started_at=started)

    nov = monthly.build(env.estate, env.ledger, "volga", "2026-11")
    assert [r.id for r in nov.runs] == [res.run_id]
    metrics = {h.metric for h in nov.health if h.samples}
    assert metrics == {"disk", "memory", "load"}, nov.health
    text = monthly.render(nov, "md")
    assert "volga-tms-1" in text and "localhost" not in text  # the host by name, never its address

    month = monthly.month_of(started, customer.timezone)
    (backup,) = monthly.build(env.estate, env.ledger, "volga", month).backups
    assert (backup.system, backup.dataset, backup.snapshots) == ("tms", "tms-data", 1)

    pack = evidence.build_pack(env.estate, env.ledger, "volga", tmp_path / "volga.zip")
    assert pack.chain_ok and evidence.verify_pack(pack.path) == []
    with zipfile.ZipFile(pack.path) as zf:
        assert "reports/monthly-2026-11.html" in zf.namelist()
