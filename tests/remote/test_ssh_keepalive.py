"""The keepalive watchdog of SSHExecutor against real sshd hosts: live sessions are left alone, and
the watchdog lives exactly as long as its connection. (A dead peer cut by it: tests/faults/test_host_faults.py.)"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from opskeeper.config.loader import load_estate
from opskeeper.config.ssh import SSHSettings
from opskeeper.remote import connect
from opskeeper.remote.fanout import Fleet
from opskeeper.remote.ssh import SSHExecutor, SSHPool
from opskeeper.remote.ssh_keepalive import KeepaliveWatchdog
from testbed import TestBed
from tests.remote.helpers import target

pytestmark = pytest.mark.sshd


def _watchdogs(*endpoints: str) -> list[threading.Thread]:
    names = {f"ssh-keepalive {e}" for e in endpoints} | {f"ssh-keepalive-probe {e}" for e in endpoints}
    return [t for t in threading.enumerate() if t.name in names and t.is_alive()]


def _none_left(*endpoints: str, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while _watchdogs(*endpoints) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _watchdogs(*endpoints)


def test_a_slow_command_and_a_quiet_stream_on_a_live_host_are_not_cut(fleet3: TestBed) -> None:
    """Every 0.5 s a probe; 3 unanswered intervals would cut the connection. A command silent for 5 s
    (10 intervals) and a stream silent for 4 s finish: a live sshd answers the probes (with a refusal
    of the request, which is an answer too)."""
    with SSHExecutor(target(fleet3.hosts[0], keepalive_s=0.5, keepalive_count=3)) as ex:
        ex.run(["true"])
        stream = ex.open_stream("sleep 4; echo done")
        res = ex.run("sleep 5; echo slept", timeout=60)
        assert (res.exit_code, res.stdout) == (0, "slept\n")
        assert stream.stdout.read() == b"done\n"
        assert stream.wait(timeout=10).exit_code == 0
        watchdog = ex.keepalive
        assert watchdog is not None and watchdog.verdict is None
        assert watchdog.answers >= 5, watchdog.answers  # it was probing all along
        assert ex.run(["echo", "still here"]).stdout == "still here\n"


def test_one_watchdog_per_connection_and_none_left_after_close(fleet3: TestBed) -> None:
    jump, dest = fleet3.hosts[1], fleet3.hosts[2]
    via, direct = target(dest, jump=target(jump, keepalive_s=0.2), keepalive_s=0.2), target(jump, keepalive_s=0.2)
    ends = (via.endpoint, direct.endpoint)
    with SSHPool() as pool:
        ex = pool.executor(via)
        assert ex.run(["true"]).ok
        assert {t.name for t in _watchdogs(*ends) if "probe" not in t.name} == {
            f"ssh-keepalive {via.endpoint}", f"ssh-keepalive {direct.endpoint}"}  # the host and its jump host
        first = ex.keepalive
        ex.connect().close()  # the connection drops: the next command reconnects with a new watchdog
        assert ex.run(["true"]).ok
        assert ex.keepalive is not first and first is not None and not first.running
        assert len([t for t in _watchdogs(via.endpoint) if "probe" not in t.name]) == 1
    assert _none_left(*ends), _watchdogs(*ends)
    assert ex.keepalive is None


def test_keepalive_needs_a_positive_interval_and_count(fleet3: TestBed) -> None:
    with SSHExecutor(target(fleet3.hosts[0])) as ex:
        transport = ex.connect()
        for interval, count in ((0, 3), (-1.0, 3), (1.0, 0)):
            with pytest.raises(ValueError, match="keepalive needs an interval > 0 and a count >= 1"):
                KeepaliveWatchdog(transport, interval_s=interval, count=count, endpoint="h")


def test_the_ssh_settings_reach_every_connection(fleet3: TestBed) -> None:
    estate = load_estate(fleet3.estate_path)
    ssh = SSHSettings(connect_timeout=timedelta(seconds=4), keepalive=timedelta(seconds=2), keepalive_count=5)
    hosts = [h for _, _, h in estate.all_hosts()]
    with Fleet.for_estate(estate, ssh=ssh) as fleet:
        t = fleet.target(hosts[0])
        assert (t.connect_timeout, t.keepalive_s, t.keepalive_count) == (4.0, 2.0, 5)
    with connect(hosts[1], estate=estate, ssh=ssh) as ex:
        assert isinstance(ex, SSHExecutor) and ex.run(["true"]).ok
        assert ex.keepalive is not None and (ex.keepalive.interval_s, ex.keepalive.count) == (2.0, 5)
