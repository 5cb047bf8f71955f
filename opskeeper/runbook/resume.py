"""What a re-run of a period need not repeat: the steps done on each host by the period's earlier runs.

The rule, per host and per step, over the earlier runs' step rows in the order they were written:

- a step recorded ``ok`` is done, by that run; a step a resumed run recorded as done earlier stays done,
  by the run that did it;
- a step recorded ``failed`` or ``error`` later is no longer done (a repeat with ``--again`` failed it);
- a step whose rollback ran later (``STEP:rollback``, rolled back or not) is no longer done: it was undone,
  or its undo failed half-way, and only running it again puts the host in a known state;
- a skipped step (condition false, window closed, no approval, dry run) changes nothing.

A re-run skips the done steps (recorded as skipped with the run that did them) and runs every other
step in the runbook's order, as a fresh run would. With the default ``on_failure: abort`` the done steps of
a host that failed are exactly the steps before the one that failed, so the host resumes at its first
step not completed; a host that completed everything is not connected to at all. Steps after a failed
``on_failure: continue`` step that completed are not repeated: ``continue`` says they do not depend on it.
"""

from __future__ import annotations

from collections.abc import Iterable

from opskeeper.ledger.core import StepStatus
from opskeeper.ledger.runs import StepMark

ROLLBACK_SUFFIX = ":rollback"  # the record of a step's rollback is named STEP:rollback

StepKey = tuple[str, str]  # (runbook, step name)
Done = dict[StepKey, int]  # a host's done steps -> the run that did each


def done_steps(marks: Iterable[StepMark]) -> dict[str, Done]:
    """Per host, the steps the earlier runs left done, and which run did each."""
    done: dict[str, Done] = {}
    for m in marks:
        host = done.setdefault(m.host, {})
        if m.step.endswith(ROLLBACK_SUFFIX):
            host.pop((m.runbook, m.step.removesuffix(ROLLBACK_SUFFIX)), None)
        elif m.done_in_run is not None:
            host[(m.runbook, m.step)] = m.done_in_run
        elif m.status == StepStatus.OK:
            host[(m.runbook, m.step)] = m.run_id
        elif m.status in (StepStatus.FAILED, StepStatus.ERROR):
            host.pop((m.runbook, m.step), None)
    return {h: d for h, d in done.items() if d}
