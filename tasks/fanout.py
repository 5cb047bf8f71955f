"""The Prefect runner: each job of a core :class:`~opskeeper.remote.fanout.Work` is its own task run.

The core describes the work (``Work``: what one job does, its name, its crash result, whether
and how often it may be retried); this runner gives each job a task run named after it, with
Prefect's retries where the work allows them (I/O only), on the flow's task runner
(:func:`task_runner`: the bound on how many jobs run at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from opskeeper.remote.fanout import DEFAULT_CONCURRENCY, Work

J = TypeVar("J")
R = TypeVar("R")


class TryAgain(Exception):
    """A result the work calls retryable: raised so that Prefect retries, carried out when retries run out."""

    def __init__(self, result: object) -> None:
        super().__init__(f"retryable result: {result!r}"[:500])
        self.result = result


@task(name="job", cache_policy=NO_CACHE)
def _job(work: Work[Any, Any], job: Any) -> Any:
    """One job of the work (renamed per work and per job by :func:`as_tasks`)."""
    result = work.run(job)
    if work.retryable(result):
        raise TryAgain(result)
    return result


def as_tasks(work: Work[J, R], jobs: Sequence[J], /) -> list[R]:
    """Run every job as a task run; a job whose task failed is that job's failure (``work.crashed``)."""
    delay: float | list[float] = list(work.retry_delay_s) or 0
    one = _job.with_options(name=work.name, retries=work.retries, retry_delay_seconds=delay)

    def submit(job: J) -> PrefectFuture[Any]:
        return one.with_options(task_run_name=work.label(job)).submit(work, job)

    if work.serial:  # each settled before the next starts
        return [_settle(work, job, submit(job)) for job in jobs]
    futures = [submit(job) for job in jobs]
    return [_settle(work, job, f) for job, f in zip(jobs, futures, strict=True)]


def _settle(work: Work[J, R], job: J, future: PrefectFuture[Any]) -> R:
    try:
        result: R = future.result()
    except TryAgain as e:  # still retryable after the retries: the work's own account of the failure
        return e.result  # type: ignore[return-value]
    except Exception as e:  # noqa: BLE001 - the task run shows the traceback in Prefect
        return work.crashed(job, e)
    return result


def task_runner(max_workers: int = DEFAULT_CONCURRENCY) -> ThreadPoolTaskRunner:  # type: ignore[type-arg]
    """The task runner of flows that fan out: how many jobs run at once."""
    return ThreadPoolTaskRunner(max_workers=max_workers)
