"""Host faults over real SSH (the fleet test bed): sshd killed mid-stream, a hung session.

A host dying mid-step (sshd and its sessions killed, or its link taken down) is
``test_maintenance_faults.py::test_hosts_die_mid_step_over_ssh``. Here each test ends the same way:
the failure is on record for the faulted host only, the other hosts finish, and the re-run finishes
the job: every (host, step) ends up done exactly once across the period's runs (the re-run resumes;
a step whose outcome never came back is not done, so it runs again).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from opskeeper.config.loader import load_estate
from opskeeper.ledger import Ledger
from opskeeper.ledger.core import RunStatus, StepResult
from opskeeper.remote.interface import ExecutorError, HostUnreachable
from opskeeper.remote.ssh import SSHExecutor
from testbed import TestBed
from testbed.host import TestHost
from testbed.netns import kill_pids
from tests.faults.estates import bed_estate
from tests.faults.procs import wait_for
from tests.faults.test_maintenance_faults import _ssh_run, _steps

STEPS = ("first", "stream", "last")
LINES = 120  # lines the stream step prints, one every 50 ms: about 6 s of output


def _stream_estate(bed: TestBed, dir: Path, lines: int, timeout: str) -> Path:
    """The bed's estate with monthly.yaml: ``first``, ``stream`` (prints ``lines`` lines over time and
    counts them into the host's data dir, which this test reads), ``last``."""
    estate = bed_estate(bed.estate_path, dir, sleep_s=0)
    hosts_dir = os.path.dirname(bed.hosts[0].dir)
    progress = f"{hosts_dir}/{{{{ host.name }}}}/data/progress"
    stream = (f"i=0; while [ $i -lt {lines} ]; do i=$((i+1)); echo \"line $i\"; echo $i > {progress}; "
              "sleep 0.05; done")  # fmt: skip
    steps = [{"name": "first", "run": "echo first done"},
             {"name": "stream", "run": stream, "timeout": timeout},
             {"name": "last", "run": "echo last done"}]  # fmt: skip
    (dir / "runbooks" / "monthly.yaml").write_text(yaml.safe_dump({"name": "monthly", "steps": steps}))
    return estate


def _progress(host: TestHost) -> int:
    try:
        return int((Path(host.data_dir) / "progress").read_text() or 0)
    except (OSError, ValueError):
        return 0


RunOutcome = tuple[int, RunStatus, dict[str, dict[str, StepResult]]]  # what _ssh_run returns


def _in_background(estate: Path) -> tuple[threading.Thread, list[RunOutcome]]:
    result: list[RunOutcome] = []
    worker = threading.Thread(target=lambda: result.append(_ssh_run(estate)), daemon=True)
    worker.start()
    return worker, result


def _once_each(ledger: Ledger, run_ids: list[int], hosts: list[TestHost]) -> None:
    """Nothing lost, nothing duplicated: across the runs each (host, step) is ``ok`` exactly once, and
    every other row of a later run is a step skipped as done earlier."""
    rows: list[StepResult] = [st for r in run_ids for st in _steps(ledger, r)]
    done = Counter((st.host, st.step) for st in rows if st.status == "ok")
    assert done == Counter({(h.name, s): 1 for h in hosts for s in STEPS}), sorted(done.items())
    count, problems = ledger.verify_audit()
    assert not problems and count > 0


def test_sshd_killed_mid_stream(fleet_factory: Callable[..., TestBed], tmp_path: Path) -> None:
    """While every host streams output: one host's sshd and its sessions are SIGKILLed."""
    bed = fleet_factory(3)
    crashed, *healthy = bed.hosts
    estate = _stream_estate(bed, tmp_path, LINES, timeout="60s")
    worker, result = _in_background(estate)
    wait_for("output streaming from every host", lambda: all(_progress(h) >= 10 for h in bed.hosts), 60)
    crashed.kill_sshd(sessions=True)
    at_kill = _progress(crashed)
    worker.join(60)
    assert not worker.is_alive(), "the run hangs after sshd was killed"
    run_id, status, by_host = result[0]
    errors = {h: {k: (v.status, v.error) for k, v in st.items()} for h, st in by_host.items()}
    assert status == RunStatus.PARTIAL, errors
    for h in healthy:  # the others finish, with every line of their output
        assert {k: v.status for k, v in by_host[h.name].items()} == dict.fromkeys(STEPS, "ok"), errors
        assert (by_host[h.name]["stream"].output or "").splitlines()[-1] == f"line {LINES}"
    lost = by_host[crashed.name]
    assert lost["first"].status == "ok" and lost["stream"].status == "error", errors
    assert crashed.name in (lost["stream"].error or "") and "connection lost" in (lost["stream"].error or "")
    assert "last" not in lost or lost["last"].status == "skipped", errors
    left_at = _progress(crashed)
    time.sleep(0.3)  # six lines' time
    assert at_kill <= left_at == _progress(crashed) < LINES  # the command died with its session: no ghost

    crashed.start_sshd()
    _stream_estate(bed, tmp_path, lines=3, timeout="60s")
    rerun_id, status, by_host = _ssh_run(estate)
    assert status == RunStatus.OK, by_host
    assert by_host[crashed.name]["stream"].status == "ok"
    assert (by_host[crashed.name]["stream"].output or "").splitlines() == ["line 1", "line 2", "line 3"]
    _once_each(Ledger.open(), [run_id, rerun_id], bed.hosts)


@pytest.fixture
def frozen() -> Iterator[list[TestHost]]:
    """Hosts whose sshd processes the test SIGSTOPs (listener and sessions); SIGCONTed in any case."""
    hosts: list[TestHost] = []
    yield hosts
    for h in hosts:
        kill_pids(h.pids("sshd"), signal.SIGCONT)


