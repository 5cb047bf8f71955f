"""Maintenance core (no Prefect): windows, blackouts, forced runs, failures, partial runs, health samples.

Runs on a copy of the example estate with its data made by the demo, in this test's $OPSKEEPER_HOME.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from demos.estate import make_example_data
from opskeeper.config.estate import Estate
from opskeeper.config.loader import load_estate
from opskeeper.config.runbook import RunbookSet, load_runbooks
from opskeeper.config.types import Cadence
from opskeeper.errors import InputError
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.audit import AuditEntry
from opskeeper.ledger.core import HealthSample, Run, RunStatus, StepStatus
from opskeeper.maintenance import MaintenanceResult, Trigger, run_customer, threaded_runner
from opskeeper.paths import EXAMPLE_ESTATE, RUNBOOKS_DIR
from testbed import netns

VOLGA_OPEN = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)  # Sunday 04:00 MSK, inside 03:00-06:00
VOLGA_CLOSED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday afternoon
HANHAI_BLACKOUT = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # 12:00 CST, inside the month-end close

VOLGA_HOST = "          - {name: volga-tms-1, address: localhost, local: true, role: primary}\n"


def shipped_runbooks(dest: Path) -> Path:
    """The shipped runbooks, made independent of this machine's state: load and memory limits out of reach
    (other engineers' tests load the same 2 cores), and no apt-get simulation (about 9 s of CPU)."""
    dest.mkdir()
    for book in ("monthly", "quarterly", "annual"):
        text = (RUNBOOKS_DIR / f"{book}.yaml").read_text()
        if book == "monthly":
            limits = "mem_crit_pct: 95, load_per_cpu_crit: 4}"
            assert limits in text and "  - name: minor-patch-check" in text
            text = text.replace(
                limits, "mem_crit_pct: 101, load_per_cpu_warn: 1000, load_per_cpu_crit: 1000}"
            )
            text = text[: text.index("  - name: minor-patch-check")]
        (dest / f"{book}.yaml").write_text(text)
    return dest


def example_estate(
    tmp_path: Path, home: Path, monthly: str | None = None, second_volga_host: bool = False
) -> Path:
    """A copy of the example estate in tmp_path; ``monthly`` replaces the monthly runbook."""
    make_example_data(home)
    runbooks = shipped_runbooks(tmp_path / "runbooks")
    if monthly is not None:
        (runbooks / "monthly.yaml").write_text(monthly)
    text = EXAMPLE_ESTATE.read_text()
    assert "runbooks_dir: ../runbooks\n" in text and VOLGA_HOST in text
    text = text.replace("runbooks_dir: ../runbooks\n", f"runbooks_dir: {runbooks}\n")
    if second_volga_host:
        text = text.replace(
            VOLGA_HOST, VOLGA_HOST + VOLGA_HOST.replace("tms-1", "tms-2").replace("primary", "standby")
        )
    path = tmp_path / "opskeeper.yaml"
    path.write_text(text)
    return path


class Env:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.estate: Estate = load_estate(path)
        self.runbooks: RunbookSet = load_runbooks(self.estate.runbooks_dir)
        self.ledger = Ledger.open()

    def run(self, customer: str, now: datetime, **kw: object) -> MaintenanceResult:
        return run_customer(self.estate, self.runbooks, self.ledger, self.estate.customer(customer), Cadence.MONTHLY,
                            runner=threaded_runner(self.estate, self.runbooks, self.ledger), now=now, **kw)  # type: ignore[arg-type]  # fmt: skip

    def run_row(self, run_id: int) -> Run:
        run = ledger_runs.get_run(self.ledger, run_id)
        assert run is not None
        return run


SIMPLE = """
name: monthly
steps:
  - name: look
    run: echo looking
  - name: change
    requires_window: true
    run: touch {{ marker | default('%s') }}
"""


@pytest.fixture
def simple(tmp_path: Path, opskeeper_home: Path) -> Env:
    return Env(example_estate(tmp_path, opskeeper_home, SIMPLE % (tmp_path / "changed")))


def test_blackout_skips_and_records_why(simple: Env, tmp_path: Path) -> None:
    res = simple.run("hanhai", HANHAI_BLACKOUT)
    assert (res.status, res.reason, res.hosts) == (
        RunStatus.SKIPPED_BLACKOUT,
        "blackout: 月末结账 (month-end close)",
        [],
    )
    run = simple.run_row(res.run_id)
    assert (run.status, run.reason, run.period, run.steps) == ("skipped-blackout", res.reason, "2026-11", [])
    assert run.ended_at is not None and not (tmp_path / "changed").exists()


def test_outside_the_window_skips(simple: Env) -> None:
    res = simple.run("volga", VOLGA_CLOSED)
    assert res.status is RunStatus.SKIPPED_WINDOW
    assert res.reason == "outside the maintenance window; next opens 2026-11-29 03:00 MSK"
    assert simple.run_row(res.run_id).status == "skipped-window"


def test_force_window_runs_gated_steps_and_is_audited(simple: Env, tmp_path: Path) -> None:
    res = simple.run("volga", VOLGA_CLOSED, force_window=True, trigger=Trigger("manual", "alice"))
    assert (res.status, res.reason) == (RunStatus.OK, "forced outside the maintenance window")
    assert (tmp_path / "changed").exists()
    run = simple.run_row(res.run_id)
    assert (run.force_window, run.triggered_by) == (True, "alice")
    assert [(s.step, s.status) for s in run.steps] == [("look", "ok"), ("change", "ok")]
    with simple.ledger.session() as s:
        actions = s.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.subject)
                            .order_by(AuditEntry.seq)).all()  # fmt: skip
    assert [tuple(a) for a in actions] == [("alice", "run.force-window", f"run/{res.run_id}"),
                                           ("opskeeper", "run.finished", f"run/{res.run_id}")]  # fmt: skip
    assert simple.ledger.verify_audit()[1] == []


