"""The test bed itself: hosts reachable, isolated, faults real, teardown complete."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from opskeeper.checks.facts import collect_local
from opskeeper.validate import validate_all
from testbed import TestBed


def _connects(address: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def test_hosts_are_namespaces_with_sshd_and_service(fleet3: TestBed) -> None:
    addresses = {h.address for h in fleet3.hosts}
    assert len(addresses) == 3
    for h in fleet3.hosts:
        assert h.exec("ip -4 -o addr show eth0").stdout.decode().split()[3] == f"{h.address}/24"
        assert urllib.request.urlopen(h.health_url, timeout=2).read() == b"ok\n"
        assert os.path.ismount(h.data_dir)
        assert h.host_key_line.startswith("ssh-ed25519 ")
    other = fleet3.hosts[1].address
    probe = f"/usr/bin/python3 -c \"import socket; socket.create_connection(('{other}', 22), 2)\""
    assert fleet3.hosts[0].exec(probe).returncode == 0


def test_faults_are_real_and_repairable(fleet_factory) -> None:
    bed = fleet_factory(1)
    h = bed.hosts[0]
    h.kill_sshd()
    assert not _connects(h.address, 22)
    h.start_sshd()
    assert _connects(h.address, 22)
    h.stop_service()
    assert not _connects(h.address, h.http_port)
    h.start_service()
    old = h.host_key_line
    assert h.change_host_key() != old
    h.exec(f"echo keep > {h.data_dir}/kept", check=True)
    h.fill_disk()
    assert Path(h.data_dir, "kept").read_text() == "keep\n"  # the data survives the switch to the small disk
    disks = {d.mount: d for d in collect_local(cpu_sample_s=0).disks}
    assert disks[h.data_dir].used_pct == 100.0  # a real block device: fact collectors see it full
    h.free_disk()
    h.link_down()
    assert not _connects(h.address, 22, timeout=0.5)
    h.link_up()
    assert _connects(h.address, 22)


def test_destroy_removes_everything(fleet_factory) -> None:
    bed = fleet_factory(2)
    ns = [h.ns for h in bed.hosts]
    bed.destroy()
    assert not any(os.path.exists(f"/run/netns/{n}") for n in ns)
    assert not os.path.exists(bed.dir)
    assert not os.path.exists(f"/sys/class/net/{bed.state.bridge}")


def test_estate_file_passes_full_validation(fleet_factory) -> None:
    bed = fleet_factory(1)
    estate, _, problems = validate_all(Path(bed.estate_path))  # what `opskeeper validate` runs
    assert problems == []
    ((_, _, host),) = estate.all_hosts()
    assert host.address == bed.hosts[0].address and host.host_key == bed.hosts[0].host_key_line


_CRASHING_SESSION = """
import os, signal, sys
from testbed import TestBed
from opskeeper.validate import validate_all
bed = TestBed.create(2, name="crashed%d" % os.getpid())
print(bed.name, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # a pytest session dying without teardown
"""


def test_a_crashed_sessions_bed_is_reaped(fleet_factory) -> None:
    out = subprocess.run([sys.executable, "-c", _CRASHING_SESSION], capture_output=True, text=True)
    name = out.stdout.strip()
    assert name and os.path.exists(f"/run/opskeeper-testbed/instances/{name}")
    fleet_factory(1)  # the next allocation reaps instances whose owner died
    assert not os.path.exists(f"/run/opskeeper-testbed/instances/{name}")
    assert not [ns for ns in os.listdir("/run/netns") if ns.startswith(f"okt-{name}-")]
