"""End to end on the fleet test bed: real sshd hosts reached over SSH with sudo, real faults, fixed, rescanned.

Host 0 gets a weak sshd config, a stray SUID binary, a world-writable directory, an
expiring certificate and an unexpected listener; host 1 stays clean. Scan 1 finds them
(new), scan 2 runs host 0 without sudo (sshd checks cannot run: incomparable, the rest
persisting), then everything is fixed and scan 3 resolves them.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from opskeeper.checks.security.alerts import send_alerts
from opskeeper.checks.security.service import ScanReport, rebaseline, run_scan
from opskeeper.config.loader import load_estate
from opskeeper.ledger import Ledger
from opskeeper.ledger.findings import FindingFilter, list_findings
from testbed import TestBed
from testbed.estate_file import estate_document
from testbed.host import TestHost
from tests.checks.security.helpers import self_signed_pem

PLANTED = {
    ("ssh.root-login", "sshd:PermitRootLogin"),
    ("ssh.root-password-login", "sshd:root-password"),
    ("ssh.password-auth", "sshd:PasswordAuthentication"),
    ("net.unexpected-port", "tcp/9999"),
    ("tls.cert-expiry", "{data}/certs/app.pem"),
    ("files.suid", "{data}/bin/stray"),
    ("files.world-writable", "{data}/drop"),
}
SSH_CHECKS = {"ssh.root-login", "ssh.root-password-login", "ssh.password-auth"}


def write_estate(bed: TestBed, path: Path, *, sudo0: bool = True) -> Any:
    """The bed's estate, one system per host so each host's policy points at its own data disk."""
    doc = estate_document(bed)
    customer = doc["customers"][0]  # type: ignore[index]
    fleet = customer["systems"][0]
    systems = []
    for h, host in zip(bed.hosts, fleet["hosts"], strict=True):
        d = h.data_dir
        host["sudo"] = sudo0 if h.index == 0 else True
        systems.append({
            "id": f"sys{h.index}", "hosts": [host],
            "services": [s for s in fleet["services"] if s["hosts"] == [h.name]],
            "security": {
                "suid_paths": [d], "world_writable_paths": [d], "cert_paths": [f"{d}/certs"],
                "integrity_paths": [f"{d}/etc"], "disabled_checks": ["updates.security"],
            },
        })  # fmt: skip
    customer["systems"] = systems
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_estate(path)


def break_host(h: TestHost) -> int:
    cfg = Path(h.dir) / "sshd_config"
    text = cfg.read_text().replace("PermitRootLogin no", "PermitRootLogin yes")
    cfg.write_text(text.replace("PasswordAuthentication no", "PasswordAuthentication yes"))
    h.restart_sshd()
    d = h.data_dir
    h.exec(f"mkdir -p {d}/bin {d}/drop {d}/certs {d}/etc && cp /bin/true {d}/bin/stray && chmod 4755 {d}/bin/stray"
           f" && chmod 0777 {d}/drop && echo v1 > {d}/etc/app.conf", check=True)  # fmt: skip
    Path(d, "certs", "app.pem").write_text(self_signed_pem(days_left=5))
    out = h.exec("python3 -m http.server 9999 --bind 0.0.0.0 >/dev/null 2>&1 & echo $!", check=True)
    return int(out.stdout.decode().strip())


def fix_host(h: TestHost, listener: int) -> None:
    cfg = Path(h.dir) / "sshd_config"
    text = cfg.read_text().replace("PermitRootLogin yes", "PermitRootLogin no")
    cfg.write_text(text.replace("PasswordAuthentication yes", "PasswordAuthentication no"))
    h.restart_sshd()
    d = h.data_dir
    h.exec(f"chmod u-s {d}/bin/stray && chmod o-w {d}/drop", check=True)
    Path(d, "certs", "app.pem").write_text(self_signed_pem(days_left=400))
    os.kill(listener, signal.SIGTERM)
    h.exec(
        "for i in $(seq 50); do ss -ltnH | grep -q ':9999 ' || exit 0; sleep 0.1; done; exit 1", check=True
    )


def objs(report: ScanReport, host: str, kind: str) -> set[tuple[str, str]]:
    diff = next(d for d in report.diffs if d.host == host)
    return {(f.check_id, f.object) for f in getattr(diff, kind)}


def test_scan_fix_rescan_on_fleet(fleet_factory: Callable[..., TestBed], tmp_path: Path) -> None:
    bed = fleet_factory(2)
    h0, h1 = bed.hosts
    planted = {(c, o.format(data=h0.data_dir)) for c, o in PLANTED}
    listener = break_host(h0)
    ledger = Ledger.open()

    estate = write_estate(bed, tmp_path / "estate.yaml")
    first = run_scan(estate, ledger)
    assert {d.status for d in first.diffs} <= {"ok", "partial"}, [d.skipped_checks for d in first.diffs]
    assert planted <= objs(first, h0.name, "new"), (
        planted - objs(first, h0.name, "new"),
        first.diffs[0].skipped_checks,
    )
    assert not planted & objs(first, h1.name, "new")
    assert (
        next(d for d in first.diffs if d.host == h1.name).score
        > next(d for d in first.diffs if d.host == h0.name).score
    )
    alerts = send_alerts(estate, ledger, first.diffs)  # a critical finding reaches the customer
    assert any(a.severity == "critical" for a in alerts)
    assert list((Path(os.environ["OPSKEEPER_HOME"]) / "outbox").rglob("*.eml"))

    no_sudo = write_estate(bed, tmp_path / "estate.yaml", sudo0=False)
    h1_open = objs(first, h1.name, "new")
    h1.kill_sshd()  # host 1 unreachable: a failed scan, and nothing of it is resolved
    second = run_scan(no_sudo, ledger)
    h1.start_sshd()
    assert next(d for d in second.diffs if d.host == h1.name).status == "failed"
    assert objs(second, h1.name, "incomparable") == h1_open and not objs(second, h1.name, "resolved")
    incomparable = objs(second, h0.name, "incomparable")
    # sshd -T needs root: the sshd findings are neither judged nor resolved
    # Without sudo only what needs root cannot run: sshd -T and the firewall ruleset.
    assert {c for c, _ in incomparable} >= SSH_CHECKS
    assert all(c.startswith("ssh.") or c == "net.firewall-empty" for c, _ in incomparable)
    assert planted - incomparable <= objs(second, h0.name, "persisting")
    assert not objs(second, h0.name, "resolved")

    fix_host(h0, listener)
    Path(h0.data_dir, "etc", "app.conf").write_text("v2\n")  # drift against the integrity baseline
    third = run_scan(estate, ledger)
    assert planted <= objs(third, h0.name, "resolved")
    assert objs(third, h0.name, "new") == {("files.integrity", f"{h0.data_dir}/etc/app.conf")}
    with ledger.session() as s:
        rows = list_findings(s, datetime.now(UTC), FindingFilter.OPEN)
        still_open = {(f.host, f.check_id, f.object) for f in rows}
    assert not {(h0.name, c, o) for c, o in planted} & still_open

    assert rebaseline(estate, ledger, h0.name, by="test") == 1  # the change was explained
    fourth = run_scan(estate, ledger)
    assert objs(fourth, h0.name, "resolved") == {("files.integrity", f"{h0.data_dir}/etc/app.conf")}


def test_firewall_ruleset_is_read_per_host(fleet_factory: Callable[..., TestBed], tmp_path: Path) -> None:
    """Each host is its own network namespace, so its nftables ruleset is its own: empty, then loaded."""
    bed = fleet_factory(1)
    [h] = bed.hosts
    estate = write_estate(bed, tmp_path / "estate.yaml")
    ledger = Ledger.open()
    first = run_scan(estate, ledger)
    assert ("net.firewall-empty", "firewall:ruleset") in objs(first, h.name, "new"), first.diffs[0].skipped_checks
    # A default-accept table with one rule that admits SSH: a ruleset, so the finding resolves.
    h.exec("nft add table inet opsk && nft add chain inet opsk input "
           "'{ type filter hook input priority 0; policy accept; }' && nft add rule inet opsk input tcp dport 22 accept",
           check=True)  # fmt: skip
    second = run_scan(estate, ledger)
    assert ("net.firewall-empty", "firewall:ruleset") in objs(second, h.name, "resolved")
    with ledger.session() as s:
        [finding] = [f for f in list_findings(s, datetime.now(UTC), FindingFilter.ALL, None)
                     if f.check_id == "net.firewall-empty"]  # fmt: skip
        assert finding.status == "resolved" and finding.detail == "nft: 0 rules"  # what was wrong, kept
