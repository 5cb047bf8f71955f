"""Drill notices to the customer through the notification facade, summary in the customer's language."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from opskeeper.config.drills import Audience, Scenario
from opskeeper.config.estate import Estate
from opskeeper.config.types import Language, Severity
from opskeeper.drills.evaluate import Evaluation
from opskeeper.drills.phrases import finding_title
from opskeeper.i18n import Localized
from opskeeper.ledger import Ledger
from opskeeper.notify import locale
from opskeeper.notify.service import Notifier

if TYPE_CHECKING:
    from opskeeper.drills.runner import DrillRun

SUMMARY = {
    Language.EN: "Score {score}/100. Measured recovery time {rto}, data-loss window {rpo}. Findings: {n}.",
    Language.ZH_CN: "评分 {score}/100。实测恢复时间 {rto}，数据丢失窗口 {rpo}。发现问题 {n} 项。",
    Language.RU: "Оценка {score}/100. Измеренное время восстановления {rto}, окно потери данных {rpo}. "
    "Замечаний: {n}.",
}


CLEANUP_IMPACT = {
    Language.EN: "The drill could not undo its fault; engineers are restoring the system.",
    Language.ZH_CN: "演练未能撤销其注入的故障，工程师正在恢复系统。",
    Language.RU: "Учения не смогли отменить внесённый сбой; инженеры восстанавливают систему.",
}


def summary(evaluation: Evaluation) -> Localized:
    """The evaluation in one sentence, in every language (the renderer picks the recipient's)."""

    def text(lang: Language) -> str:
        rto, rpo = evaluation.rto.measured, evaluation.rpo.measured
        return SUMMARY[lang].format(
            score=evaluation.score, n=len(evaluation.findings),
            rto=locale.format_duration(rto, lang), rpo=locale.format_duration(rpo, lang),
        )  # fmt: skip

    return Localized.of(text(Language.EN), {lang: text(lang) for lang in SUMMARY})


def findings(evaluation: Evaluation) -> list[Localized]:
    """The findings' titles, translated by their stable code (detail, hosts and paths stay internal)."""
    return [finding_title(f.fingerprint, f.title) for f in evaluation.findings]


def send(run: DrillRun, event: str, notifier: Notifier | None = None) -> None:
    """drill_started / drill_completed for the run's customer (idempotent per drill and event)."""
    if run.scenario.audience is not Audience.ANNOUNCED and event == "drill_started":
        return  # a silent drill is told afterwards only
    t = run.target
    context: dict[str, object] = {"scenario": run.scenario.localized_title(), "systems": [t.system.name or t.system.id]}
    if event == "drill_started":
        context["started_at"] = run.timeline.events[0].at if run.timeline.events else run.ledger.now()
    else:
        ev = run.evaluation
        if ev is None:
            return
        context |= {
            "verdict": "passed" if ev.passed else "failed",
            "rto_measured": ev.rto.measured, "rto_objective": ev.rto.target,
            "rpo_measured": ev.rpo.measured, "rpo_objective": ev.rpo.target,
            "summary": summary(ev),
            "findings": findings(ev),
            "action_items": len(ev.findings),
        }  # fmt: skip
    (notifier or Notifier()).notify(
        run.estate, run.ledger, event=event, customer_id=t.customer.id, severity=Severity.ROUTINE,
        context=context, dedup_key=f"drill-{run.drill_id}-{event}", drill=True,
    )  # fmt: skip


def incident(run: DrillRun, message: str, notifier: Notifier | None = None) -> None:
    """A failed cleanup leaves the system faulted: that is a real incident, not a drill message."""
    t = run.target
    (notifier or Notifier()).notify(
        run.estate, run.ledger, event="incident_declared", customer_id=t.customer.id,
        severity=Severity.HIGH, dedup_key=f"drill-{run.drill_id}-cleanup-failed", drill=False,
        context={"incident_id": f"DRILL-{run.drill_id}",
                 "title": run.scenario.localized_title().map(lambda title: f"{title}: {message}"),
                 "impact": Localized.catalogue(CLEANUP_IMPACT), "started_at": run.ledger.now()},
    )  # fmt: skip


def scheduled(
    estate: Estate, ledger: Ledger, customer_id: str, scenario: Scenario, start: datetime, end: datetime,
    notifier: Notifier | None = None,
) -> None:  # fmt: skip
    """Announce a planned drill (the tick calls this the tier's notice period ahead); silent drills are not."""
    if scenario.audience is not Audience.ANNOUNCED:
        return
    customer = estate.customer(customer_id)
    systems = [s.name or s.id for s in customer.systems if scenario.name in s.drills]
    (notifier or Notifier()).notify(
        estate, ledger, event="drill_scheduled", customer_id=customer_id, severity=Severity.ROUTINE,
        context={"scenario": scenario.localized_title(), "window_start": start, "window_end": end, "systems": systems},
        dedup_key=f"drill-scheduled-{customer_id}-{scenario.name}-{start:%Y%m%dT%H%M}", drill=True,
    )  # fmt: skip
