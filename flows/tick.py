"""The tick: every few minutes, start what is due now, send notices that fell due, record missed periods."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from prefect import Flow, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

from flows.backup import backup
from flows.dr_drill import dr_drill
from flows.escalation import escalation
from flows.maintenance import maintenance
from flows.security_scan import security_scan
from opskeeper import scheduling
from opskeeper.backup.ops import find_system
from opskeeper.backup.record import due_backups
from opskeeper.calendar import PlannedRun
from opskeeper.calendar.intervals import zone
from opskeeper.checks.security.service import customers_due
from opskeeper.clock import SYSTEM
from opskeeper.config.drills import Audience
from opskeeper.config.estate import Estate
from opskeeper.config.loader import load_estate
from opskeeper.config.types import Cadence, Severity
from opskeeper.drills import notices as drill_notices
from opskeeper.drills.scenarios import find_scenario
from opskeeper.ledger import Ledger
from opskeeper.ledger import drills as ledger_drills
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.planning import record_covered
from opskeeper.notify.events import Event
from opskeeper.notify.notices import send_maintenance_notices
from opskeeper.notify.service import notify
from opskeeper.paths import config_path
from tasks.audit import anchor_audit_head

MAINTENANCE_DEPLOYMENT = "maintenance/maintenance"
SCAN_DEPLOYMENT = "security-scan/security-scan"
DRILL_DEPLOYMENT = "dr-drill/dr-drill"
BACKUP_DEPLOYMENT = "backup/backup"


def _start(deployment: str, params: dict[str, Any], inline: Flow[Any, Any], key: str | None = None) -> str:
    """Start work as its own flow run of ``deployment`` (served or on a work pool), else as a subflow here.

    ``key`` (the dispatch) is the flow run's idempotency key: a tick that takes over a stale dispatch whose
    flow run was in fact created (and waits for a worker) gets that run back instead of a second one.
    """
    try:
        run = run_deployment(deployment, parameters=params, timeout=0, idempotency_key=key)
        return f"deployment run {run.id}"  # type: ignore[union-attr]  # sync call: a FlowRun
    except (ObjectNotFound, PrefectHTTPStatusError) as e:
        if isinstance(e, PrefectHTTPStatusError) and e.response.status_code != 404:
            raise
    try:
        inline(**params)  # no such deployment (tests, one-shot runs)
    except Exception as e:  # noqa: BLE001 - one piece of work failing must not stop the tick
        return f"ran in-process and failed: {type(e).__name__}: {e}"
    return "ran in-process"


@task(name="start-due-maintenance", cache_policy=NO_CACHE)
def start_maintenance(run: PlannedRun, config: str | None) -> str:
    """Start the due run as its own flow run (deployment), or in-process when no deployment exists."""
    assert run.window is not None
    params = {"cadence": run.cadence.value, "customer": run.customer_id, "trigger": "tick",
              "triggered_by": "scheduler", "config": config}  # fmt: skip
    key = f"tick/maintenance/{run.customer_id}/{run.cadence.value}/{run.window.start.isoformat()}"
    return _start(MAINTENANCE_DEPLOYMENT, params, maintenance, key)


@task(name="start-due-scan", cache_policy=NO_CACHE)
def start_scan(customer_id: str, config: str | None, week: str) -> str:
    """The weekly security scan, as its own flow run (deployment) or in-process."""
    params = {"customer": customer_id, "config": config, "trigger": "tick"}
    return _start(SCAN_DEPLOYMENT, params, security_scan, f"tick/scan/{customer_id}/{week}")


def _maintenance_seen(ledger: Ledger, run: PlannedRun) -> Callable[[datetime], bool]:
    """Did the claimed maintenance show up in the ledger since the claim (a dead tick's claim did not)?"""
    return lambda since: ledger_runs.attempted_since(
        ledger, "maintenance", run.customer_id, run.cadence.value, since
    )


def _scan_seen(ledger: Ledger, customer_id: str) -> Callable[[datetime], bool]:
    def seen(since: datetime) -> bool:
        last = ledger_runs.list_runs(ledger, kind="scan", customer_id=customer_id, limit=1)
        return bool(last) and last[0].started_at >= since

    return seen


def _drill_seen(ledger: Ledger, customer_id: str, scenario: str) -> Callable[[datetime], bool]:
    """Did the claimed drill begin (even to be refused: a drill row is written first) since the claim?"""

    def seen(since: datetime) -> bool:
        started = ledger_drills.last_drill_started(ledger, customer_id, scenario)
        return started is not None and started >= since

    return seen


def _backup_slot(now: datetime) -> str:
    """One dispatch per system per hour at most: the policy decides due-ness, this stops double starts."""
    return now.strftime("%Y-%m-%dT%H")


@task(name="start-due-backup", cache_policy=NO_CACHE)
def start_backup(system_id: str, config: str | None, slot: str) -> str:
    """A backup the policy calls for, as its own flow run (deployment) or in-process."""
    params = {"system": system_id, "trigger": "tick", "config": config}
    return _start(BACKUP_DEPLOYMENT, params, backup, f"tick/backup/{system_id}/{slot}")


def drills(estate: Estate, ledger: Ledger, now: datetime, config: str | None) -> list[str]:
    """Overdue drills: announce them the notice period ahead, start them when the window opens."""
    scenarios = {name: find_scenario(name, estate.runbooks_dir) for name in _drill_names(estate)}
    silent = {n for n, sc in scenarios.items() if sc.audience is not Audience.ANNOUNCED}
    started = []
    for p in scheduling.plan_drills(estate, ledger, now, silent):
        slot = p.window.start.isoformat()
        if p.announce:
            # Sent before the claim that marks it told: the notice is idempotent on its key, and a crash
            # in between must not let the drill start unannounced.
            drill_notices.scheduled(
                estate, ledger, p.customer_id, scenarios[p.scenario], p.window.start, p.window.end
            )
            scheduling.claim(ledger, "drill-notice", p.customer_id, p.scenario, slot, now=now)
        # A tick that died after claiming must not cost the drill its whole window: a claim whose
        # drill never began is taken over (the flow run's idempotency key stops a second start).
        if p.start and scheduling.claim(
            ledger,
            "drill",
            p.customer_id,
            p.scenario,
            slot,
            now=now,
            work_seen=_drill_seen(ledger, p.customer_id, p.scenario),
        ):
            started.append(
                f"{p.customer_id}/drill {p.scenario} ({start_drill(p.scenario, p.customer_id, config, slot)})"
            )
    return started


def _drill_names(estate: Estate) -> set[str]:
    return {d for c in estate.customers for s in c.systems for d in s.drills}


@task(name="start-due-drill", cache_policy=NO_CACHE)
def start_drill(scenario: str, customer_id: str, config: str | None, slot: str) -> str:
    """A drill the tier's period calls for, as its own flow run (deployment) or in-process."""
    params = {"scenario": scenario, "customer": customer_id, "config": config}
    return _start(DRILL_DEPLOYMENT, params, dr_drill, f"tick/drill/{customer_id}/{scenario}/{slot}")


@task(name="send-advance-notices", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def send_notices(estate: Estate, planned: list[PlannedRun], now: datetime) -> int:
    """Maintenance-scheduled notices (and corrections) that fell due."""
    return len(send_maintenance_notices(estate, Ledger.open(), now, planned))


@task(name="record-missed-periods", cache_policy=NO_CACHE)
def record_missed(estate: Estate, missed: list[tuple[str, str, str, str]], now: datetime) -> int:
    """A period ended without a successful run: an SLA breach (with why), recorded once and told to the customer."""
    ledger, n = Ledger.open(), 0
    for customer_id, cadence, period, *why in missed:
        n += scheduling.record_missed(ledger, customer_id, Cadence(cadence), period, why[0] if why else "")
        # Told on every tick, not only when first recorded: the notice is idempotent on its key, so a
        # crash between recording the breach and sending the message cannot lose the message.
        notify(estate, ledger, event=Event.SLA_BREACHED, customer_id=customer_id, severity=Severity.HIGH,
               dedup_key=f"missed/{cadence}/{period}", now=now,
               context={"subject_text": f"{cadence} maintenance {period}", "deadline_at": now,
                        "breached_at": now})  # fmt: skip
    return n


@flow(name="tick", log_prints=True)
def tick(config: str | None = None) -> dict[str, object]:
    """Due-driven scheduling: what is due now in each customer's window, in their zone."""
    log = get_run_logger()
    now = SYSTEM.now()  # the one reading of the clock: every decision below is made "at" this time
    estate = load_estate(config_path(config))
    ledger = Ledger.open()
    for run_id in ledger_runs.reap_abandoned(ledger, now):
        log.warning("run %s was abandoned by a dead process; closed, its work is due again", run_id)
    plan = scheduling.plan_tick(estate, ledger, now)
    started = []
    for run in plan.due:
        assert run.window is not None
        if scheduling.claim(
            ledger, "maintenance", run.customer_id, run.cadence.value, run.window.start.isoformat(),
            work_seen=_maintenance_seen(ledger, run), now=now,
        ):  # fmt: skip
            how = start_maintenance(run, config)
            started.append(f"{run.customer_id}/{run.cadence.value} ({how})")
    for customer_id in customers_due(estate, ledger, now):
        week = now.astimezone(zone(estate.customer(customer_id).timezone)).strftime("%G-W%V")
        if scheduling.claim(
            ledger, "scan", customer_id, "weekly", week, work_seen=_scan_seen(ledger, customer_id), now=now
        ):
            start_scan(customer_id, config, week)
            started.append(f"{customer_id}/security-scan")
    # Backups run when their policy says, window or not: they only read, and a blackout (month-end
    # close) is exactly when the customer's data must not go unprotected.
    for system_id in due_backups(estate, ledger, now):
        customer_id = find_system(estate, system_id)[0].id
        slot = _backup_slot(now)
        if scheduling.claim(ledger, "backup", customer_id, system_id, slot, now=now):
            started.append(f"{customer_id}/backup {system_id} ({start_backup(system_id, config, slot)})")
    started += drills(estate, ledger, now, config)
    notices = send_notices(estate, plan.planned, now)
    for customer_id, cadence, period, by in plan.covered:  # done by a larger cadence's run: on record
        record_covered(ledger, customer_id, cadence.value, period, by, now)
    missed = record_missed(estate, [(c, cad.value, p, plan.reasons.get((c, cad, p), ""))
                                    for c, cad, p in plan.missed], now)  # fmt: skip
    # Undelivered messages are retried and unacknowledged ones escalated on every tick.
    escalated = escalation(config=config)
    log.info("audit anchor: %s", anchor_audit_head(estate, now))  # the head, outside the ledger, when due
    summary = {"started": started, "notices": notices, "missed_recorded": missed, "escalation": escalated}
    log.info("tick: %s", summary)
    return summary