def test_force_window_inside_a_blackout_says_so(simple: Env) -> None:
    res = simple.run("hanhai", HANHAI_BLACKOUT, force_window=True)
    assert res.reason == "forced inside blackout '月末结账 (month-end close)'"
    assert res.status is RunStatus.OK


def test_dry_run_outside_the_window_changes_nothing(simple: Env, tmp_path: Path) -> None:
    res = simple.run("volga", VOLGA_CLOSED, dry_run=True)
    assert res.status is RunStatus.OK and res.reason.startswith("dry run: nothing was changed")
    run = simple.run_row(res.run_id)
    assert run.dry_run and [s.status for s in run.steps] == ["skipped", "skipped"]
    assert not (tmp_path / "changed").exists()


def test_failing_step_fails_the_run(tmp_path: Path, opskeeper_home: Path) -> None:
    env = Env(
        example_estate(tmp_path, opskeeper_home, "name: monthly\nsteps:\n  - {name: broken, run: 'exit 3'}\n")
    )
    res = env.run("volga", VOLGA_OPEN)
    assert res.status is RunStatus.FAILED
    assert [(h.host, h.status, h.failed) for h in res.hosts] == [
        ("volga-tms-1", StepStatus.FAILED, ("broken",))
    ]
    run = env.run_row(res.run_id)
    assert run.status == "failed" and run.summary == res.summary()
    assert [(s.step, s.status, s.exit_code, s.error) for s in run.steps] == [
        ("broken", "failed", 3, "exit code 3, expected 0")]  # fmt: skip


def test_one_host_of_two_failing_is_partial(tmp_path: Path, opskeeper_home: Path) -> None:
    book = "name: monthly\nsteps:\n  - {name: ok, run: 'true'}\n  - {name: only-two, on: 'host:volga-tms-2', run: 'false'}\n"
    env = Env(example_estate(tmp_path, opskeeper_home, book, second_volga_host=True))
    res = env.run("volga", VOLGA_OPEN)
    assert res.status is RunStatus.PARTIAL
    assert sorted((h.host, h.status.value, h.steps) for h in res.hosts) == [
        ("volga-tms-1", "ok", 1), ("volga-tms-2", "failed", 2)]  # fmt: skip
    assert env.run_row(res.run_id).status == "partial"