def test_hung_session_is_cut_by_the_step_timeout(
    fleet_factory: Callable[..., TestBed], tmp_path: Path, frozen: list[TestHost]
) -> None:
    """One host's sshd is frozen (SIGSTOP) mid-stream: the TCP connection stays up and nothing answers,
    so nothing is refused or reset. The step's timeout ends the wait; the run does not hang."""
    bed = fleet_factory(3)
    stuck, *healthy = bed.hosts
    estate = _stream_estate(bed, tmp_path, lines=60, timeout="8s")  # 3 s of output, 8 s allowed
    worker, result = _in_background(estate)
    wait_for("output streaming from every host", lambda: all(_progress(h) >= 5 for h in bed.hosts), 60)
    frozen.append(stuck)
    kill_pids(stuck.pids("sshd"), signal.SIGSTOP)
    worker.join(60)  # the step's timeout is 8 s
    assert not worker.is_alive(), "the run hangs on a frozen host"
    run_id, status, by_host = result[0]
    errors = {h: {k: (v.status, v.error) for k, v in st.items()} for h, st in by_host.items()}
    assert status == RunStatus.PARTIAL, errors
    for h in healthy:
        assert {k: v.status for k, v in by_host[h.name].items()} == dict.fromkeys(STEPS, "ok"), errors
    hung = by_host[stuck.name]["stream"]
    assert hung.status == "error" and "timed out after 8s" in (hung.error or ""), errors
    assert stuck.name in (hung.error or ""), errors

    kill_pids(stuck.pids("sshd"), signal.SIGCONT)  # the host comes back
    _stream_estate(bed, tmp_path, lines=3, timeout="8s")
    rerun_id, status, by_host = _ssh_run(estate)
    assert status == RunStatus.OK, by_host
    # The frozen host's stream step never reported: it is not done, so the re-run ran it again.
    assert by_host[stuck.name]["stream"].status == "ok"
    _once_each(Ledger.open(), [run_id, rerun_id], bed.hosts)


KEEPALIVE_S = 1
DETECT_WITHIN_S = 6.0  # three keepalives unanswered, and some slack on two busy cores


def _link_down(host: TestHost, frozen: list[TestHost]) -> None:
    host.link_down()


def _sshd_stopped(host: TestHost, frozen: list[TestHost]) -> None:
    frozen.append(host)
    kill_pids(host.pids("sshd"), signal.SIGSTOP)


def _one_host(fleet_factory: Callable[..., TestBed]) -> tuple[TestHost, SSHExecutor]:
    """A one-host bed and an executor to it with a fast keepalive."""
    bed = fleet_factory(1)
    [host] = bed.hosts
    system = load_estate(Path(bed.estate_path)).customers[0].systems[0]
    return host, SSHExecutor.from_host(system.host(host.name), keepalive_s=KEEPALIVE_S)


@pytest.mark.parametrize("fault", [_link_down, _sshd_stopped], ids=["link-down", "sshd-stopped"])
def test_a_dead_peer_is_found_by_the_keepalive_not_the_step_timeout(
    fleet_factory: Callable[..., TestBed], frozen: list[TestHost],
    fault: Callable[[TestHost, list[TestHost]], None],
) -> None:  # fmt: skip
    host, ex = _one_host(fleet_factory)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = ex.run("sleep 30", timeout=120)
        except ExecutorError as e:
            outcome["error"] = e
        outcome["after_s"] = time.monotonic() - started

    ex.run("true", timeout=10)  # connected
    worker = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    worker.start()
    wait_for("the command on the host", lambda: bool(host.pids("sleep")), 10)
    fault(host, frozen)
    worker.join(DETECT_WITHIN_S)
    detected = not worker.is_alive()
    ex.close()  # unblocks a run still waiting (its channel closes)
    worker.join(10)
    host.link_up()
    assert detected, f"still waiting {DETECT_WITHIN_S:g}s after the fault (keepalive every {KEEPALIVE_S}s)"
    assert isinstance(outcome.get("error"), HostUnreachable), outcome
    assert host.name in str(outcome["error"]) and "no answer to a keepalive" in str(outcome["error"])


@pytest.mark.parametrize("fault", [_link_down, _sshd_stopped], ids=["link-down", "sshd-stopped"])
def test_a_stream_from_a_dead_peer_ends_by_the_keepalive_not_its_idle_timeout(
    fleet_factory: Callable[..., TestBed], frozen: list[TestHost],
    fault: Callable[[TestHost, list[TestHost]], None],
) -> None:  # fmt: skip
    """A backup stream waits up to 600 s for its next byte; a dead peer ends it after three keepalives."""
    host, ex = _one_host(fleet_factory)
    stream = ex.open_stream("echo first; sleep 30; echo never")
    assert stream.stdout.readline() == b"first\n"
    outcome: dict[str, object] = {}

    def read() -> None:
        try:
            outcome["rest"] = stream.stdout.read()
        except ExecutorError as e:
            outcome["error"] = e

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    fault(host, frozen)
    worker.join(DETECT_WITHIN_S)
    detected = not worker.is_alive()
    ex.close()
    worker.join(10)
    host.link_up()
    assert detected, f"still waiting {DETECT_WITHIN_S:g}s after the fault (keepalive every {KEEPALIVE_S}s)"
    assert isinstance(outcome.get("error"), HostUnreachable), outcome
    assert f"{host.name} " in str(outcome["error"]) and "connection lost while streaming" in str(outcome["error"])
