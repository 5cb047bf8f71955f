"""A maintenance run as markdown (Prefect artifact, CLI) and as table rows."""

from __future__ import annotations

from opskeeper.config.secrets import redact
from opskeeper.ledger.core import Run
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
        "",
        "| Host | Step | Status | Duration | Result |",
        "|---|---|---|---:|---|",
    ]
    for s in run.steps:
        first = s.error or (s.output or "").strip().splitlines()[-1:] or [""]
        text = first if isinstance(first, str) else first[0]
        text = redact(text).replace("|", "\\|")[:140]
        lines.append(
            f"| {s.host} | {s.step} | {_ICON.get(s.status, '')} {s.status} | {s.duration_s:.2f}s | {text} |"
        )
    problems = [s for s in run.steps if s.status in ("failed", "error")]
    if problems:
        lines += ["", "## Problems", ""]
        for s in problems:
            detail = redact(s.error or (s.output or "").strip()[-600:])
            lines += [f"### {s.host}: {s.step}", "", "```", detail, "```", ""]
    return "\n".join(lines)


def run_table_rows(run: Run) -> list[dict[str, object]]:
    return [
        {"host": s.host, "runbook": s.runbook, "step": s.step, "status": s.status,
         "duration_s": round(s.duration_s, 3), "exit_code": s.exit_code, "error": redact(s.error or "")}
        for s in run.steps
    ]  # fmt: skip
