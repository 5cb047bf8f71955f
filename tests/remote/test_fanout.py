"""Fan-out over test-bed hosts: isolation of failures, per-host results, host locks, remote facts."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from opskeeper.checks.facts_remote import collect_remote
from opskeeper.config.loader import load_estate
from opskeeper.config.ssh import SSHSettings
from opskeeper.errors import WorkFailed
from opskeeper.remote.fanout import FanoutStatus, Fleet, HostOutcome, fan_out, select_hosts
from opskeeper.remote.locks import FileHostLocks
from testbed import TestBed

pytestmark = pytest.mark.sshd


def test_failures_stay_with_their_host(fleet_factory) -> None:
    bed = fleet_factory(6)
    estate = load_estate(bed.estate_path)
    ok1, ok2, changed, down, dark, failing = bed.hosts
    changed.change_host_key()  # the estate still pins the old key
    down.kill_sshd()  # down before the run

    def work(host, ex) -> str:
        if host.name == dark.name:
            threading.Timer(0.3, dark.link_down).start()  # goes dark during the run
        res = ex.run("sleep 0.6; hostname -I", timeout=2)
        if host.name == failing.name:
            raise WorkFailed(f"{host.name}: check failed")
        return res.stdout.strip()

    with Fleet.for_estate(estate, ssh=SSHSettings(connect_timeout=timedelta(seconds=1))) as fleet:
        result = fan_out(select_hosts(estate), work, fleet=fleet, concurrency=4)
    outcomes = {r.host: r.outcome for r in result.results}
    assert outcomes == {
        ok1.name: HostOutcome.OK, ok2.name: HostOutcome.OK, changed.name: HostOutcome.REFUSED,
        down.name: HostOutcome.UNREACHABLE, dark.name: HostOutcome.TIMEOUT, failing.name: HostOutcome.FAILED,
    }
    assert result.status is FanoutStatus.PARTIAL
    assert result.by_host()[ok1.name].value == ok1.address
    assert all(r.error and r.host in r.error for r in result.failed)


def test_two_runs_on_one_host_serialize(fleet3: TestBed, tmp_path: Path) -> None:
    estate = load_estate(fleet3.estate_path)
    target = select_hosts(estate, role="primary")
    spans: list[tuple[float, float]] = []

    def work(host, ex) -> None:
        out = ex.run("date +%s.%N; sleep 0.4; date +%s.%N").stdout.split()
        spans.append((float(out[0]), float(out[1])))

    def one_run(owner: str) -> None:
        # separate lock objects = separate open files: flock serializes them like two processes
        with Fleet.for_estate(estate) as fleet:
            res = fan_out(target, work, fleet=fleet, locks=FileHostLocks(tmp_path / "locks"), lock_owner=owner)
        assert res.status is FanoutStatus.OK

    runs = [threading.Thread(target=one_run, args=(f"run-{i}",)) for i in range(2)]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    (a_start, a_end), (b_start, b_end) = sorted(spans)
    assert a_end <= b_start


def test_a_locked_host_is_reported_busy(fleet3: TestBed, tmp_path: Path) -> None:
    estate = load_estate(fleet3.estate_path)
    holder = FileHostLocks(tmp_path / "locks")
    name = fleet3.hosts[1].name
    with holder.hold(name, owner="drill-42"), Fleet.for_estate(estate) as fleet:
        res = fan_out(select_hosts(estate), lambda h, ex: ex.run(["true"]).ok, fleet=fleet,
                      locks=FileHostLocks(tmp_path / "locks"), lock_timeout=0.2)
    assert res.by_host()[name].outcome is HostOutcome.BUSY and "drill-42" in res.by_host()[name].error
    assert res.status is FanoutStatus.PARTIAL


def test_remote_facts_have_the_local_shape(fleet3: TestBed) -> None:
    estate = load_estate(fleet3.estate_path)
    with Fleet.for_estate(estate) as fleet:
        res = fan_out(select_hosts(estate), lambda h, ex: collect_remote(ex, cpu_sample_s=0.05), fleet=fleet)
    assert res.status is FanoutStatus.OK
    for h in fleet3.hosts:
        facts = res.by_host()[h.name].value
        assert {(s.address, s.port) for s in facts.listening} == {(h.address, 22), ("0.0.0.0", 8080)}
        assert facts.disk("/") is not None and "sshd" in facts.processes and facts.mem_total > 0


def test_hosts_without_python_fall_back_to_the_sh_probe(fleet3: TestBed) -> None:
    estate = load_estate(fleet3.estate_path)
    with Fleet.for_estate(estate) as fleet:
        ex = fleet.executor(select_hosts(estate)[0].host)
        facts = collect_remote(ex, cpu_sample_s=0.05, python="no-such-python3")  # exit 127 on the host
    h = fleet3.hosts[0]
    assert {(s.address, s.port) for s in facts.listening} == {(h.address, 22), ("0.0.0.0", 8080)}
    assert facts.disk("/") is not None and "sshd" in facts.processes


def test_selection_by_role_and_label(fleet3: TestBed) -> None:
    estate = load_estate(fleet3.estate_path)
    assert [r.host.name for r in select_hosts(estate, role="standby")] == [fleet3.hosts[1].name]
    assert [r.host.name for r in select_hosts(estate, labels=["testbed", "idx2"])] == [fleet3.hosts[2].name]
    assert len(select_hosts(estate, customer="testbed", system="fleet")) == 3
