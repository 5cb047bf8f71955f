"""A ledger of one month for the example customers, filled through the ledger's own functions and tables.

Times are fixed (a fake clock for the run repository) so month boundaries can be tested:
2026-11-30 17:00 UTC is 2026-12-01 01:00 in Shanghai (December) and 20:00 in Moscow (November).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opskeeper.checks.health import Sample
from opskeeper.clock import FixedClock
from opskeeper.config.estate import Estate
from opskeeper.config.loader import load_estate
from opskeeper.config.secrets import register_secret
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.backup import SnapshotRecord, mark_verified, record_snapshot
from opskeeper.ledger.core import RunStatus, StepStatus
from opskeeper.ledger.drills import ActionItem, Drill, DrillStatus
from opskeeper.ledger.findings import Finding, SecurityScan, fingerprint
from opskeeper.ledger.notify import Notification
from opskeeper.runbook.engine import StepRecord

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "opskeeper.yaml"
SECRET = "sup3r-s3cret-Passw0rd-for-reports"
PRIVATE = "10.77.1.23-internal-jump"
TOKEN = "ack-token-0123456789abcdef"
DEC_RUN = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 01:00 on 1 December in Shanghai
NOV_RUN = datetime(2026, 11, 14, 15, 0, tzinfo=UTC)  # 23:00 on 14 November in Shanghai


@dataclass
class Filled:
    estate: Estate
    ledger: Ledger
    dec_run: int
    nov_run: int


@pytest.fixture
def estate() -> Estate:
    est = load_estate(EXAMPLE)
    est.customers[0].systems[0].private.append(PRIVATE)  # hanhai/erp: never shown to the customer
    return est


@pytest.fixture
def filled(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> Iterator[Filled]:
    register_secret(SECRET)
    clock = FixedClock(NOV_RUN)  # runs, audit entries and verify times are stamped by the ledger's clock
    ledger = Ledger.open(clock=clock)
    nov = _maintenance(ledger, clock, NOV_RUN, ok=False)
    dec = _maintenance(ledger, clock, DEC_RUN, ok=True)
    clock.set(NOV_RUN + timedelta(days=2))
    _backups(ledger)
    _security(ledger)
    _drill_and_items(ledger)
    _notices(ledger)
    ledger_runs.record_breach(
        ledger, "hanhai", "maintenance", "quarterly", "2026-11", "period ended without a run"
    )
    yield Filled(estate, ledger, dec, nov)


def _maintenance(ledger: Ledger, clock: FixedClock, at: datetime, *, ok: bool) -> int:
    clock.set(at)
    period = f"{at + timedelta(hours=8):%Y-%m}"
    run_id = ledger_runs.start_run(
        ledger, ledger_runs.NewRun("maintenance", "hanhai", "monthly", period=period)
    )
    step_end = at + timedelta(minutes=3)
    ledger_runs.add_step(ledger, run_id, StepRecord(
        "monthly", "health.collect", "hanhai-erp-1", at, step_end, StepStatus.OK, output="ok",
        samples=(Sample("disk.used_pct", "/", 40.0 if ok else 70.0, "%"), Sample("mem.used_pct", "", 30.0, "%"),
                 Sample("load.5", "", 0.5, "")),
    ))  # fmt: skip
    if not ok:  # a failing step whose output carries a secret and a private string
        ledger_runs.add_step(ledger, run_id, StepRecord(
            "monthly", "db.optimise", "hanhai-erp-1", at, step_end, StepStatus.FAILED, exit_code=1,
            output=f"connecting with password {SECRET}\nvacuum failed on {PRIVATE}: disk full",
        ))  # fmt: skip
    clock.set(at + timedelta(minutes=10))
    status = RunStatus.OK if ok else RunStatus.FAILED
    ledger_runs.finish_run(ledger, run_id, status, None if ok else f"1 step failed (token {SECRET})")
    return run_id


def _backups(ledger: Ledger) -> None:
    base = SnapshotRecord("snap-a" * 8, "local", "hanhai-erp-1", "dir", "/data", NOV_RUN, "hanhai", "erp",
                          "erp-data", files=10, bytes=2048)  # fmt: skip
    with ledger.session() as s:
        record_snapshot(s, base)
        record_snapshot(s, SnapshotRecord("snap-b" * 8, "local", "hanhai-erp-1", "dir", "/data",
                                          NOV_RUN + timedelta(days=1), "hanhai", "erp", "erp-data", bytes=1024))  # fmt: skip
        mark_verified(s, "local", damaged=[])
    ledger.audit("opskeeper", "backup.restore", f"snapshot:{'snap-a' * 8}", {"target": "local", "files": 10})


def _security(ledger: Ledger) -> None:
    t0 = NOV_RUN - timedelta(days=40)
    with ledger.session() as s:
        for when, score in ((t0, 60.0), (NOV_RUN, 70.0), (NOV_RUN + timedelta(days=7), 82.5)):
            s.add(SecurityScan(customer_id="hanhai", system_id="erp", host="hanhai-erp-1", started_at=when,
                               ended_at=when, status="ok", score=score, checks_run=18, checks_total=18))  # fmt: skip
        rows = [  # (check, first seen, resolved at, due by, severity)
            ("ssh.password", t0, NOV_RUN + timedelta(days=7), t0 + timedelta(days=30), "medium"),
            ("updates.pending", NOV_RUN, None, NOV_RUN + timedelta(days=7), "critical"),
            ("ports.unexpected", t0, None, t0 + timedelta(days=30), "high"),
        ]
        for check, first, resolved, due, sev in rows:
            s.add(Finding(fingerprint=fingerprint("hanhai-erp-1", check, "x"), customer_id="hanhai", system_id="erp",
                          host="hanhai-erp-1", check_id=check, object="x", severity=sev, title=f"title {check}",
                          status="resolved" if resolved else "open", first_seen=first, last_seen=NOV_RUN,
                          resolved_at=resolved, due_by=due))  # fmt: skip


def _drill_and_items(ledger: Ledger) -> None:
    with ledger.session() as s:
        ok = Drill(scenario="data-corruption", customer_id="hanhai", system_id="erp", started_at=NOV_RUN,
                   ended_at=NOV_RUN + timedelta(minutes=5), status=DrillStatus.PASS, score=100, rto_s=90.0,
                   rpo_s=3600.0, rto_target_s=8 * 3600.0, rpo_target_s=24 * 3600.0)  # fmt: skip
        bad = Drill(scenario="data-corruption", customer_id="hanhai", system_id="erp",
                    started_at=NOV_RUN + timedelta(days=2), status=DrillStatus.FAIL, score=40, rto_s=9 * 3600.0,
                    rpo_s=3600.0, rto_target_s=8 * 3600.0, rpo_target_s=24 * 3600.0)  # fmt: skip
        s.add_all([ok, bad])
        s.flush()
        s.add(ActionItem(customer_id="hanhai", scenario="data-corruption", fingerprint="rto", severity="high",
                         title="Recovery too slow", owner="duty-engineer", due=NOV_RUN + timedelta(days=9),
                         opened_by_drill=bad.id, last_seen_drill=bad.id, opened_at=NOV_RUN + timedelta(days=2)))  # fmt: skip


def _notices(ledger: Ledger) -> None:
    sent = NOV_RUN + timedelta(hours=1)
    with ledger.session() as s:
        s.add(Notification(key="k1", group_key="g1", token=TOKEN, event="security_finding", customer_id="hanhai",
                           severity="high", dedup_key="d1", contact_name="王伟", contact_role="it-manager",
                           channel="email", transport="outbox", address="wang.wei@hanhai.example", language="zh-CN",
                           subject="安全发现", body_text=f"确认: http://ops.example/ack/{TOKEN}",
                           body_html=f'<a href="http://ops.example/ack/{TOKEN}">ack</a>', message_id="<m1@x>",
                           ack_required=True, created_at=sent, sent_at=sent, status="sent",
                           deadline_at=sent + timedelta(hours=8), acked_at=sent + timedelta(minutes=12),
                           acked_by="王伟"))  # fmt: skip
        s.add(Notification(key="k2", group_key="g2", token=TOKEN[::-1], event="incident_declared",
                           customer_id="hanhai", severity="emergency", dedup_key="d2", contact_name="王伟",
                           contact_role="it-manager", channel="webhook", transport="json",
                           address=f"https://hooks.example/services/{TOKEN[::-1]}", language="zh-CN",
                           subject="事件", body_text="x", body_html="x", message_id="<m2@x>", ack_required=True,
                           created_at=sent, sent_at=sent, status="sent", deadline_at=sent + timedelta(hours=2),
                           breached_at=sent + timedelta(hours=2, minutes=1)))  # fmt: skip
