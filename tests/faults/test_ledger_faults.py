"""Faults of a PostgreSQL ledger, on a private PostgreSQL instance (tests/faults/pg.py) that the test may
restart: two ticks at once, the server restarted under a running maintenance, the server down when a
step ends. Each ends in: nothing lost, nothing duplicated, the re-run finishes.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from opskeeper.ledger import Ledger
from opskeeper.ledger.core import Dispatch, RunStatus
from tests.faults.estates import always_open, example_estate, set_sleep
from tests.faults.pg import PrivatePostgres, pg_bin, private_postgres
from tests.faults.procs import PYTHON, finish, opskeeper, spawn, wait_for
from tests.faults.test_maintenance_faults import MONTHLY, _runs, _step_recorded, _steps

pytestmark = pytest.mark.postgres

CUSTOMERS = ("hanhai", "volga")

# A real tick in its own process. Every claim it makes is written out (past the flow's log_prints; the
# claim itself is the product's). Inside the flow, just before planning, it says it is ready and waits
# for the go-file: two ticks plan and claim at the same instant, whatever Prefect's start-up took.
TICK_AT_GO = r"""
import sys, time
from pathlib import Path
from opskeeper import scheduling
real_claim, real_plan = scheduling.claim, scheduling.plan_tick
def claim(ledger, kind, customer_id, subject, slot, **kw):
    won = real_claim(ledger, kind, customer_id, subject, slot, **kw)
    sys.__stdout__.write(f"claim {kind}/{customer_id}/{subject}/{slot}: {'won' if won else 'lost'}\n")
    return won
def plan_tick(estate, ledger, now):
    sys.__stdout__.write("ready\n")
    go = Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.002)
    return real_plan(estate, ledger, now)
