"""Security scan flow: gather facts on every host, judge them, record findings, publish, notify."""

from __future__ import annotations

from prefect import flow, get_run_logger, unmapped
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from opskeeper.checks.security.service import ScanReport, finish_run, host_jobs, start_run
from opskeeper.config.loader import load_estate
from opskeeper.ledger import Ledger
from opskeeper.paths import config_path
from tasks.security import notify_task, publish_scan_artifact, record_scan_task, scan_host_task


@flow(name="security-scan", task_runner=ThreadPoolTaskRunner(max_workers=16), log_prints=True)  # type: ignore[arg-type]
def security_scan(
    customer: str | None = None,
    config: str | None = None,
    trigger: str = "manual",
    notify: bool = True,
) -> dict[str, object]:
    """Scan every host of the estate (or of one customer) and drive the findings' lifecycle."""
    log = get_run_logger()
    estate = load_estate(config_path(config))
    ledger = Ledger.open()
    jobs = host_jobs(estate, customer)
    report = ScanReport(start_run(ledger, customer, trigger, str(flow_run.id) if flow_run.id else None))
    try:
        # unmapped: the estate is one argument for every host, not an iterable to map over
        scans = [f.result() for f in scan_host_task.map(jobs, estate=unmapped(estate))]
        # recorded one host after the other: SQLite has one writer, and the order keeps the audit chain tidy
        for job, scan in zip(jobs, scans, strict=True):
            diff = record_scan_task(job, scan, report.run_id)
            report.diffs.append(diff)
            log.info("%s: score %s, %s", diff.host, diff.score, diff.counts())
    except BaseException as e:
        report.error = f"{type(e).__name__}: {e}"
        raise
    finally:
        finish_run(ledger, report)
    publish_scan_artifact(report.diffs, report.run_id, customer)
    alerts = notify_task(estate, report.diffs) if notify else []
    return {
        "run_id": report.run_id,
        "status": report.status.value,
        "hosts": {d.host: {"score": d.score, "status": d.status.value, **d.counts()} for d in report.diffs},
        "alerts": len(alerts),
    }
