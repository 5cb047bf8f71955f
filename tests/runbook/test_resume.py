"""The resume rule: which steps the period's earlier runs left done on each host, and by which run."""

from __future__ import annotations

from opskeeper.ledger.runs import StepMark
from opskeeper.runbook.resume import done_steps


def mark(run: int, step: str, status: str, host: str = "h1", done_in_run: int | None = None) -> StepMark:
    return StepMark(run, host, "monthly", step, status, done_in_run)


def test_ok_steps_are_done_by_the_run_that_did_them() -> None:
    done = done_steps([mark(1, "a", "ok"), mark(1, "b", "error"), mark(1, "a", "ok", host="h2")])
    assert done == {"h1": {("monthly", "a"): 1}, "h2": {("monthly", "a"): 1}}


def test_a_resumed_run_keeps_naming_the_run_that_did_the_step() -> None:
    done = done_steps([mark(1, "a", "ok"), mark(2, "a", "skipped", done_in_run=1), mark(2, "b", "ok")])
    assert done == {"h1": {("monthly", "a"): 1, ("monthly", "b"): 2}}


def test_a_later_failure_or_rollback_undoes_done() -> None:
    marks = [mark(1, "a", "ok"), mark(1, "b", "ok"), mark(1, "c", "ok"),
             mark(2, "b", "failed"),  # a repeat (--again) failed it
             mark(2, "a:rollback", "rolled-back"), mark(2, "c:rollback", "error")]  # fmt: skip
    assert done_steps(marks) == {}


def test_skipped_steps_change_nothing() -> None:
    marks = [mark(1, "a", "skipped"), mark(2, "a", "ok"), mark(3, "a", "skipped")]  # held back, then done, then a dry...
    assert done_steps(marks) == {"h1": {("monthly", "a"): 2}}
