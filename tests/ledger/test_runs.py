"""Run records: lifecycle, period queries, breaches once, aware times, health series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from opskeeper.checks.health import Sample
from opskeeper.clock import SYSTEM
from opskeeper.config.secrets import register_secret
from opskeeper.ledger import Ledger, LedgerError
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.audit import AuditEntry
from opskeeper.ledger.core import Run, RunStatus, StepStatus
from opskeeper.runbook.engine import StepRecord

MONTHLY = ledger_runs.NewRun("maintenance", "acme", "monthly", period="2026-11", triggered_by="alice")


def test_run_lifecycle_and_aware_times(ledger: Ledger) -> None:
    run_id = ledger_runs.start_run(ledger, MONTHLY)
    t0 = SYSTEM.now()
    rec = StepRecord("monthly", "health", "acme-1", t0, t0 + timedelta(seconds=2), StepStatus.OK, 1, 0, "fine",
                     samples=(Sample("disk.used_pct", "/", 42.5, "%"), Sample("mem.used_pct", "", 61.0, "%")))  # fmt: skip
    ledger_runs.add_step(ledger, run_id, rec)
    ledger_runs.finish_run(ledger, run_id, RunStatus.OK, summary={"hosts": 1})
    run = ledger_runs.get_run(ledger, run_id)
    assert run is not None
    assert (run.status, run.summary, run.period) == ("ok", {"hosts": 1}, "2026-11")
    assert run.started_at.tzinfo is not None and run.ended_at is not None and run.ended_at.tzinfo is not None
    [step] = run.steps
    assert (step.step, step.status, step.duration_s, step.output) == ("health", "ok", 2.0, "fine")
    assert step.started_at == t0 and step.started_at.tzinfo is not None
    series = list(ledger_runs.health_series(ledger, "acme-1", "disk.used_pct", t0 - timedelta(days=1)))
    assert [(s, v) for _, s, v in series] == [("/", 42.5)]
    assert series[0][0].tzinfo is not None


def test_naive_datetimes_are_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="naive datetime"), ledger.session() as s:
        s.add(Run(kind="maintenance", started_at=datetime(2026, 11, 1, 12, 0), status=RunStatus.OK))


def test_period_queries(ledger: Ledger) -> None:
    assert not ledger_runs.succeeded_in_period(ledger, "maintenance", "acme", "monthly", "2026-11")
    skipped = ledger_runs.record_skipped(ledger, MONTHLY, RunStatus.SKIPPED_BLACKOUT, "blackout: month-end")
    assert not ledger_runs.attempted_since(
        ledger, "maintenance", "acme", "monthly", SYSTEM.now() - timedelta(hours=1)
    )
    run_id = ledger_runs.start_run(ledger, MONTHLY)
    ledger_runs.finish_run(ledger, run_id, RunStatus.OK)
    assert ledger_runs.succeeded_in_period(ledger, "maintenance", "acme", "monthly", "2026-11")
    assert not ledger_runs.succeeded_in_period(ledger, "maintenance", "acme", "monthly", "2026-12")
    assert ledger_runs.attempted_since(
        ledger, "maintenance", "acme", "monthly", SYSTEM.now() - timedelta(hours=1)
    )
    run = ledger_runs.get_run(ledger, skipped)
    assert run is not None and (run.status, run.reason) == ("skipped-blackout", "blackout: month-end")
    assert [r.id for r in ledger_runs.list_runs(ledger, customer_id="acme")] == [run_id, skipped]


def test_breach_recorded_once(ledger: Ledger) -> None:
    assert ledger_runs.record_breach(ledger, "acme", "maintenance", "monthly", "2026-10", "no window left")
    assert not ledger_runs.record_breach(ledger, "acme", "maintenance", "monthly", "2026-10", "again")
    assert [b.reason for b in ledger_runs.breaches(ledger, "acme")] == ["no window left"]


def test_force_window_is_audited(ledger: Ledger) -> None:
    forced = ledger_runs.NewRun("maintenance", "acme", "monthly", triggered_by="alice", force_window=True)
    run_id = ledger_runs.start_run(ledger, forced)
    with ledger.session() as s:
        [entry] = s.execute(select(AuditEntry)).scalars().all()
    assert (entry.actor, entry.action, entry.subject) == ("alice", "run.force-window", f"run/{run_id}")
    assert entry.at.tzinfo is UTC or entry.at.utcoffset() == timedelta(0)


def test_reason_and_summary_are_redacted(ledger: Ledger) -> None:
    register_secret("s3cret-key-9d2e")
    run_id = ledger_runs.start_run(ledger, MONTHLY)
    ledger_runs.finish_run(ledger, run_id, RunStatus.FAILED, "login with s3cret-key-9d2e failed",
                           {"hosts": [{"host": "h1", "error": "auth s3cret-key-9d2e refused"}]})  # fmt: skip
    run = ledger_runs.get_run(ledger, run_id)
    assert run is not None
    assert (run.reason, run.summary) == (
        "login with *** failed",
        {"hosts": [{"host": "h1", "error": "auth *** refused"}]},
    )
