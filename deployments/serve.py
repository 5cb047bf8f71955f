"""All deployments with their schedules in one process: ``opskeeper serve`` (or ``python deployments/serve.py``).

Schedules carry slugs so a redeploy updates them instead of duplicating or resurrecting
runs, and stay active when this process stops (``pause_on_shutdown=False``): the tick
catches up on what a downtime missed, so a restart must not silently disable it.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from typing import Any

from prefect import Flow, serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Interval

from flows.backup import backup, verify_backups
from flows.dr_drill import dr_drill
from flows.escalation import escalation
from flows.maintenance import maintenance
from flows.security_scan import security_scan
from flows.tick import tick
from opskeeper.config.loader import load_estate
from opskeeper.ledger import Ledger
from opskeeper.notify.ackserver import start_ack_server_for
from opskeeper.paths import config_path

TICK_EVERY = timedelta(minutes=5)


# (flow, deployment name, description, tag); the tick has its schedule, the others start on demand or by the tick.
ON_DEMAND: list[tuple[Flow[..., Any], str, str, str]] = [
    (maintenance, "maintenance", "Monthly / quarterly / annual maintenance, on demand or started by the tick.",
     "maintenance"),
    (escalation, "escalation", "Retry undelivered messages and escalate unacknowledged ones (the tick runs it too).",
     "notify"),
    (dr_drill, "dr-drill", "A disaster-recovery drill evaluated against the customer's RTO/RPO; start it here.",
     "drill"),
    (backup, "backup", "Back up one system's data sets to its targets, then prune; started by the tick.", "backup"),
    (security_scan, "security-scan", "Hardening checks over SSH with a finding lifecycle; weekly through the tick.",
     "security"),
]  # fmt: skip


def deployments(config: str | None = None) -> list[RunnerDeployment]:
    params = {"config": config} if config else {}
    found = [
        tick.to_deployment(
            name="tick",
            schedules=[Interval(TICK_EVERY, slug="tick-every-5-minutes")],
            parameters=params,
            concurrency_limit=1,  # a slow tick never overlaps the next
            description="Starts what is due now, sends notices that fell due, records missed periods.",
            tags=["opskeeper", "scheduler"],
        ),
        verify_backups.to_deployment(
            name="verify-backups",
            schedules=[Interval(timedelta(days=1), slug="verify-backups-daily")],
            parameters=params,
            description="Structure check of every repository, reading a rotating share of packs.",
            tags=["opskeeper", "backup"],
        ),
        *(
            fl.to_deployment(name=name, parameters=params, description=text, tags=["opskeeper", tag])
            for fl, name, text, tag in ON_DEMAND
        ),
    ]
    # to_deployment is async-dispatched; called here from sync code it returns the deployment itself.
    return [d for d in found if isinstance(d, RunnerDeployment)]


def main(config: str | None = None, limit: int | None = None) -> None:
    """Serve the deployments and the acknowledgement link endpoint until interrupted."""
    config = config or os.environ.get("OPSKEEPER_CONFIG")
    ack = start_ack_server_for(load_estate(config_path(config)), Ledger.open())
    try:
        serve(*deployments(config), pause_on_shutdown=False, limit=limit)
    finally:
        ack.stop()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None, int(sys.argv[2]) if len(sys.argv) > 2 else None)
