"""Prefect tasks of maintenance: the run's artifacts (hosts run as tasks by tasks.fanout.as_tasks)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.reports.runs import run_markdown, run_table_rows


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
