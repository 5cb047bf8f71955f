"""Who or what started a piece of work (maintenance, backup, scan), as its runs record it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Trigger:
    trigger: str = "manual"  # manual, tick, schedule, maintenance, simulate
    by: str | None = None  # who: a user, "scheduler", "prefect:<flow run>"
    flow_run_id: str | None = None
