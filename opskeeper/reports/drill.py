"""The drill evaluation report: markdown (Prefect artifact, CLI) and self-contained HTML (inline SVG).

Built from the ledger only (drill row, its timeline, its action items, the
scenario's past drills for the trend), so any past drill can be re-rendered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from opskeeper.config.types import format_duration
from opskeeper.drills.evaluate import fmt
from opskeeper.drills.timeline import MILESTONES, Event
from opskeeper.errors import InputError
from opskeeper.ledger import Ledger
from opskeeper.ledger.drills import ActionItem, Drill, DrillEvent
from opskeeper.ledger.reports import drill_rows
from opskeeper.paths import TEMPLATES_DIR, state_path

REPORTS_DIR = TEMPLATES_DIR / "reports"
FORMATS = ("md", "html", "json")


class ReportError(InputError):
    """The drill to report on does not exist, or the format is unknown."""


@dataclass(frozen=True)
class Mark:
    kind: str
    label: str
    at: datetime
    offset_s: float
    ok: bool
    detail: str


@dataclass(frozen=True)
class Bar:
    label: str
    start_s: float
    end_s: float
    ok: bool


@dataclass(frozen=True)
class TrendPoint:
    drill_id: int
    started: datetime
    status: str
    rto_s: float | None
    rpo_s: float | None
    current: bool


@dataclass
class DrillReport:
    drill: dict[str, Any]
    evaluation: dict[str, Any]
    marks: list[Mark]
    steps: list[Bar]
    trend: list[TrendPoint]
    items: list[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def span_s(self) -> float:
        ends = [m.offset_s for m in self.marks] + [b.end_s for b in self.steps]
        return max(ends + [1.0])


LABELS = {
    Event.DECLARED: "declared", Event.FAULT_INJECTED: "fault injected", Event.DETECTED: "detected",
    Event.RECOVERY_STARTED: "recovery started", Event.SERVICE_RESTORED: "service restored",
    Event.DATA_VERIFIED: "data verified", Event.CLEANUP_DONE: "cleanup done",
    Event.CLEANUP_FAILED: "cleanup FAILED", Event.ABORTED: "aborted", Event.ERROR: "ERROR (drill crashed)",
}  # fmt: skip


def build(ledger: Ledger, drill_id: int) -> DrillReport:
    rows = drill_rows(ledger, drill_id)
    if rows is None:
        raise ReportError(f"no drill with id {drill_id}")
    return _view(rows.drill, rows.events, rows.history, rows.items)


def _view(d: Drill, events: Sequence[DrillEvent], past: Sequence[Drill], items: Sequence[ActionItem]) -> DrillReport:
    t0 = d.started_at
    if events:
        t0 = min(e.at for e in events)
    marks = [
        Mark(e.kind, LABELS.get(Event(e.kind), e.kind), e.at, (e.at - t0).total_seconds(), e.ok, e.detail)
        for e in events
        if Event(e.kind) in (*MILESTONES, Event.CLEANUP_FAILED, Event.ABORTED, Event.ERROR)
    ]
    steps = [
        Bar(e.detail, max((e.at - t0).total_seconds() - (e.duration_s or 0), 0), (e.at - t0).total_seconds(), e.ok)
        for e in events
        if e.kind == Event.STEP.value
    ]
    trend = [TrendPoint(p.id, p.started_at, p.status, p.rto_s, p.rpo_s, p.id == d.id) for p in past]
    return DrillReport(
        drill=_drill_dict(d),
        evaluation=d.evaluation or {},
        marks=marks,
        steps=steps,
        trend=trend,
        items=[_item_dict(i, d.id) for i in items],
        events=[{"kind": e.kind, "at": e.at.isoformat(), "ok": e.ok, "detail": e.detail,
                 "duration_s": e.duration_s} for e in events],  # fmt: skip
    )


def _drill_dict(d: Drill) -> dict[str, Any]:
    return {
        "id": d.id, "scenario": d.scenario, "customer": d.customer_id, "system": d.system_id,
        "status": d.status, "score": d.score, "started_at": d.started_at, "ended_at": d.ended_at,
        "triggered_by": d.triggered_by, "approved_by": d.approved_by, "force_window": d.force_window,
        "rto_s": d.rto_s, "rpo_s": d.rpo_s, "rto_target_s": d.rto_target_s, "rpo_target_s": d.rpo_target_s,
        "reason": d.reason, "run_id": d.run_id, "flow_run_id": d.flow_run_id,
    }  # fmt: skip


def _item_dict(i: ActionItem, drill_id: int) -> dict[str, Any]:
    change = "closed" if i.closed_by_drill == drill_id else "opened" if i.opened_by_drill == drill_id else "seen again"
    return {"id": i.id, "title": i.title, "severity": i.severity, "owner": i.owner, "due": i.due,
            "status": i.status, "change": change, "fingerprint": i.fingerprint}  # fmt: skip


# -- charts (inline SVG: no script, no CDN; the report is one file) ----------------------------------------

TL_W, TL_LEFT, TL_RIGHT = 1000, 150, 30
PHASES = [  # (from, to, label, colour)
    (Event.DECLARED, Event.FAULT_INJECTED, "preparation", "#cfd8dc"),
    (Event.FAULT_INJECTED, Event.DETECTED, "detection", "#ffcc80"),
    (Event.RECOVERY_STARTED, Event.SERVICE_RESTORED, "recovery", "#90caf9"),
    (Event.SERVICE_RESTORED, Event.DATA_VERIFIED, "verification", "#a5d6a7"),
    (Event.DATA_VERIFIED, Event.CLEANUP_DONE, "cleanup", "#e1bee7"),
]


def timeline_svg(r: DrillReport) -> Markup:
    span = r.span_s
    width = TL_W - TL_LEFT - TL_RIGHT

    def x(sec: float) -> float:
        return TL_LEFT + width * sec / span

    at = {m.kind: m.offset_s for m in r.marks}
    rows = min(len(r.steps), 24)
    height = 150 + 16 * rows
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {TL_W} {height}" '
           f'width="100%" role="img" aria-label="drill timeline">']  # fmt: skip
    out.append(f'<text x="{TL_LEFT}" y="14" class="axis">0 s</text>'
               f'<text x="{TL_W - TL_RIGHT}" y="14" class="axis" text-anchor="end">{escape(_secs(span))}</text>')
    for start, end, label, colour in PHASES:
        if start.value in at and end.value in at and at[end.value] >= at[start.value]:
            x0, x1 = x(at[start.value]), x(at[end.value])
            out.append(f'<rect x="{x0:.1f}" y="24" width="{max(x1 - x0, 2):.1f}" height="22" fill="{colour}">'
                       f'<title>{label}: {escape(_secs(at[end.value] - at[start.value]))}</title></rect>')
            out.append(f'<text x="{x0 + 3:.1f}" y="39" class="phase">{label}</text>')
    out.append('<text x="4" y="39" class="lbl">phases</text>')
    for i, m in enumerate(r.marks):
        cx = x(m.offset_s)
        colour = "#2e7d32" if m.ok else "#c62828"
        y = 70 + (i % 3) * 16
        anchor = ' text-anchor="end"' if cx > TL_W * 0.8 else ""
        tx = cx - 3 if anchor else cx + 3
        out.append(f'<line x1="{cx:.1f}" y1="48" x2="{cx:.1f}" y2="{y - 10}" stroke="{colour}"/>'
                   f'<circle cx="{cx:.1f}" cy="52" r="4" fill="{colour}"><title>{escape(m.label)} at '
                   f'+{escape(_secs(m.offset_s))}</title></circle>'
                   f'<text x="{tx:.1f}" y="{y}" class="mark"{anchor}>{escape(m.label)} +{escape(_secs(m.offset_s))}'
                   f'</text>')  # fmt: skip
    out.append('<text x="4" y="70" class="lbl">milestones</text>')
    for i, b in enumerate(r.steps[:rows]):
        y = 130 + 16 * i
        x0, x1 = x(b.start_s), x(b.end_s)
        # a detection probe that "fails" has found the fault: that is its job, not an error
        colour = "#1565c0" if b.ok else "#ef6c00" if b.label.startswith("detection/") else "#c62828"
        name = b.label.split(" @ ")[0]
        label = escape(name if len(name) <= 24 else name[:23] + "…")
        out.append(f'<text x="4" y="{y + 10}" class="step">{label}</text>'
                   f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 2):.1f}" height="11" fill="{colour}">'
                   f'<title>{escape(b.label)} ({escape(_secs(b.end_s - b.start_s))})</title></rect>')  # fmt: skip
    out.append("</svg>")
    return Markup("".join(out))


def trend_svg(r: DrillReport) -> Markup:
    """RTO and RPO of each past drill of this scenario (bars) against today's targets (dashed lines)."""
    pts = r.trend[-12:]
    w, h, left, bottom = 1000, 220, 60, 30
    rto_t = r.drill.get("rto_target_s") or 0
    rpo_t = r.drill.get("rpo_target_s") or 0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 {w} {h * 2 + 20}" width="100%" '
           'role="img" aria-label="RTO and RPO trend">']  # fmt: skip
    for k, (key, target, name) in enumerate((("rto_s", rto_t, "RTO"), ("rpo_s", rpo_t, "RPO"))):
        top = k * (h + 20)
        values = [getattr(p, key) or 0 for p in pts]
        peak = max(values + [target, 1.0]) * 1.1
        plot_h = h - bottom - 20

        def y(v: float, top: int = top, peak: float = peak, plot_h: int = plot_h) -> float:
            return top + 20 + plot_h * (1 - v / peak)

        out.append(f'<text x="4" y="{top + 14}" class="lbl">{name} per drill (target '
                   f'{escape(_secs(target))})</text>')  # fmt: skip
        slot = (w - left - 10) / max(len(pts), 1)
        for i, p in enumerate(pts):
            v = getattr(p, key)
            bx = left + i * slot + slot * 0.2
            colour = "#9e9e9e" if v is None else ("#2e7d32" if v <= target else "#c62828")
            stroke = ' stroke="#000" stroke-width="2"' if p.current else ""
            out.append(f'<rect x="{bx:.1f}" y="{y(v or 0):.1f}" width="{slot * 0.6:.1f}" '
                       f'height="{max(y(0) - y(v or 0), 1):.1f}" fill="{colour}"{stroke}><title>drill #{p.drill_id} '
                       f'{p.started:%Y-%m-%d %H:%M}: {escape(_secs(v) if v is not None else "not measured")}</title></rect>'
                       f'<text x="{bx:.1f}" y="{top + h - 12}" class="axis">#{p.drill_id}</text>')  # fmt: skip
        out.append(f'<line x1="{left}" x2="{w - 10}" y1="{y(target):.1f}" y2="{y(target):.1f}" stroke="#000" '
                   f'stroke-dasharray="6 4"/><text x="{left - 4}" y="{y(target) + 4:.1f}" class="axis" '
                   f'text-anchor="end">{escape(_secs(target))}</text>')  # fmt: skip
    out.append("</svg>")
    return Markup("".join(out))


