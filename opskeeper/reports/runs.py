"""A maintenance run as markdown (Prefect artifact, CLI) and as table rows."""

from __future__ import annotations

from typing import Any

from opskeeper.config.secrets import redact
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import Run, StepResult
from opskeeper.timefmt import fmt_local

_ICON = {"ok": "✅", "failed": "❌", "error": "⛔", "skipped": "⏭", "rolled-back": "↩", "partial": "⚠"}


def run_markdown(run: Run, tz: str = "UTC") -> str:
    lines = [
        f"# {run.kind.title()} run {run.id}: {run.cadence or ''} {run.customer_id or ''}".rstrip(),
        "",
        f"- **Status:** {_ICON.get(run.status, '')} {run.status}"
        + (f" ({run.reason})" if run.reason else ""),
        f"- **Period:** {run.period or '-'}   **Trigger:** {run.trigger}"
        + (f" by {run.triggered_by}" if run.triggered_by else ""),
        f"- **Started:** {fmt_local(run.started_at, tz)}"
        + (f"   **Ended:** {fmt_local(run.ended_at, tz)}" if run.ended_at else ""),
        *_resumed(run),
        "",
        "| Host | Step | Status | Duration | Result |",
        "|---|---|---|---:|---|",
    ]
    for s in run.steps:
        first = s.error or (s.output or "").strip().splitlines()[-1:] or [""]
        text = first if isinstance(first, str) else first[0]
        text = redact(text).replace("|", "\\|")[:140]
        lines.append(
            f"| {s.host} | {s.step} | {_status(s)} | {s.duration_s:.2f}s | {text} |"
        )
    problems = [s for s in run.steps if s.status in ("failed", "error")]
    if problems:
        lines += ["", "## Problems", ""]
        for s in problems:
            detail = redact(s.error or (s.output or "").strip()[-600:])
            lines += [f"### {s.host}: {s.step}", "", "```", detail, "```", ""]
    return "\n".join(lines)


def done_in_run(step: StepResult) -> int | None:
    """The earlier run that did this step, when this run did not repeat it (a resumed run)."""
    return ledger_runs.done_in_run(step.detail)


def _status(step: StepResult) -> str:
    earlier = done_in_run(step)
    if earlier is not None:
        return f"↪ done earlier (run {earlier})"
    return f"{_ICON.get(step.status, '')} {step.status}"


def _resumed(run: Run) -> list[str]:
    """Which earlier runs did the steps this run did not repeat, or that it repeated everything."""
    summary: dict[str, Any] = run.summary or {}
    if summary.get("again"):
        return ["- **Again:** every step repeated (--again), none taken as done earlier"]
    earlier = summary.get("resumed_from") or sorted({r for s in run.steps if (r := done_in_run(s)) is not None})
    if not earlier:
        return []
    n = sum(done_in_run(s) is not None for s in run.steps)
    return [f"- **Resumed:** {n} step(s) done earlier by run(s) {', '.join(map(str, earlier))}, not repeated"]


def run_table_rows(run: Run) -> list[dict[str, object]]:
    return [
        {"host": s.host, "runbook": s.runbook, "step": s.step,
         "status": "done-earlier" if done_in_run(s) is not None else s.status, "done_in_run": done_in_run(s),
         "duration_s": round(s.duration_s, 3), "exit_code": s.exit_code, "error": redact(s.error or "")}
        for s in run.steps
    ]  # fmt: skip
