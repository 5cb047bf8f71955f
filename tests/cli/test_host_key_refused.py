"""A host whose key changed since it was pinned, met by every CLI path that connects: the console
names the host and both fingerprints on one stderr line, the exit code is 1, and the refusal is a
security event in the audit trail (``ssh.host-key-changed``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from opskeeper.backup import ops
from opskeeper.config.loader import load_estate
from opskeeper.ledger import Ledger
from opskeeper.ledger.audit import AuditEntry
from testbed import TestBed
from testbed.estate_file import estate_document
from tests.backup.conftest import PASSPHRASE

pytestmark = pytest.mark.sshd

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Scene:
    bed: TestBed
    estate: Path
    snapshot: str
    line: str  # what the console must say


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    """One host with data, backed up while its key was the pinned one; then its key changes."""
    if os.geteuid() != 0:
        pytest.skip("the fleet test bed needs root")
    tmp = tmp_path_factory.mktemp("hostkey")
    bed = TestBed.create(1)
    try:
        h = bed.hosts[0]
        app = Path(h.data_dir) / "app"
        h.exec(f"mkdir -p {app} && echo hello > {app}/a.txt && chown -R {h.user} {app}", check=True)
        doc = estate_document(bed)
        doc["backup_targets"] = {"t": {"kind": "dir", "path": str(tmp / "repo")}}
        system = doc["customers"][0]["systems"][0]  # type: ignore[index]
        system["datasets"] = [{"kind": "dir", "name": "app-data", "paths": [str(app)], "host": h.name}]
        system["backup"] = {"targets": ["t"], "passphrase": "env:OKB_TEST_PASSPHRASE"}
        system["drills"] = ["data-corruption"]
        path = tmp / "estate.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        os.environ["OKB_TEST_PASSPHRASE"] = PASSPHRASE
        estate = load_estate(path)
        customer = estate.customers[0]
        [outcome] = ops.backup_system(estate, customer, customer.systems[0])
        assert outcome.snapshot is not None, outcome.error
        pinned = h.host_key_fingerprint
        h.change_host_key()  # the estate still pins the old one
        line = (f"host {h.name} ({h.address}:{h.port}): host key refused: "
                f"expected {pinned}, presented {h.host_key_fingerprint}")
        yield Scene(bed, path, outcome.snapshot.id, line)
    finally:
        bed.destroy()


def _cli(scene: Scene, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OKB_TEST_PASSPHRASE": PASSPHRASE, "OPSKEEPER_HOME": str(home),
           "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("OPSKEEPER_LEDGER_URL", None)
    return subprocess.run([sys.executable, "-m", "cli", "-c", str(scene.estate), *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def _refusals(home: Path) -> list[tuple[str, str, dict]]:
    ledger = Ledger.open(f"sqlite:///{home / 'ledger.sqlite'}")
    with ledger.session() as s:
        return [(e.action, e.subject, e.details) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))
                if e.action.startswith("ssh.")]


def _assert_audited(scene: Scene, home: Path) -> None:
    h = scene.bed.hosts[0]
    refusals = _refusals(home)
    assert refusals and {(a, s) for a, s, _ in refusals} == {("ssh.host-key-changed", f"host:{h.name}")}
    assert all(d["message"].startswith(scene.line + "; HOST KEY CHANGED") for _, _, d in refusals)


def _said(scene: Scene, stderr: str, *, once: bool = True) -> None:
    """One stderr line per refused connection, ending with the one clear line (under Prefect its console
    handler puts the time and the logger's name in front)."""
    hits = [ln for ln in stderr.splitlines() if "host key refused" in ln]
    assert (len(hits) == 1 if once else hits) and all(ln.endswith(scene.line) for ln in hits), stderr
    assert "Traceback" not in stderr, stderr


def test_restore_to_the_host(scene: Scene, tmp_path: Path) -> None:
    res = _cli(scene, tmp_path, "backup", "restore", scene.snapshot, "--to", "/tmp/x", "--host",
               scene.bed.hosts[0].name, "--system", "fleet")
    assert res.returncode == 1, res.stdout + res.stderr
    assert res.stderr == (
        f"{scene.line}\nhint: HOST KEY CHANGED since it was pinned in estate: someone may be intercepting the "
        "connection; if the host was rebuilt, verify its new key out of band and update the pin\n"
    )
    _assert_audited(scene, tmp_path)


def test_backup_of_the_host(scene: Scene, tmp_path: Path) -> None:
    res = _cli(scene, tmp_path, "backup", "run", "--system", "fleet")
    assert res.returncode == 1, res.stdout + res.stderr
    _said(scene, res.stderr)


def test_backup_of_the_host_audits_the_refusal(scene: Scene, tmp_path: Path) -> None:
    _cli(scene, tmp_path, "backup", "run", "--system", "fleet")
    _assert_audited(scene, tmp_path)


def test_security_scan(scene: Scene, tmp_path: Path) -> None:
    res = _cli(scene, tmp_path, "scan", "run", "--no-notify")
    assert res.returncode == 1, res.stdout + res.stderr
    _said(scene, res.stderr)
    _assert_audited(scene, tmp_path)


@pytest.mark.flow  # the CLI runs the maintenance flow on Prefect's temporary server
def test_maintenance_run(scene: Scene, tmp_path: Path) -> None:
    res = _cli(scene, tmp_path, "maintenance", "run", "monthly", "--customer", "testbed", "--json")
    assert res.returncode == 1, res.stdout + res.stderr
    _said(scene, res.stderr, once=False)  # the runbook's connection, and the monthly security scan's
    _assert_audited(scene, tmp_path)


def test_drill_run(scene: Scene, tmp_path: Path) -> None:
    res = _cli(scene, tmp_path, "drill", "run", "data-corruption", "--customer", "testbed", "--json")
    assert res.returncode == 1, res.stdout + res.stderr
    _said(scene, res.stderr)
    _assert_audited(scene, tmp_path)
