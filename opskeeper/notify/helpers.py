"""Shortcuts for the other areas: the usual messages with the usual dedup keys.

Each wraps :meth:`Notifier.notify`; call them from tasks (maintenance, backup, scan, drill flows).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from opskeeper.config.estate import Estate
from opskeeper.config.types import Language, Severity
from opskeeper.i18n import Localized
from opskeeper.ledger import Ledger
from opskeeper.notify import locale
from opskeeper.notify.events import Event
from opskeeper.notify.records import NotificationRecord
from opskeeper.notify.service import Notifier

STEPS_FAILED = {
    Language.EN: "steps {steps} failed ({broken} of {hosts} hosts affected)",
    Language.ZH_CN: "步骤 {steps} 执行失败（{hosts} 台主机中有 {broken} 台受影响）",
    Language.RU: "шаги {steps} завершились с ошибкой (затронуто узлов: {broken} из {hosts})",
}
RUN_STOPPED = {
    Language.EN: "the run stopped before it finished (technical detail: {detail})",
    Language.ZH_CN: "维护在完成前中止（技术信息：{detail}）",
    Language.RU: "работы прервались до завершения (технические сведения: {detail})",
}
NOT_COMPLETED = {
    Language.EN: "the run did not complete",
    Language.ZH_CN: "维护未能全部完成",
    Language.RU: "работы не были завершены",
}


def maintenance_failure(steps: Sequence[str], broken: int, hosts: int, detail: str = "") -> Localized:
    """Why a maintenance run failed, for the customer: the failed steps' names (runbook identifiers)
    and host counts in a localised sentence; otherwise the run's own English reason framed by one.
    Host names never appear (they are internal; the renderer would mask them anyway)."""
    if steps:
        return Localized.of(
            STEPS_FAILED[Language.EN].format(steps=", ".join(steps), broken=broken, hosts=hosts),
            {lang: text.format(steps=locale.join_list(list(steps), lang), broken=broken, hosts=hosts)
             for lang, text in STEPS_FAILED.items()},
        )  # fmt: skip
    if detail:
        return Localized.catalogue(RUN_STOPPED, detail=detail)
    return Localized.catalogue(NOT_COMPLETED)


def maintenance_result(
    estate: Estate,
    ledger: Ledger,
    *,
    customer_id: str,
    cadence: str,
    period: str,
    started_at: datetime,
    ended_at: datetime,
    ok: bool,
    summary: str = "",
    reason: str | Localized = "",
    run_id: int | str | None = None,
    now: datetime | None = None,
    notifier: Notifier | None = None,
) -> list[NotificationRecord]:
    """ "Maintenance completed" (routine) or "failed" (high) for one customer's run in ``period``."""
    customer = estate.customer(customer_id)
    systems = [s.name or s.id for s in customer.systems]
    dedup = f"maintenance:{cadence}:{period}" + (f":run{run_id}" if run_id is not None else "")
    if ok:
        event, severity = Event.MAINTENANCE_COMPLETED, Severity.ROUTINE
        context = {"cadence": cadence, "started_at": started_at, "ended_at": ended_at, "systems": systems,
                   "summary": summary}  # fmt: skip
    else:
        event, severity = Event.MAINTENANCE_FAILED, Severity.HIGH
        context = {
            "cadence": cadence,
            "started_at": started_at,
            "systems": systems,
            "reason": reason or summary,
        }
    return (notifier or Notifier()).notify(
        estate, ledger, event=event, customer_id=customer_id, severity=severity, context=context,
        dedup_key=dedup, now=now, topic=f"maintenance:{cadence}:{period}",
    )  # fmt: skip
