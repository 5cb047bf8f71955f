"""The maintenance flow under the Prefect test harness: ledger records, artifacts, the host lock, the Prefect runner."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    TaskRunFilter,
)
from prefect.client.schemas.sorting import ArtifactSort

from flows.maintenance import maintenance
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import RunStatus, StepStatus
from opskeeper.maintenance import HostJob, HostResult, crashed, overall
from opskeeper.remote.fanout import Work
from opskeeper.remote.locks import FileHostLocks
from opskeeper.runbook.engine import Gate
from tasks.fanout import as_tasks
from tests.test_maintenance import example_estate


async def _artifacts(flow_run_id: uuid.UUID) -> list[Any]:
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
    return list(artifacts)


@pytest.mark.flow
def test_monthly_flow_records_publishes_and_locks(tmp_path: Path, opskeeper_home: Path) -> None:
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

    artifacts = asyncio.run(_artifacts(uuid.UUID(run.flow_run_id)))
    by_type = {a.type: a for a in artifacts}
    assert set(by_type) == {"markdown", "table"}
    assert by_type["markdown"].key == "maintenance-volga-monthly"
    markdown = str(by_type["markdown"].data)
    assert markdown.startswith(f"# Maintenance run {run.id}: monthly volga")
    assert "| volga-tms-1 | clean-temp | ✅ ok |" in markdown
    # One maintenance per host: the host's lock was held by this run and is free again after it.
    assert "maintenance run" in (opskeeper_home / "locks" / "host-volga-tms-1.lock").read_text()
    with FileHostLocks().hold("volga-tms-1", timeout=0):
        pass


def _maintain(job: HostJob) -> HostResult:
    if job.host_name == "volga-tms-2":
        raise RuntimeError("concurrency service unavailable")
    return HostResult(job.host_name, job.system_id, StepStatus.OK, 3)


@pytest.mark.flow
def test_a_crashed_host_task_is_that_hosts_failure() -> None:
    """One host's task crashing must not abort the customer's run while the other hosts still work."""
    work = Work("maintain-host", _maintain, label=lambda j: f"{j.runbook}-{j.host_name}", crashed=crashed)
    gate = Gate(window_open=True)
    jobs = [HostJob(1, "volga", "tms", f"volga-tms-{i}", "monthly", gate) for i in (1, 2)]
    results = flow(name="crash-test")(lambda: as_tasks(work, jobs))()
    assert [(r.host, r.status, r.error) for r in results] == [
        ("volga-tms-1", StepStatus.OK, None),
        ("volga-tms-2", StepStatus.ERROR, "RuntimeError: concurrency service unavailable"),
    ]
    assert overall(results) is RunStatus.PARTIAL


@pytest.mark.flow
def test_the_prefect_runner_retries_a_retryable_result_then_keeps_it() -> None:
    """A result the work calls retryable is tried again by Prefect; the last one is the job's result."""
    tries: list[int] = []

    def flaky(n: int) -> str:
        tries.append(n)
        return "unreachable" if n == 1 or tries.count(n) == 1 else "ok"  # 1: never reachable; 2: at the retry

    work = Work("flaky", flaky, label=str, crashed=lambda n, e: "crashed", retryable=lambda r: r == "unreachable",
                retries=1)  # fmt: skip
    assert flow(name="retry-test")(lambda: as_tasks(work, [1, 2]))() == ["unreachable", "ok"]
    assert sorted(tries) == [1, 1, 2, 2]