def test_cadence_outside_the_tier_is_bad_input(simple: Env) -> None:
    simple.estate.tiers["advanced"].cadences.remove(Cadence.MONTHLY)
    with pytest.raises(
        InputError, match="customer volga: tier 'advanced' does not include monthly maintenance"
    ):
        simple.run("volga", VOLGA_OPEN)
    with simple.ledger.session() as s:
        assert s.execute(select(func.count(Run.id))).scalar_one() == 0


def test_shipped_monthly_runbook_in_the_window(tmp_path: Path, opskeeper_home: Path) -> None:
    """The real monthly runbook on this machine: health, services, logs compressed, temp cleaned, samples kept."""
    env = Env(example_estate(tmp_path, opskeeper_home))
    res = env.run("volga", VOLGA_OPEN)
    run = env.run_row(res.run_id)
    steps = {s.step: s for s in run.steps}
    assert res.status is RunStatus.OK, [(s.step, s.status, s.error) for s in run.steps]
    assert list(steps) == ["health", "services", "compress-old-logs", "clean-temp", "optimise-databases"]
    assert steps["compress-old-logs"].detail == {"value": 3.0}  # the demo's three month-old logs
    assert steps["clean-temp"].detail == {"value": 3.0}
    assert steps["optimise-databases"].status == "skipped"  # volga has no databases configured
    base = opskeeper_home / "example" / "volga"
    assert sorted(p.name for p in (base / "logs").iterdir()) == [f"app-{i}.log.gz" for i in range(3)]
    assert list((base / "tmp").iterdir()) == []
    health = steps["health"].detail
    assert health is not None and {r["check"] for r in health["results"]} >= {"memory", "load", "disk"}
    with env.ledger.session() as s:
        samples = s.execute(select(HealthSample).where(HealthSample.run_id == res.run_id)).scalars().all()
    metrics = {(h.metric, h.subject) for h in samples}
    assert {("mem.used_pct", ""), ("disk.used_pct", "/"), ("load.5", "")} <= metrics
    assert {h.customer_id for h in samples} == {"volga"} and {h.host for h in samples} == {"volga-tms-1"}
    assert all(h.taken_at.tzinfo is not None for h in samples)


COUNTED = """
name: monthly
steps:
  - name: one
    run: echo "{{ host.name }} one" >> %(count)s
  - name: two
    run: test ! -e %(broken)s-{{ host.name }} && echo "{{ host.name }} two" >> %(count)s
  - name: three
    run: echo "{{ host.name }} three" >> %(count)s
"""


def _executions(count: Path) -> Counter[str]:
    return Counter(count.read_text().splitlines()) if count.exists() else Counter()


