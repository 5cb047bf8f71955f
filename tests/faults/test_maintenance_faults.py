"""House rule 4 for maintenance, with real faults on real processes: kill -9 mid-run, a host dying
mid-step over SSH, a full disk under the ledger, two CLI processes on one SQLite ledger.

Each test checks the same three things: the ledger is consistent right after the fault (audit chain
intact, no half-written run), a re-run finishes the job, and nothing is done or told twice.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections import Counter
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from opskeeper.config.loader import load_estate
from opskeeper.config.runbook import load_runbooks
from opskeeper.config.types import Cadence
from opskeeper.ledger import Ledger
from opskeeper.ledger.core import Run, RunStatus, StepResult
from opskeeper.maintenance import run_customer, threaded_runner
from tests.faults.estates import bed_estate, example_estate, set_sleep
from tests.faults.procs import finish, kill_group, opskeeper, wait_for

MONTHLY = ["maintenance", "run", "monthly", "--force-window", "--json"]


def _runs(ledger: Ledger) -> list[Run]:
    with ledger.session() as s:
        return list(s.scalars(select(Run).where(Run.kind == "maintenance").order_by(Run.id)))


def _steps(ledger: Ledger, run_id: int) -> list[StepResult]:
    with ledger.session() as s:
        return list(s.scalars(select(StepResult).where(StepResult.run_id == run_id).order_by(StepResult.id)))


def _step_recorded(ledger: Ledger, step: str) -> bool:
    with ledger.session() as s:
        return s.scalar(select(StepResult.id).where(StepResult.step == step).limit(1)) is not None


def _audit_ok(estate: Path, env: dict[str, str]) -> int:
    rc, out = finish(opskeeper(["-c", str(estate), "audit", "verify"], env), timeout=60)
    assert rc == 0, out
    return int(out.split("intact:")[1].split()[0])


def _outbox(home: Path) -> Counter[str]:
    """Messages in the outbox by event (file names are keyed: a resend replaces, never adds)."""
    names = [p.name for p in (home / "outbox").glob("*.eml")]
    return Counter(n.split("-")[1] for n in names)


def test_kill_9_mid_run_then_rerun_finishes_once(
    tmp_path: Path, opskeeper_home: Path, cli_env: dict[str, str]
) -> None:
    estate = example_estate(tmp_path, opskeeper_home, sleep_s=30)
    ledger = Ledger.open()
    proc = opskeeper(["-c", str(estate), *MONTHLY, "--customer", "volga"], cli_env)
    wait_for("the first step on record", lambda: _step_recorded(ledger, "first"), 120, proc)
    kill_group(proc)  # SIGKILL to the CLI and its children, while `sleep 30` runs

    [killed] = _runs(ledger)
    assert killed.status == RunStatus.RUNNING and killed.ended_at is None
    assert [s.step for s in _steps(ledger, killed.id)] == ["first"]
    _audit_ok(estate, cli_env)

    set_sleep(tmp_path, 0)
    rc, out = finish(opskeeper(["-c", str(estate), *MONTHLY, "--customer", "volga"], cli_env))
    assert rc == 0, out
    old, new = _runs(ledger)
    assert old.id == killed.id and old.status == RunStatus.ABANDONED and old.ended_at is not None
    assert "abandoned" in (old.reason or "")
    assert new.status == RunStatus.OK, new.reason
    steps = [(s.host, s.step) for s in _steps(ledger, new.id)]
    assert sorted(steps) == sorted(set(steps)) and [s for _, s in steps] == ["first", "slow", "last"]
    assert _audit_ok(estate, cli_env) > 0
    sent = _outbox(opskeeper_home)
    assert sent["maintenance_started"] == 2, sent  # one per run: the killed one was announced too
    assert sent["maintenance_completed"] == 1 and sent["maintenance_failed"] == 0, sent


def _ssh_run(estate_path: Path) -> tuple[int, RunStatus, dict[str, dict[str, StepResult]]]:
    estate = load_estate(estate_path)
    runbooks = load_runbooks(estate.runbooks_dir)
    ledger = Ledger.open()
    res = run_customer(estate, runbooks, ledger, estate.customers[0], Cadence.MONTHLY,
                       runner=threaded_runner(estate, runbooks, ledger), force_window=True)  # fmt: skip
    by_host: dict[str, dict[str, StepResult]] = {}
    for st in _steps(ledger, res.run_id):
        assert st.step not in by_host.setdefault(st.host, {}), f"duplicate step row {st.host}/{st.step}"
        by_host[st.host][st.step] = st
    return res.run_id, res.status, by_host


def test_hosts_die_mid_step_over_ssh(fleet_factory, tmp_path: Path) -> None:
    """While `sleep 8` runs everywhere: host 1's sshd and sessions are killed, host 2's link goes down."""
    bed = fleet_factory(3)
    estate = bed_estate(bed.estate_path, tmp_path, sleep_s=8, timeout="12s")
    healthy, crashed, unplugged = bed.hosts
    result: dict[str, object] = {}
    worker = threading.Thread(target=lambda: result.update(run=_ssh_run(estate)))
    worker.start()
    ledger = Ledger.open()
    wait_for("the first step on every host", lambda: len(_steps(ledger, 1)) >= 3, 60)
    crashed.kill_sshd(sessions=True)
    unplugged.link_down()  # packets vanish: only the step's timeout can tell
    worker.join(120)
    assert not worker.is_alive()
    _, status, by_host = result["run"]  # type: ignore[misc]
    errors = {h: {k: (v.status, v.error) for k, v in st.items()} for h, st in by_host.items()}
    assert status == RunStatus.PARTIAL, errors
    assert {k: v.status for k, v in by_host[healthy.name].items()} == {
        "first": "ok",
        "slow": "ok",
        "last": "ok",
    }
    for dead in (crashed, unplugged):
        steps = by_host[dead.name]
        assert steps["first"].status == "ok" and steps["slow"].status == "error", errors
        # "tb1-01 (opsktb@10.213.1.11:22): connection lost while running a command: closed by peer"
        # "tb1-02 (opsktb@10.213.1.12:22): command timed out after 12s: sh -c 'sleep 8'"
        assert dead.name in (steps["slow"].error or "") or dead.address in (steps["slow"].error or ""), errors
        assert "last" not in steps or steps["last"].status in ("skipped", "error"), errors
    count, problems = ledger.verify_audit()
    assert not problems and count > 0

    crashed.start_sshd()  # repaired
    unplugged.link_up()
    bed_estate(bed.estate_path, tmp_path, sleep_s=0)
    _, status, by_host = _ssh_run(estate)
    assert status == RunStatus.OK
    # The re-run resumes: what the first run did is recorded as done earlier (skipped), the rest runs once.
    assert {k: v.status for k, v in by_host[healthy.name].items()} == dict.fromkeys(["first", "slow", "last"], "skipped")
    for dead in (crashed, unplugged):
        assert {k: v.status for k, v in by_host[dead.name].items()} == {"first": "skipped", "slow": "ok", "last": "ok"}


@pytest.fixture
def tiny_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$OPSKEEPER_HOME on a 2 MiB tmpfs of its own (we are root); unmounted afterwards."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a tmpfs")
    home = tmp_path / "tiny-home"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2048k", "tmpfs", str(home)], check=True)
    monkeypatch.setenv("OPSKEEPER_HOME", str(home))
    yield home
    subprocess.run(["umount", "-l", str(home)], check=False)


def _fill(home: Path) -> None:
    """Fill the file system to the last byte (big writes, then smaller ones for the last blocks)."""
    fd = os.open(home / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)


def test_full_disk_under_the_ledger(tiny_home: Path, tmp_path: Path, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "OPSKEEPER_HOME": str(tiny_home)}
    estate = example_estate(tmp_path, tiny_home, sleep_s=0)
    ledger = Ledger.open()  # an existing ledger (schema at head) on a disk that then fills up
    ledger.close()
    _fill(tiny_home)
    # As an engineer types it (with --json the flow starts first and Prefect logs its traceback: reported).
    rc, out = finish(opskeeper(["-c", str(estate), *MONTHLY[:-1], "--customer", "volga"], env))
    assert rc in (1, 2), out
    assert "Traceback" not in out and "error:" in out and "ledger" in out, out
    assert "disk" in out.lower(), out  # SQLite says "disk I/O error" when it cannot create its WAL
    (tiny_home / "filler").unlink()  # SQLite cannot even read a WAL ledger on a full disk (no -shm file)
    ledger = Ledger.open()
    assert _runs(ledger) == [], "a half-written run"
    _audit_ok(estate, env)
    rc, out = finish(opskeeper(["-c", str(estate), *MONTHLY, "--customer", "volga"], env))
    assert rc == 0, out
    assert [r.status for r in _runs(ledger)][-1] == RunStatus.OK
    assert all(r.status != RunStatus.RUNNING for r in _runs(ledger))
    _audit_ok(estate, env)


def test_disk_fills_up_mid_run(tiny_home: Path, tmp_path: Path, cli_env: dict[str, str]) -> None:
    """A step fills the ledger's disk (a runaway log): the run cannot record it; a re-run after clean-up
    closes the stranded run and finishes."""
    env = {**cli_env, "OPSKEEPER_HOME": str(tiny_home)}
    estate = example_estate(tmp_path, tiny_home, sleep_s=0)
    runbook = tmp_path / "runbooks" / "monthly.yaml"
    steps = yaml.safe_load(runbook.read_text())
    steps["steps"][1] = {"name": "slow", "run": f"test -e {tmp_path}/cleaned || head -c 64M /dev/zero > {tiny_home}/runaway.log",
                         "on_failure": "continue"}  # fmt: skip
    runbook.write_text(yaml.safe_dump(steps))
    rc, out = finish(opskeeper(["-c", str(estate), *MONTHLY[:-1], "--customer", "volga"], env))
    assert rc == 1, out
    # Prefect's engine logs the flow's exception with its traceback (reported); the CLI then handles it.
    assert "error: ledger write failed" in out.rsplit("Traceback", 1)[-1] and "disk is full" in out, out

    (tiny_home / "runaway.log").unlink()
    (tmp_path / "cleaned").touch()
    ledger = Ledger.open()
    [stranded] = _runs(ledger)
    assert stranded.status in (RunStatus.RUNNING, RunStatus.FAILED)
    _audit_ok(estate, env)
    rc, out = finish(opskeeper(["-c", str(estate), *MONTHLY, "--customer", "volga"], env))
    assert rc == 0, out
    old, new = _runs(ledger)
    assert old.status in (RunStatus.ABANDONED, RunStatus.FAILED) and new.status == RunStatus.OK
    assert [s.step for s in _steps(ledger, new.id)] == ["first", "slow", "last"]
    _audit_ok(estate, env)


def test_two_processes_on_one_sqlite_ledger(
    tmp_path: Path, opskeeper_home: Path, cli_env: dict[str, str]
) -> None:
    estate = example_estate(tmp_path, opskeeper_home, customers=("hanhai", "volga"), sleep_s=2)
    procs = [opskeeper(["-c", str(estate), *MONTHLY, "--customer", c], cli_env) for c in ("hanhai", "volga")]
    outs = [finish(p) for p in procs]
    assert [rc for rc, _ in outs] == [0, 0], outs
    runs = _runs(Ledger.open())
    assert sorted((r.customer_id, r.status) for r in runs) == [
        ("hanhai", RunStatus.OK),
        ("volga", RunStatus.OK),
    ]
    for r in runs:
        assert [s.step for s in _steps(Ledger.open(), r.id)] == ["first", "slow", "last"]
    assert _audit_ok(estate, cli_env) >= 4  # each run: force-window and finished, at least
