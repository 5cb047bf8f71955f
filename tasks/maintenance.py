"""Prefect tasks of maintenance: one host's runbook, artifacts. Thin wrappers over opskeeper.maintenance."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency

from opskeeper.config.estate import Estate
from opskeeper.config.runbook import RunbookSet
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.maintenance import HostJob, HostResult, run_host
from opskeeper.reports.runs import run_markdown, run_table_rows
from tasks.limits import ensure_host_limits

# The slot's lease is renewed while its holder lives; a Prefect server repossesses it this long after a
# kill -9. An ephemeral server (the CLI without PREFECT_API_URL) forgets leases when its process dies,
# so a slot a killed run held stays taken in its database: the ledger decides when it is leaked.
HOST_SLOT_LEASE_S = 60.0  # the least Prefect accepts
HOST_SLOT_WAIT_S = 10.0


@task(name="maintain-host", task_run_name="{job.runbook}-{job.host_name}", cache_policy=NO_CACHE)
def maintain_host(estate: Estate, runbooks: RunbookSet, job: HostJob) -> HostResult:
    """Run the cadence's runbook on one host, holding that host's concurrency slot."""
    ensure_host_limits([job.host_name])
    ledger = Ledger.open()
    with host_slot(ledger, job):
        return run_host(estate, runbooks, ledger, job)


@contextmanager
def host_slot(ledger: Ledger, job: HostJob) -> Iterator[None]:
    """Hold ``host:<name>``; wait while live work holds it, free it when only a dead process did."""
    name = f"host:{job.host_name}"
    with ExitStack() as stack:
        while True:
            try:
                stack.enter_context(concurrency(name, occupy=1, strict=True, timeout_seconds=HOST_SLOT_WAIT_S,
                                                lease_duration=HOST_SLOT_LEASE_S))  # fmt: skip
                break
            except TimeoutError:  # AcquireConcurrencySlotTimeoutError: not free within HOST_SLOT_WAIT_S
                if ledger_runs.live_holders(ledger, job.customer_id, job.run_id):
                    continue  # another run or a drill really is on this host: wait on
                release_leaked_slot(ledger, name, job.run_id)
        yield


def release_leaked_slot(ledger: Ledger, name: str, run_id: int) -> None:
    """Free a slot that no living run or drill holds (its holder was killed; its lease was forgotten)."""
    with get_client(sync_client=True) as client:
        client.release_concurrency_slots([name], slots=1, occupancy_seconds=HOST_SLOT_WAIT_S)  # must be > 0
    ledger.audit("opskeeper", "host-slot.released", name, {"run": run_id, "why": "held by no living run"})


@task(name="publish-run-report", cache_policy=NO_CACHE)
def publish_run_report(run_id: int, tz: str) -> None:
    """A markdown report and a table of steps for the run, in the Prefect UI."""
    run = ledger_runs.get_run(Ledger.open(), run_id)
    if run is None:
        return
    key = f"{run.kind}-{run.customer_id}-{run.cadence or 'run'}".lower().replace("_", "-").replace(".", "-")
    create_markdown_artifact(key=key, markdown=run_markdown(run, tz), description=f"run {run_id}")
    if run.steps:
        create_table_artifact(
            key=f"{key}-steps", table=run_table_rows(run), description=f"steps of run {run_id}"
        )