def test_rerun_resumes_and_again_repeats(tmp_path: Path, opskeeper_home: Path) -> None:
    """A host fails at step two: the re-run does only what is left; --again repeats all; the record says who did what."""
    count, broken = tmp_path / "count", tmp_path / "broken"
    env = Env(example_estate(tmp_path, opskeeper_home, COUNTED % {"count": count, "broken": broken},
                             second_volga_host=True))  # fmt: skip
    (tmp_path / "broken-volga-tms-2").touch()
    first = env.run("volga", VOLGA_OPEN)
    assert first.status is RunStatus.PARTIAL
    assert _executions(count) == Counter(["volga-tms-1 one", "volga-tms-1 two", "volga-tms-1 three", "volga-tms-2 one"])

    (tmp_path / "broken-volga-tms-2").unlink()  # repaired
    second = env.run("volga", VOLGA_OPEN + timedelta(minutes=20))
    assert second.status is RunStatus.OK
    assert _executions(count) == Counter({f"volga-tms-{h} {s}": 1 for h in (1, 2) for s in ("one", "two", "three")})
    assert second.reason == f"resumed: 4 step(s) done earlier by run(s) {first.run_id} not repeated"
    by_host = {h.host: h for h in second.hosts}
    assert (by_host["volga-tms-1"].done_earlier, by_host["volga-tms-1"].steps) == (3, 3)
    assert (by_host["volga-tms-2"].done_earlier, by_host["volga-tms-2"].steps) == (1, 3)
    rows = [(s.host, s.step, s.status, (s.detail or {}).get("done_in_run"), s.output)
            for s in env.run_row(second.run_id).steps]  # fmt: skip
    earlier = f"done earlier by run {first.run_id}"
    assert sorted(rows) == sorted([
        ("volga-tms-1", "one", "skipped", first.run_id, earlier), ("volga-tms-1", "two", "skipped", first.run_id, earlier),
        ("volga-tms-1", "three", "skipped", first.run_id, earlier), ("volga-tms-2", "one", "skipped", first.run_id, earlier),
        ("volga-tms-2", "two", "ok", None, ""), ("volga-tms-2", "three", "ok", None, ""),
    ])  # fmt: skip
    summary = env.run_row(second.run_id).summary or {}
    assert summary["resumed_from"] == [first.run_id] and summary["again"] is False

    third = env.run("volga", VOLGA_OPEN + timedelta(minutes=40), again=True, trigger=Trigger("manual", "alice"))
    assert third.status is RunStatus.OK and third.reason == "" and third.resumed_from == []
    assert set(_executions(count).values()) == {2}  # every step once more, on both hosts
    with env.ledger.session() as s:
        again = s.execute(select(AuditEntry.actor, AuditEntry.subject)
                          .where(AuditEntry.action == "maintenance.again")).all()  # fmt: skip
    assert [tuple(a) for a in again] == [("alice", f"run/{third.run_id}")]

    fourth = env.run("volga", VOLGA_OPEN + timedelta(minutes=60))
    assert fourth.status is RunStatus.OK and fourth.nothing_left
    assert set(_executions(count).values()) == {2}  # nothing repeated
    assert fourth.resumed_from == [third.run_id]  # the newest run that did each step


def test_a_rolled_back_step_is_not_done(tmp_path: Path, opskeeper_home: Path) -> None:
    """A failure rolled back the steps before it: the re-run does them again."""
    count = tmp_path / "count"
    book = (COUNTED % {"count": count, "broken": tmp_path / "broken"}).replace(
        "    run: echo \"{{ host.name }} one\"", f"    rollback: echo undo >> {count}\n    run: echo \"{{{{ host.name }}}} one\""
    ).replace("  - name: two\n", "  - name: two\n    on_failure: rollback\n")
    env = Env(example_estate(tmp_path, opskeeper_home, book))
    (tmp_path / "broken-volga-tms-1").touch()
    assert env.run("volga", VOLGA_OPEN).status is RunStatus.FAILED
    assert _executions(count) == Counter(["volga-tms-1 one", "undo"])
    (tmp_path / "broken-volga-tms-1").unlink()
    again = env.run("volga", VOLGA_OPEN + timedelta(minutes=20))
    assert again.status is RunStatus.OK and again.resumed_from == []
    assert _executions(count) == Counter({"volga-tms-1 one": 2, "undo": 1, "volga-tms-1 two": 1, "volga-tms-1 three": 1})


