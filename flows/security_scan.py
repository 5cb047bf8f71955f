"""Security scan flow: gather facts on every host, judge them, record findings, publish, notify."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from opskeeper.checks.security.service import run_scan
from opskeeper.config.loader import load_estate
from opskeeper.ledger import Ledger
from opskeeper.paths import config_path
from opskeeper.trigger import Trigger
from tasks.fanout import as_tasks, task_runner
from tasks.security import notify_task, publish_scan_artifact


@flow(name="security-scan", task_runner=task_runner(16), log_prints=True)  # type: ignore[arg-type]
def security_scan(
    customer: str | None = None,
    config: str | None = None,
    trigger: str = "manual",
    notify: bool = True,
) -> dict[str, object]:
    """Scan every host of the estate (or of one customer) and drive the findings' lifecycle."""
    log = get_run_logger()
    estate = load_estate(config_path(config))
    who = Trigger(trigger, flow_run_id=str(flow_run.id) if flow_run.id else None)
    report = run_scan(estate, Ledger.open(), customer, runner=as_tasks, trigger=who)
    for diff in report.diffs:
        log.info("%s: score %s, %s", diff.host, diff.score, diff.counts())
    publish_scan_artifact(report.diffs, report.run_id, customer)
    alerts = notify_task(estate, report.diffs) if notify else []
    return {
        "run_id": report.run_id,
        "status": report.status.value,
        "hosts": {d.host: {"score": d.score, "status": d.status.value, **d.counts()} for d in report.diffs},
        "alerts": len(alerts),
    }
