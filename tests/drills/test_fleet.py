"""Drills on the fleet test bed: real sshd hosts in network namespaces, a real HTTP service, real backups
streamed over SSH, real faults (files corrupted, service killed, link taken down)."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from opskeeper.backup import ops
from opskeeper.config.loader import load_estate
from opskeeper.drills.context import DrillRequest
from opskeeper.drills.drive import run_drill
from opskeeper.drills.timeline import Event
from opskeeper.ledger import Ledger
from opskeeper.ledger.drills import DrillStatus
from testbed import TestBed
from testbed.estate_file import estate_document
from testbed.host import HEALTH_SERVER, SYSTEM_PYTHON
from tests.drills.conftest import breakdown

HOME = Path(os.environ.get("OPSKEEPER_HOME", "var"))


def fleet_estate(bed: TestBed, path: Path, drills: list[str], jump_to_primary: str | None = None) -> Path:
    """The bed's estate plus a data set on the primary, two backup targets, a policy and the drills.

    ``jump_to_primary``: the host the primary is reached through (``jump:``).
    """
    doc = estate_document(bed)
    primary = bed.hosts[0]
    app = Path(primary.data_dir) / "app"
    for i in range(8):  # the application's data, written as the login user (as the app would)
        primary.exec(f"mkdir -p {app}/d{i % 2} && head -c {20000 + i * 999} /dev/urandom > {app}/d{i % 2}/f{i}.bin "
                     f"&& chown -R {primary.user} {app}", check=True)
    home = os.environ["OPSKEEPER_HOME"]
    doc["backup_targets"] = {"bed-a": {"kind": "dir", "path": f"{home}/backups/a"},
                             "bed-b": {"kind": "dir", "path": f"{home}/backups/b"}}
    system = doc["customers"][0]["systems"][0]  # type: ignore[index]
    system["datasets"] = [{"kind": "dir", "name": "app-data", "paths": [str(app)], "host": primary.name}]
    system["backup"] = {"targets": ["bed-a", "bed-b"], "passphrase": "env:OPSKEEPER_DEMO_PASSPHRASE"}
    system["drills"] = drills
    system["hosts"][0]["jump"] = jump_to_primary
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _backed_up(bed: TestBed, tmp_path: Path, drills: list[str],  # type: ignore[no-untyped-def]
               jump_to_primary: str | None = None):
    estate = load_estate(fleet_estate(bed, tmp_path / "estate.yaml", drills, jump_to_primary))
    customer = estate.customers[0]
    outcomes = ops.backup_system(estate, customer, customer.systems[0])
    assert all(o.error is None for o in outcomes), outcomes
    return estate


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return []


@pytest.mark.parametrize("via_jump", [False, True], ids=["direct", "via-jump-host"])
def test_data_corruption_over_ssh(fleet_factory: Callable[..., TestBed], tmp_path: Path, via_jump: bool) -> None:
    bed = fleet_factory(2)
    primary, standby = bed.hosts
    estate = _backed_up(bed, tmp_path, ["data-corruption"], jump_to_primary=standby.name if via_jump else None)
    result = run_drill(estate, DrillRequest("data-corruption", "testbed"), ledger=Ledger.open())
    assert result.status is DrillStatus.PASS, [e.detail for e in result.timeline.steps() if not e.ok]
    if via_jump:  # every session on the primary came through the standby
        accepted = [ln for ln in Path(primary.dir, "sshd.log").read_text().splitlines() if "Accepted" in ln]
        assert accepted and all(f" from {standby.address} " in ln for ln in accepted), accepted
    print("\n" + breakdown(result))


def test_primary_host_lost_fails_over_to_the_standby(fleet_factory: Callable[..., TestBed],
                                                     tmp_path: Path) -> None:
    bed = fleet_factory(2)
    primary = bed.hosts[0]
    estate = _backed_up(bed, tmp_path, ["primary-host-lost"])
    start = (f"nohup {SYSTEM_PYTHON} -S {HEALTH_SERVER} {primary.address} {primary.http_port} "
             f"{primary.www_dir} >/dev/null 2>&1 &")
    standby = bed.hosts[1]
    root = f"/tmp/opskeeper-drill-{bed.name}"
    # http.server resolves its own name at start (a DNS timeout in a namespace): the bed's own server instead
    failover = {
        "standby_root": root,
        "failover_start": f"setsid -f {SYSTEM_PYTHON} -S {HEALTH_SERVER} {standby.address} 8081 {root} "
                          "</dev/null >/dev/null 2>&1",
        "failover_stop": f"pkill -u \"$(id -u)\" -f '[{HEALTH_SERVER[0]}]{HEALTH_SERVER[1:]} {standby.address} 8081' "
                         "|| true",
        # a restored file, served by the standby: the data is back, not just a port
        "failover_url": f"http://{standby.address}:8081{primary.data_dir}/app/d0/f0.bin",
    }
    request = DrillRequest("primary-host-lost", "testbed",
                           vars={"heal_after": "6", "primary_start": start, **failover})
    result = run_drill(estate, request, ledger=Ledger.open())
    ev = result.evaluation
    assert result.status is DrillStatus.PASS, [e.detail for e in result.timeline.steps() if not e.ok]
    assert result.timeline.has(Event.CLEANUP_DONE)
    detected = next(c for c in ev.checks if c.phase.value == "detection")
    assert "unreachable" in detected.value or "refused" in detected.value
    with urllib.request.urlopen(primary.health_url, timeout=5) as resp:  # cleanup brought the primary back
        assert resp.status == 200
    assert not [p for p in standby.pids() if str(8081) in " ".join(_cmdline(p))]  # fail-over service stopped
    print("\n" + breakdown(result))


def test_backup_target_lost_restores_from_the_secondary_over_ssh(fleet_factory: Callable[..., TestBed],
                                                                 tmp_path: Path) -> None:
    bed = fleet_factory(1)
    estate = _backed_up(bed, tmp_path, ["backup-target-lost"])
    scratch = f"/tmp/opskeeper-drill-scratch-{bed.name}"
    result = run_drill(estate, DrillRequest("backup-target-lost", "testbed", vars={"scratch": scratch}),
                       ledger=Ledger.open())
    assert result.status is DrillStatus.PASS, [e.detail for e in result.timeline.steps() if not e.ok]
    assert not Path(scratch).exists()  # cleanup removed the scratch restore on the host
    print("\n" + breakdown(result))