def _bed_runbook(estate_path: str, dir: Path, hosts_dir: str, sleep_s: int) -> Path:
    """The bed's estate with a runbook whose every step appends to the host's own count file (over SSH)."""
    count = f"{hosts_dir}/{{{{ host.name }}}}/data/count"
    book = {"name": "monthly", "steps": [
        {"name": "first", "run": f"echo first >> {count}"},
        {"name": "slow", "run": f"sleep {sleep_s} && echo slow >> {count}", "timeout": "1m"},
        {"name": "last", "run": f"echo last >> {count}"},
    ]}  # fmt: skip
    (dir / "runbooks").mkdir(exist_ok=True)
    (dir / "runbooks" / "monthly.yaml").write_text(yaml.safe_dump(book))
    data = yaml.safe_load(Path(estate_path).read_text())
    data["runbooks_dir"] = str(dir / "runbooks")
    path = dir / "estate.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_host_dies_mid_run_and_the_rerun_does_only_the_rest(fleet_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Over SSH: one host's sshd and sessions are killed in the slow step; the re-run finishes that host's last two
    steps and never connects to the host that finished (its sshd is down by then); --again repeats all."""
    bed = fleet_factory(2)
    healthy, crashed = bed.hosts
    hosts_dir = str(Path(healthy.dir).parent)
    start = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)  # the bed's customer: always in its window, no blackout

    def counts() -> dict[str, list[str]]:
        return {h.name: (Path(h.data_dir) / "count").read_text().split() for h in bed.hosts
                if (Path(h.data_dir) / "count").exists()}  # fmt: skip

    def run(now: datetime, **kw: object) -> MaintenanceResult:
        env = Env(path)
        return run_customer(env.estate, env.runbooks, env.ledger, env.estate.customers[0], Cadence.MONTHLY,
                            runner=threaded_runner(env.estate, env.runbooks, env.ledger), now=now, **kw)  # type: ignore[arg-type]  # fmt: skip

    path = _bed_runbook(bed.estate_path, tmp_path, hosts_dir, sleep_s=4)
    result: dict[str, MaintenanceResult] = {}
    worker = threading.Thread(target=lambda: result.update(first=run(start)))
    worker.start()
    deadline = time.monotonic() + 60
    while counts().get(crashed.name) != ["first"] or counts().get(healthy.name) != ["first"]:
        assert time.monotonic() < deadline, counts()
        time.sleep(0.1)
    # The host dies mid-step: every process in it (sshd, the session, its `sleep`) is killed at once.
    netns.kill_pids(crashed.pids())
    crashed.kill_sshd(sessions=True)
    worker.join(60)
    first = result["first"]
    assert first.status is RunStatus.PARTIAL
    assert counts() == {healthy.name: ["first", "slow", "last"], crashed.name: ["first"]}

    crashed.start_sshd()  # repaired
    healthy.kill_sshd(sessions=True)  # the finished host is down now: the re-run must not need it
    path = _bed_runbook(bed.estate_path, tmp_path, hosts_dir, sleep_s=0)
    second = run(start + timedelta(minutes=30))
    assert second.status is RunStatus.OK, second.summary()
    assert counts() == {healthy.name: ["first", "slow", "last"], crashed.name: ["first", "slow", "last"]}
    by_host = {h.host: (h.done_earlier, h.steps, h.earlier_runs) for h in second.hosts}
    assert by_host == {healthy.name: (3, 3, (first.run_id,)), crashed.name: (1, 3, (first.run_id,))}

    healthy.start_sshd()
    third = run(start + timedelta(minutes=60), again=True)
    assert third.status is RunStatus.OK
    assert counts() == {h.name: ["first", "slow", "last"] * 2 for h in bed.hosts}


def test_a_run_that_waited_for_the_host_does_not_repeat_what_the_holder_did(tmp_path: Path, opskeeper_home: Path) -> None:
    """Two runs of the period at once (a manual run during the tick's): the second waits for the host lock,
    then finds every step done by the first."""
    count = tmp_path / "count"
    book = (COUNTED % {"count": count, "broken": tmp_path / "broken"}).replace(
        "  - name: two\n    run: ", "  - name: two\n    run: sleep 2 && ")
    env = Env(example_estate(tmp_path, opskeeper_home, book))
    result: dict[str, MaintenanceResult] = {}
    holder = threading.Thread(target=lambda: result.update(first=env.run("volga", VOLGA_OPEN)))
    holder.start()
    deadline = time.monotonic() + 30
    while _executions(count) != Counter(["volga-tms-1 one"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = env.run("volga", VOLGA_OPEN + timedelta(minutes=1))  # waits for the host while `sleep 2` runs
    holder.join(30)
    first = result["first"]
    assert (first.status, second.status) == (RunStatus.OK, RunStatus.OK)
    assert _executions(count) == Counter({f"volga-tms-1 {s}": 1 for s in ("one", "two", "three")})
    assert [(h.done_earlier, h.steps, h.earlier_runs) for h in second.hosts] == [(3, 3, (first.run_id,))]
