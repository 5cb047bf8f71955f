"""The security-scan flow reaches a host behind a jump host (``jump:``, ProxyJump) on the fleet test bed.

Host 1 is declared behind host 0: the flow's scan task must resolve the jump host from the
estate. sshd on host 1 logs where the session came from: host 0's address, not this machine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from flows.security_scan import security_scan
from opskeeper.ledger import Ledger
from opskeeper.ledger.findings import SecurityScan
from testbed import TestBed
from testbed.estate_file import estate_document


@pytest.mark.flow
def test_flow_scans_a_host_behind_a_jump_host(fleet_factory: Callable[..., TestBed], tmp_path: Path) -> None:
    bed = fleet_factory(2)
    jump, dest = bed.hosts
    doc = estate_document(bed)
    system = doc["customers"][0]["systems"][0]  # type: ignore[index]
    system["hosts"][1]["jump"] = jump.name
    system["security"] = {"disabled_checks": ["updates.security"]}  # the bed has no package mirror
    estate = tmp_path / "estate.yaml"
    estate.write_text(yaml.safe_dump(doc, sort_keys=False))

    out = security_scan(customer="testbed", config=str(estate), notify=False)

    hosts: dict[str, dict[str, object]] = out["hosts"]  # type: ignore[assignment]
    assert hosts[dest.name]["status"] != "failed" and hosts[dest.name]["score"] is not None, hosts
    assert hosts[jump.name]["status"] != "failed", hosts
    log = Path(dest.dir, "sshd.log").read_text()
    assert f"Accepted publickey for {dest.user} from {jump.address}" in log
    with Ledger.open().session() as s:
        scans = {r.host: r for r in s.query(SecurityScan)}
    assert scans[dest.name].error is None
