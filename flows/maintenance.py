"""Maintenance flow: monthly / quarterly / annual runbooks for each customer, one run per customer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.security_scan import security_scan
from opskeeper.calendar import window_open_at
from opskeeper.clock import SYSTEM
from opskeeper.config.estate import Customer, Estate
from opskeeper.config.loader import load_estate
from opskeeper.config.runbook import RunbookSet, load_runbooks
from opskeeper.config.types import Cadence
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import RunStatus
from opskeeper.maintenance import (
    HostJob,
    HostResult,
    HostRunner,
    MaintenanceResult,
    Trigger,
    host_runner,
    run_customer,
)
from opskeeper.paths import config_path
from tasks.fanout import as_tasks, task_runner
from tasks.maintenance import publish_run_report
from tasks.notify_maintenance import notify_result, notify_started


def _prefect_runner(
    estate: Estate, runbooks: RunbookSet, ledger: Ledger, customer: Customer, cadence: Cadence, notify: bool
) -> HostRunner:
    """Each host a task run (tasks.fanout); the customer is told the work started once the run exists."""
    hosts = host_runner(as_tasks, estate, runbooks, ledger)

    def run(jobs: Sequence[HostJob]) -> list[HostResult]:
        if notify and jobs:
            window = window_open_at(customer, SYSTEM.now())
            notify_started(estate, customer.id, cadence.value, jobs[0].run_id, window.end if window else None)
        return hosts(jobs)

    return run


@flow(name="maintenance", task_runner=task_runner(32), log_prints=True)  # type: ignore[arg-type]
def maintenance(
    cadence: Cadence,
    customer: str | None = None,
    dry_run: bool = False,
    force_window: bool = False,
    triggered_by: str | None = None,
    trigger: str = "manual",
    config: str | None = None,
    approved_by: str | None = None,
    again: bool = False,
) -> list[dict[str, object]]:
    """Run the cadence's runbook on every host of each customer (or one), honouring windows and blackouts.

    A re-run in the same period (the tick's catch-up too) resumes: steps done earlier are not repeated;
    ``again`` repeats everything.
    """
    log = get_run_logger()
    estate = load_estate(config_path(config))
    runbooks = load_runbooks(estate.runbooks_dir)
    ledger = Ledger.open()
    for run_id in ledger_runs.reap_abandoned(ledger, SYSTEM.now()):
        log.warning("run %s was abandoned by a dead process; closed, its work is due again", run_id)
    customers = [estate.customer(customer)] if customer else estate.customers
    results = []
    for c in customers:
        if cadence not in estate.tier_of(c).cadences:
            log.info("%s: tier %s has no %s maintenance", c.id, c.tier, cadence.value)
            continue
        who = Trigger(trigger, triggered_by, str(flow_run.id) if flow_run.id else None)
        started_at = SYSTEM.now()
        res = run_customer(
            estate, runbooks, ledger, c, cadence, runner=_prefect_runner(estate, runbooks, ledger, c, cadence, not dry_run),
            dry_run=dry_run, force_window=force_window, trigger=who, approved_by=approved_by, again=again,
        )  # fmt: skip
        log.info("%s %s: %s %s", c.id, cadence.value, res.status, res.reason)
        # The run is on record in the ledger; what follows must not be lost with the Prefect server. The
        # artifacts are for the UI only: a server that stopped answering costs them, nothing else.
        try:
            publish_run_report(res.run_id, c.timezone)
        except Exception as e:  # noqa: BLE001
            log.warning("%s: run %s: report not published to Prefect: %s: %s", c.id, res.run_id, type(e).__name__, e)
        # A run that found every step done earlier in the period did nothing: nothing to tell or scan again.
        if not dry_run and not res.nothing_left and res.status in (RunStatus.OK, RunStatus.FAILED, RunStatus.PARTIAL):
            # Neither may cost the next customer its maintenance: the run is on record either way, an
            # undelivered message is retried by escalation, and the weekly scan catches up a failed one.
            _tell_result(log, estate, res, started_at)
            try:
                # The contract's monthly check includes the security scan (its findings have their own lifecycle).
                security_scan(customer=c.id, config=config, trigger="maintenance")
            except Exception as e:  # noqa: BLE001
                log.warning("%s: after maintenance run %s: %s: %s", c.id, res.run_id, type(e).__name__, e)
        results.append({"run_id": res.run_id, **res.summary()})
    return results


def _tell_result(log: Any, estate: Estate, res: MaintenanceResult, started_at: datetime) -> None:
    """The customer's "completed"/"failed" message, as a Prefect task; if the task cannot even be created (the
    Prefect server stopped answering), the same function directly: the message is owed whether Prefect answers
    or not, and it is idempotent per run (the outbox holds one row per run and recipient)."""
    try:
        notify_result(estate, res, started_at)
        return
    except Exception as e:  # noqa: BLE001
        log.warning("run %s: the result message as a task failed (%s: %s); sending it directly", res.run_id,
                    type(e).__name__, e)
    try:
        notify_result.fn(estate, res, started_at)
    except Exception as e:  # noqa: BLE001
        log.warning("run %s: the result message: %s: %s", res.run_id, type(e).__name__, e)
