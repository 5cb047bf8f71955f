"""Alembic migrations: they create every table, and the models match them exactly (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from opskeeper.ledger import Base, Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import RunStatus
from tests.ledger.conftest import import_all_ledger_modules

CORE_TABLES = {"runs", "step_results", "health_samples", "sla_breaches", "audit_log", "audit_head"}


def _check_schema(led: Ledger) -> None:
    import_all_ledger_modules()
    tables = set(inspect(led.engine).get_table_names())
    assert tables >= CORE_TABLES
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    with led.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert ctx.get_current_revision() is not None
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_fresh_sqlite_is_migrated_to_head(tmp_path: Path) -> None:
    led = Ledger.open(f"sqlite:///{tmp_path}/fresh/ledger.sqlite")
    try:
        _check_schema(led)
        led.migrate()  # idempotent
    finally:
        led.close()


def test_default_ledger_lives_under_opskeeper_home(opskeeper_home: Path) -> None:
    led = Ledger.open()
    try:
        assert led.url == f"sqlite:///{opskeeper_home}/ledger.sqlite"
        assert (opskeeper_home / "ledger.sqlite").exists()
    finally:
        led.close()


@pytest.mark.postgres
def test_postgres_is_migrated_to_head_and_keeps_times_aware(pg_url: str) -> None:
    led = Ledger.open(pg_url)
    try:
        _check_schema(led)
        run_id = ledger_runs.start_run(
            led, ledger_runs.NewRun("maintenance", "acme", "monthly", period="2026-11")
        )
        ledger_runs.finish_run(led, run_id, RunStatus.OK)
        led.audit("tester", "test.pg", "run/1", {"ключ": "значение", "n": 1.5})
        run = ledger_runs.get_run(led, run_id)
        assert run is not None and run.started_at.tzinfo is not None
        assert run.started_at.utcoffset() == UTC.utcoffset(None)
        count, problems = led.verify_audit()
        assert (count, problems) == (2, [])  # run.finished + test.pg, hashes stable through timestamptz
    finally:
        led.close()


_OPENER = """
import sys, time
from pathlib import Path
from opskeeper.ledger import Ledger
go = Path(sys.argv[2])
Path(sys.argv[3]).touch()  # imported: ready
while not go.exists():
    time.sleep(0.01)
Ledger.open(sys.argv[1]).close()
"""


def _open_from_processes(url: str, tmp_path: Path, n: int = 2) -> list[str]:
    """n processes open the same fresh ledger at the same moment; returns the stderr of those that failed."""
    go, ready = tmp_path / "go", [tmp_path / f"ready-{i}" for i in range(n)]
    procs = [subprocess.Popen([sys.executable, "-c", _OPENER, url, str(go), str(r)], stderr=subprocess.PIPE,
                              text=True) for r in ready]  # fmt: skip
    while not all(r.exists() for r in ready) and all(p.poll() is None for p in procs):
        time.sleep(0.01)
    go.touch()
    errors = [p.communicate(timeout=120)[1] for p in procs]
    return [e for p, e in zip(procs, errors, strict=True) if p.returncode != 0]


def test_processes_opening_a_fresh_sqlite_ledger_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.sqlite"
    assert _open_from_processes(url, tmp_path) == []
    led = Ledger.open(url)
    try:
        _check_schema(led)
    finally:
        led.close()


@pytest.mark.postgres
def test_processes_opening_a_fresh_postgres_ledger_at_once(pg_url: str, tmp_path: Path) -> None:
    assert _open_from_processes(pg_url, tmp_path) == []
    led = Ledger.open(pg_url)
    try:
        _check_schema(led)
    finally:
        led.close()
