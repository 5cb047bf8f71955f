"""The maintenance flow under the Prefect test harness: ledger records, artifacts, the host concurrency limit."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    TaskRunFilter,
)
from prefect.client.schemas.sorting import ArtifactSort

import flows.maintenance as flow_module
from flows.maintenance import maintenance
from opskeeper.config.types import Cadence
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import RunStatus, StepStatus
from opskeeper.maintenance import HostJob, HostResult, overall
from opskeeper.runbook.engine import Gate
from tests.test_maintenance import example_estate


async def _artifacts_and_limit(flow_run_id: uuid.UUID) -> tuple[list[Any], Any]:
    # Every filter given: with fastapi 0.154, Prefect 3.8's server rejects the nulls the client sends (422).
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])),
            flow_run_filter=FlowRunFilter(),
            task_run_filter=TaskRunFilter(),
            limit=20,
            offset=0,
            sort=ArtifactSort.CREATED_DESC,
        )
        limit = await client.read_global_concurrency_limit_by_name("host:volga-tms-1")
    return list(artifacts), limit


@pytest.mark.flow
def test_monthly_flow_records_publishes_and_limits(tmp_path: Path, opskeeper_home: Path) -> None:
    config = example_estate(tmp_path, opskeeper_home)
    results = maintenance(cadence="monthly", customer="volga", force_window=True, config=str(config),
                          triggered_by="flow-test")  # fmt: skip
    [summary] = results
    assert (summary["customer"], summary["cadence"], summary["status"]) == ("volga", "monthly", "ok"), summary
    assert [h["host"] for h in summary["hosts"]] == ["volga-tms-1"]  # type: ignore[union-attr]

    run = ledger_runs.get_run(Ledger.open(), int(summary["run_id"]))  # type: ignore[call-overload]
    assert run is not None and run.status == "ok" and run.force_window and run.triggered_by == "flow-test"
    assert run.flow_run_id is not None
    assert [(s.host, s.step, s.status) for s in run.steps] == [
        ("volga-tms-1", step, "skipped" if step == "optimise-databases" else "ok")
        for step in ("health", "services", "compress-old-logs", "clean-temp", "optimise-databases")]  # fmt: skip

    artifacts, limit = asyncio.run(_artifacts_and_limit(uuid.UUID(run.flow_run_id)))
    by_type = {a.type: a for a in artifacts}
    assert set(by_type) == {"markdown", "table"}
    assert by_type["markdown"].key == "maintenance-volga-monthly"
    markdown = str(by_type["markdown"].data)
    assert markdown.startswith(f"# Maintenance run {run.id}: monthly volga")
    assert "| volga-tms-1 | clean-temp | ✅ ok |" in markdown
    assert (limit.limit, limit.active_slots) == (1, 0)  # one maintenance per host; released after the run


class _Future:
    def __init__(self, job: HostJob) -> None:
        self.job = job

    def result(self) -> HostResult:
        if self.job.host_name == "volga-tms-2":
            raise RuntimeError("concurrency service unavailable")
        return HostResult(self.job.host_name, self.job.system_id, StepStatus.OK, 3)


def test_a_crashed_host_task_is_that_hosts_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """One host's task crashing must not abort the customer's run while the other hosts still work.
    No Prefect run needed: the task's submit is replaced."""
    monkeypatch.setattr(flow_module.maintain_host, "submit", lambda estate, runbooks, job: _Future(job))
    gate = Gate(window_open=True)
    jobs = [HostJob(1, "volga", "tms", f"volga-tms-{i}", "monthly", gate) for i in (1, 2)]
    run = flow_module._prefect_runner(None, None, None, Cadence.MONTHLY, notify=False)  # type: ignore[arg-type]
    results = run(jobs)
    assert [(r.host, r.status, r.error) for r in results] == [
        ("volga-tms-1", StepStatus.OK, None),
        ("volga-tms-2", StepStatus.ERROR, "RuntimeError: concurrency service unavailable"),
    ]
    assert overall(results) is RunStatus.PARTIAL
