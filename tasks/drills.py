"""Prefect tasks of a drill: each phase is a task run (visible in the UI), plus the report artifact."""

from __future__ import annotations

from collections.abc import Callable

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from opskeeper.ledger import Ledger
from opskeeper.reports import drill as report


@task(name="drill-phase", task_run_name="{name}", cache_policy=NO_CACHE)
def drill_phase(name: str, fn: Callable[[], object]) -> object:
    """Run one phase of the drill (preflight, fault, recovery, ...); no retries: a fault is not repeated."""
    return fn()


def call_as_task(name: str, fn: Callable[[], object]) -> object:
    return drill_phase(name, fn)


@task(name="drill-report", cache_policy=NO_CACHE, retries=1)
def publish_report(ledger: Ledger, drill_id: int) -> dict[str, str]:
    """Write the HTML/markdown report and publish the markdown as a Prefect artifact."""
    built = report.build(ledger, drill_id)
    paths = report.write(ledger, drill_id, report=built)
    d = built.drill
    key = f"drill-{d['customer']}-{d['scenario']}".lower().replace("_", "-").replace(".", "-")
    create_markdown_artifact(key=key, markdown=report.render(built, "md"),
                             description=f"drill {drill_id}: {d['status']}")  # fmt: skip
    return {k: str(v) for k, v in paths.items()}
