"""The Prefect flow and the CLI on a local estate (this machine, fixtures in a temp dir)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, TaskRunFilter
from prefect.client.schemas.sorting import ArtifactSort
from typer.testing import CliRunner

from cli import scan as scan_cli
from flows.security_scan import security_scan
from opskeeper.checks.security import service
from opskeeper.checks.security.service import run_scan
from opskeeper.config.loader import load_estate
from opskeeper.ledger import Ledger
from opskeeper.ledger.core import Run
from opskeeper.ledger.findings import Finding
from tests.checks.security.helpers import self_signed_pem


@pytest.fixture(autouse=True)
def _no_suid_left_behind(tmp_path: Path):  # type: ignore[no-untyped-def]
    """pytest keeps the last temp dirs: a planted SUID file must not outlive its test (later scans find it)."""
    yield
    stray = tmp_path / "bin" / "stray"
    if stray.exists():
        stray.chmod(0o755)


def local_estate(tmp_path: Path) -> Path:
    """One customer, one local host; policy paths point at planted problems under tmp_path."""
    (tmp_path / "bin").mkdir()
    stray = tmp_path / "bin" / "stray"
    stray.write_bytes(b"#!/bin/sh\n")
    stray.chmod(0o4755)
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop").chmod(0o777)
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "old.pem").write_text(self_signed_pem(days_left=-1))
    doc = {
        "version": 1,
        "provider": {"name": "P", "timezone": "UTC"},
        "tiers": {"std": {"response": {"emergency": "2h", "high": "8h", "routine": "24h"}, "rto": "4h",
                          "rpo": "24h", "remediation": {"high": "1d"}}},
        "customers": [{
            "id": "acme", "name": "Acme", "timezone": "UTC", "tier": "std",
            "contacts": [{"name": "Ops", "role": "it-manager", "email": "ops@acme.example"}],
            "maintenance_window": {"days": ["sun"], "start": "02:00", "duration": "2h"},
            "systems": [{"id": "app", "name": "App", "hosts": [{"name": "acme-1", "address": "localhost", "local": True}],
                         "security": {"suid_paths": [str(tmp_path / "bin")], "world_writable_paths": [str(tmp_path)],
                                      "cert_paths": [str(tmp_path / "certs")],
                                      "disabled_checks": ["updates.security", "net.unexpected-port"]}}],
        }],
    }  # fmt: skip
    path = tmp_path / "estate.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


PLANTED = {"files.suid": "bin/stray", "files.world-writable": "drop", "tls.cert-expiry": "certs/old.pem"}


@pytest.mark.flow
def test_flow_records_publishes_and_notifies(tmp_path: Path) -> None:
    estate = local_estate(tmp_path)
    out = security_scan(customer="acme", config=str(estate))
    host = out["hosts"]["acme-1"]  # type: ignore[index]
    assert host["new"] >= 3 and out["alerts"] >= 2  # SUID and certificate are high: the customer is told
    with Ledger.open().session() as s:
        found = {(f.check_id, f.object) for f in s.query(Finding)}
    assert {(c, str(tmp_path / o)) for c, o in PLANTED.items()} <= found
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            # every field given: this server rejects the nulls the client sends for omitted ones
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["security-scan-acme"])),
            flow_run_filter=FlowRunFilter(),
            task_run_filter=TaskRunFilter(),
            sort=ArtifactSort.CREATED_DESC,
            limit=5,
            offset=0,
        )
    assert arts and "stray" in str(arts[0].data)
    assert list((Path(os.environ["OPSKEEPER_HOME"]) / "outbox").rglob("*.eml"))
    again = security_scan(customer="acme", config=str(estate))
    assert again["alerts"] == 0 and again["hosts"]["acme-1"]["persisting"] == host["new"]  # type: ignore[index]


def test_cli_run_findings_accept_score(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSKEEPER_CONFIG", str(local_estate(tmp_path)))
    root = typer.Typer()
    root.add_typer(scan_cli.app, name="scan")
    cli = CliRunner()
    res = cli.invoke(root, ["scan", "run", "--customer", "acme"])
    assert res.exit_code == 0, res.output
    assert cli.invoke(root, ["scan", "run", "--customer", "nope"]).exit_code == 2
    res = cli.invoke(root, ["scan", "findings", "--json"])
    rows = json.loads(res.stdout)
    suid = next(r for r in rows if r["check"] == "files.suid")
    assert suid["status"] == "new" and suid["severity"] == "high"
    groups = json.loads(cli.invoke(root, ["scan", "findings", "--by-check", "--json"]).stdout)
    assert sum(g["count"] for g in groups) == len(rows)  # every finding in exactly one group
    assert {(g["host"], g["check"]) for g in groups} == {(r["host"], r["check"]) for r in rows}
    assert groups[0]["severity"] == "high"  # worst first
    table = cli.invoke(root, ["scan", "findings", "--by-check"]).stdout
    assert f"({len(rows)} in {len(groups)} groups)" in table and "files.suid" in table
    res = cli.invoke(
        root, ["scan", "accept", str(suid["id"]), "--until", "2099-01-31", "--reason", "vendor agent"]
    )
    assert res.exit_code == 0, res.output
    assert (
        cli.invoke(root, ["scan", "accept", "999", "--until", "2099-01-31", "--reason", "x"]).exit_code == 2
    )
    assert cli.invoke(root, ["scan", "accept", "1", "--until", "2001-01-01", "--reason", "x"]).exit_code == 2
    accepted = json.loads(cli.invoke(root, ["scan", "findings", "--status", "accepted", "--json"]).stdout)
    assert [r["id"] for r in accepted] == [suid["id"]]
    assert cli.invoke(root, ["scan", "run", "--fail-on", "high"]).exit_code == 0  # nothing new now
    score = json.loads(cli.invoke(root, ["scan", "score", "--json"]).stdout)
    assert score[0]["host"] == "acme-1" and len(score[0]["history"]) == 2 and score[0]["trend"] == "flat"


def test_a_host_whose_scan_crashes_is_a_failed_scan_and_the_run_concludes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one orchestration (run_scan): a crash stays with its host, which is recorded as not scanned."""

    def crash(*_: object, **__: object) -> None:
        raise RuntimeError("probe exploded")

    monkeypatch.setattr(service, "scan_host", crash)
    ledger = Ledger.open()
    report = run_scan(load_estate(local_estate(tmp_path)), ledger, "acme")
    [diff] = report.diffs
    assert diff.status == "failed" and report.status == "failed"
    with ledger.session() as s:
        run = s.get(Run, report.run_id)
        assert run is not None and run.status == "failed" and run.ended_at is not None
