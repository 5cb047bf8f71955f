"""Prefect tasks of the security scan: the artifact and the alerts (hosts run as tasks by tasks.fanout)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from opskeeper.checks.security.alerts import Alert, send_alerts
from opskeeper.checks.security.lifecycle import FindingRef, ScanDiff
from opskeeper.config.estate import Estate
from opskeeper.ledger import Ledger


def _rows(kind: str, refs: list[FindingRef]) -> list[dict[str, str]]:
    return [
        {"change": kind, "severity": f.severity, "host": f.host, "check": f.check_id, "object": f.object,
         "detail": f.detail, "due": f"{f.due_by:%Y-%m-%d}", "finding": str(f.id)}
        for f in refs
    ]  # fmt: skip


@task(name="publish-scan-artifact", cache_policy=NO_CACHE)
def publish_scan_artifact(diffs: list[ScanDiff], run_id: int | None, customer: str | None) -> None:
    """A table of what changed (new, resolved, overdue) in the Prefect UI."""
    rows: list[dict[str, str]] = []
    for d in diffs:
        rows += _rows("new", d.new) + _rows("resolved", d.resolved) + _rows("overdue", d.overdue)
    if not rows:
        rows = [{"change": "none", "severity": "", "host": "", "check": "", "object": "", "detail": "",
                 "due": "", "finding": ""}]  # fmt: skip
    key = f"security-scan-{customer or 'all'}".lower().replace("_", "-").replace(".", "-")
    scores = ", ".join(f"{d.host} {d.score if d.score is not None else '-'}" for d in diffs)
    create_table_artifact(key=key, table=rows, description=f"security scan run {run_id}; scores: {scores}")


@task(name="notify-new-findings", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def notify_task(estate: Estate, diffs: list[ScanDiff]) -> list[Alert]:
    """Tell customers about new critical/high findings (idempotent: a retry sends nothing twice)."""
    return send_alerts(estate, Ledger.open(), diffs)