scheduling.claim, scheduling.plan_tick = claim, plan_tick
from flows.tick import tick
print(tick(config=sys.argv[1]), flush=True)
"""


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    try:
        pg_bin("initdb")
    except FileNotFoundError as e:  # no PostgreSQL server binaries on this machine
        pytest.skip(str(e))
    with private_postgres() as pg:
        yield pg


@pytest.fixture
def ledger_url(private_pg: PrivatePostgres, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database on the private server, migrated, as this test's ledger (here and in its processes)."""
    url = private_pg.create_database(f"opsk_{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("OPSKEEPER_LEDGER_URL", url)
    cli_env["OPSKEEPER_LEDGER_URL"] = url
    Ledger.open(url).close()
    return url


def _claims(out: str) -> list[tuple[str, str]]:
    return re.findall(r"^claim (\S+): (won|lost)$", out, re.M)


def _two_ticks(estate: Path, env: dict[str, str], go: Path) -> list[str]:
    logs = [go.parent / f"tick-{i}.log" for i in (1, 2)]
    procs = [spawn([PYTHON, "-c", TICK_AT_GO, str(estate), str(go)], env, log=log) for log in logs]
    for p, log in zip(procs, logs, strict=True):
        wait_for("a tick ready", lambda log=log: "ready" in log.read_text(), 120, p)  # type: ignore[misc]
    go.touch()
    for p in procs:
        assert finish(p)[0] == 0, [log.read_text() for log in logs]
    return [log.read_text() for log in logs]


def test_two_ticks_at_once_on_postgres(
    tmp_path: Path, opskeeper_home: Path, cli_env: dict[str, str], ledger_url: str
) -> None:
    estate = example_estate(tmp_path, opskeeper_home, customers=CUSTOMERS, sleep_s=2)
    for c in CUSTOMERS:
        always_open(estate, c)
    outs = _two_ticks(estate, cli_env, tmp_path / "go")
    ledger = Ledger.open(ledger_url)

    # Both ticks planned both customers' monthly run (each tried to claim it): they really ran at once.
    tried = [Counter(key for key, _ in _claims(out) if key.startswith("maintenance/")) for out in outs]
    assert tried[0] == tried[1] and len(tried[0]) == len(CUSTOMERS), outs
    # Every piece of work (maintenance, scans, ...) was won by exactly one tick.
    won = Counter(key for out in outs for key, result in _claims(out) if result == "won")
    attempted = {key for out in outs for key, _ in _claims(out)}
    assert won == Counter(dict.fromkeys(attempted, 1)), outs
    runs = _runs(ledger)
    assert sorted((r.customer_id, r.status, r.trigger) for r in runs) == [
        (c, RunStatus.OK, "tick") for c in CUSTOMERS
    ], [(r.customer_id, r.status, r.reason) for r in runs]
    for r in runs:
        steps = [(s.host, s.step) for s in _steps(ledger, r.id)]
        assert len(steps) == len(set(steps)) and {s for _, s in steps} == {"first", "slow", "last"}
    with ledger.session() as s:
        assert s.scalars(select(Dispatch.kind).where(Dispatch.kind == "maintenance")).all() == [
            "maintenance"
        ] * len(CUSTOMERS)

    # The next tick finds it all done: nothing starts again.
    rc, out = finish(spawn([PYTHON, "-c", TICK_AT_GO, str(estate), str(tmp_path / "go")], cli_env))
    assert rc == 0 and not [k for k, r in _claims(out) if r == "won" and k.startswith("maintenance/")], out
    assert len(_runs(ledger)) == len(CUSTOMERS)
    assert ledger.verify_audit()[1] == []


def test_ledger_restarted_mid_run(
    tmp_path: Path, opskeeper_home: Path, cli_env: dict[str, str], ledger_url: str,
    private_pg: PrivatePostgres,
) -> None:  # fmt: skip
    """``pg_ctl restart -m fast`` while a step runs: every connection is cut, the host lock's too.

    The ledger's pool reconnects (pre-ping) and every step is recorded once; the host lock's session was lost
    with the server, which released the lock: releasing it again on a new session finds nothing held, so the run
    ends ok. A re-run in the period then finds nothing left and repeats nothing.
    """
    estate = example_estate(tmp_path, opskeeper_home, sleep_s=4)
    ledger = Ledger.open(ledger_url)
    proc = opskeeper(["-c", str(estate), *MONTHLY, "--customer", "volga"], cli_env)
    wait_for("the first step on record", lambda: _step_recorded(ledger, "first"), 120, proc)
    private_pg.restart("fast")
    rc, out = finish(proc)
    [run] = _runs(ledger)
    assert [(s.step, s.status) for s in _steps(ledger, run.id)] == [
        (n, "ok") for n in ("first", "slow", "last")
    ]
    assert rc == 0 and run.status == RunStatus.OK and run.ended_at is not None, (rc, run.status, out)
    assert "Traceback" not in out, out
    set_sleep(tmp_path, 0)
    rc, out = finish(opskeeper(["-c", str(estate), *MONTHLY, "--customer", "volga"], cli_env))
    assert rc == 0, out
    old, new = _runs(ledger)
    assert new.status == RunStatus.OK and new.summary["resumed_from"] == [old.id], new.reason  # type: ignore[index]
    assert {s.status for s in _steps(ledger, new.id)} == {"skipped"}  # done earlier: not repeated
    assert ledger.verify_audit()[1] == []


def test_ledger_down_when_a_step_ends_fails_cleanly_and_the_rerun_finishes(
    tmp_path: Path, opskeeper_home: Path, cli_env: dict[str, str], ledger_url: str,
    private_pg: PrivatePostgres,
) -> None:  # fmt: skip
    """The server is stopped while a step runs and started after the process gave up on the ledger."""
    estate = example_estate(tmp_path, opskeeper_home, sleep_s=2)
    ledger = Ledger.open(ledger_url)
    proc = opskeeper(["-c", str(estate), *MONTHLY[:-1], "--customer", "volga"], cli_env)
    wait_for("the first step on record", lambda: _step_recorded(ledger, "first"), 120, proc)
    private_pg.stop("fast")
    try:
        rc, out = finish(proc, timeout=120)  # it gives up; it does not hang on a ledger that is down
    finally:
        private_pg.start()
    assert rc == 1, out
    # The CLI's own line names the ledger (or the host lock kept in it) and why: which one the dead server
    # fails first depends on timing.
    assert re.search(
        r"^error: (ledger (write|read) failed \(postgresql\S+\): \w+Error: |.*advisory lock query failed: )", out, re.M
    ), out

    [stranded] = _runs(ledger)
    assert stranded.status == RunStatus.RUNNING and [s.step for s in _steps(ledger, stranded.id)] == ["first"]
    assert ledger.verify_audit()[1] == []
    set_sleep(tmp_path, 0)
    rc, out = finish(opskeeper(["-c", str(estate), *MONTHLY, "--customer", "volga"], cli_env))
    assert rc == 0, out
    old, new = _runs(ledger)
    assert old.id == stranded.id and old.status == RunStatus.ABANDONED
    assert new.status == RunStatus.OK, new.reason
    # Resumed: the step on record as done is not repeated; the one the dead ledger never heard of is.
    assert [(s.step, s.status) for s in _steps(ledger, new.id)] == [
        ("first", "skipped"),
        ("slow", "ok"),
        ("last", "ok"),
    ]
    assert ledger.verify_audit()[1] == []
