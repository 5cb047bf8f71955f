"""The escalation flow, run by the tick: deliver what is owed, escalate, record breaches."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from opskeeper.clock import SYSTEM
from opskeeper.config.loader import load_estate
from opskeeper.paths import config_path
from tasks.notify import deliver_pending, escalate_unacknowledged


@flow(name="escalation", log_prints=False)
def escalation(
    config: str | None = None, ledger_url: str | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Retry undelivered messages, then escalate unacknowledged ones per the emergency plan."""
    estate = load_estate(config_path(config))
    now = now or SYSTEM.now()
    delivered = deliver_pending(estate, ledger_url, now)
    report = escalate_unacknowledged(estate, ledger_url, now)
    summary = {
        "retried": len(delivered),
        "delivered": sum(r.status == "sent" for r in delivered),
        "escalated": len(report.escalated),
        "breached": len(report.breached),
        "reminded": len(report.reminders),
        "nobody_told": len(report.nobody_told),
    }
    logger = get_run_logger()
    logger.info("escalation: %s", summary)
    for unreached in report.nobody_told:  # an escalation level with no one to tell: a person must act
        logger.error(unreached.line())
    if report.escalated or report.breached or report.nobody_told:
        lines = ["| customer | event | to | level |", "|---|---|---|---|"]
        lines += [f"| {r.customer_id} | {r.event} | {r.contact_name} | {r.level} |" for r in report.escalated]
        lines += [f"\nResponse deadline breached: {r.customer_id} {r.event} #{r.id}" for r in report.breached]
        lines += [f"\n**{u.line()}**" for u in report.nobody_told]
        create_markdown_artifact("\n".join(lines), key="escalation", description="Escalations this tick")
    return summary