def _secs(value: float | None) -> str:
    return "-" if value is None else fmt(timedelta(seconds=value))


# -- rendering --------------------------------------------------------------------------------------------


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REPORTS_DIR)),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["secs"] = _secs
    env.filters["dur"] = lambda s: "-" if s is None else format_duration(timedelta(seconds=s))
    env.filters["when"] = lambda d: "" if d is None else d.strftime("%Y-%m-%d %H:%M:%S UTC")
    return env


def render(report: DrillReport, fmt_: str) -> str:
    if fmt_ == "json":
        return json.dumps(to_json(report), ensure_ascii=False, indent=2)
    if fmt_ not in FORMATS:
        raise ReportError(f"unknown report format {fmt_!r}; use one of {', '.join(FORMATS)}")
    template = _env().get_template(f"drill.{fmt_}.j2")
    extra = {"timeline_svg": timeline_svg(report), "trend_svg": trend_svg(report)} if fmt_ == "html" else {}
    return template.render(r=report, d=report.drill, e=report.evaluation, **extra)


def to_json(report: DrillReport) -> dict[str, Any]:
    def conv(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    return conv({"drill": report.drill, "evaluation": report.evaluation, "timeline": report.events,
                 "items": report.items,
                 "trend": [{"drill_id": p.drill_id, "started": p.started, "status": p.status, "rto_s": p.rto_s,
                            "rpo_s": p.rpo_s} for p in report.trend]})  # fmt: skip


def write(
    ledger: Ledger, drill_id: int, out_dir: Path | None = None, report: DrillReport | None = None
) -> dict[str, Path]:
    """Write report.md and report.html for a drill under ``$OPSKEEPER_HOME/reports/drills/<id>/``.

    ``report``: an already built report of this drill, so callers that also render it query the ledger once.
    """
    report = report or build(ledger, drill_id)
    out_dir = out_dir or state_path("reports", "drills", str(drill_id), "x").parent
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for f in ("md", "html"):
        path = out_dir / f"drill-{drill_id}.{f}"
        path.write_text(render(report, f), encoding="utf-8")
        paths[f] = path
    return paths
