"""The drill part of the demo: a data-corruption drill on the example estate, verdict and report path.

``python -m demos.drill`` (``make demo-drill``): backs the example data up when it has no
snapshot yet, corrupts two files of hanhai's ERP data, restores them from the backup, and prints
the evaluation. The demo forces the window (recorded in the audit trail) so it runs on any date.
"""

from __future__ import annotations

import os
import sys

from opskeeper.backup import ops
from opskeeper.config.loader import load_estate
from opskeeper.drills import notices
from opskeeper.drills.backups import SystemBackups
from opskeeper.drills.context import DrillRequest
from opskeeper.drills.drive import run_drill
from opskeeper.drills.errors import ActionFailed
from opskeeper.drills.runner import DrillResult, Hooks
from opskeeper.errors import OpskeeperError
from opskeeper.ledger import Ledger
from opskeeper.paths import EXAMPLE_ESTATE, config_path
from opskeeper.reports import drill as report

SCENARIO, CUSTOMER = "data-corruption", "hanhai"


def ensure_backup(estate_path: str) -> None:
    estate = load_estate(estate_path)
    customer = estate.customer(CUSTOMER)
    for system in customer.systems:
        if SCENARIO not in system.drills or not system.datasets:
            continue
        backups = SystemBackups(estate, system)
        try:
            backups.newest(system.datasets[0])
        except ActionFailed:
            for outcome in ops.backup_system(estate, customer, system):
                print(f"  backup {outcome.dataset} -> {outcome.target}: {outcome.error or 'ok'}")
        finally:
            backups.close()


def run(estate_path: str | None = None) -> DrillResult:
    path = str(estate_path or config_path(None) or EXAMPLE_ESTATE)
    ensure_backup(path)
    estate = load_estate(path)
    ledger = Ledger.open()
    hooks = Hooks(notice=notices.send, incident=notices.incident, progress=lambda t: print(f"  {t}"))
    result = run_drill(estate, DrillRequest(SCENARIO, CUSTOMER, force_window=True, triggered_by="demo"),
                       ledger=ledger, hooks=hooks)  # fmt: skip
    result.report_paths = {k: str(v) for k, v in report.write(ledger, result.drill_id).items()}
    ev = result.evaluation
    print(f"\ndrill #{result.drill_id} {SCENARIO} on {CUSTOMER}: {result.status.value.upper()}"
          + (f", score {ev.score}/100" if ev else ""))  # fmt: skip
    if ev:
        for o in (ev.rto, ev.rpo):
            print(f"  {o.describe()}")
        for f in ev.findings:
            print(f"  finding ({f.severity.value}): {f.title}")
    print(f"  report: {result.report_paths['html']}")
    return result


def main() -> None:
    os.environ.setdefault("OPSKEEPER_DEMO_PASSPHRASE", "demo passphrase - set your own in production")
    try:
        result = run(sys.argv[1] if len(sys.argv) > 1 else None)
    except OpskeeperError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(e.exit_code) from e
    raise SystemExit(0 if result.passed else 1)


if __name__ == "__main__":
    main()
