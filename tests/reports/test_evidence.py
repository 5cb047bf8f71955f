"""The evidence pack: every file hashed in the manifest, the audit head as an external anchor, atomic."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from opskeeper.ledger.audit import AuditEntry, AuditHead
from opskeeper.reports import evidence
from tests.reports.conftest import PRIVATE, SECRET, TOKEN, Filled


def _pack(filled: Filled, out: Path) -> evidence.PackResult:
    return evidence.build_pack(filled.estate, filled.ledger, "hanhai", out, since=date(2026, 10, 1))


def test_manifest_hashes_every_file_and_names_the_audit_head(filled: Filled, tmp_path: Path) -> None:
    result = _pack(filled, tmp_path / "pack.zip")
    with zipfile.ZipFile(result.path) as zf:
        manifest = json.loads(zf.read("MANIFEST.json"))
        names = set(zf.namelist())
        assert names == set(manifest["files"]) | {"MANIFEST.json"}
        for name, meta in manifest["files"].items():
            data = zf.read(name)
            assert hashlib.sha256(data).hexdigest() == meta["sha256"] and len(data) == meta["bytes"], name
        entries = [json.loads(x) for x in zf.read("audit/audit.jsonl").decode().splitlines()]
        runs = json.loads(zf.read("runs.json"))
        notices = json.loads(zf.read("notifications.json"))
    assert {"reports/monthly-2026-10.md", "reports/monthly-2026-11.html", "drills/drill-1.html",
            "findings.json", "snapshots.json", "audit/chain.jsonl", "audit/verification.json"} <= names  # fmt: skip
    with filled.ledger.session() as s:
        head = s.execute(select(AuditHead.seq, AuditHead.hash)).one()
    assert manifest["audit"] == {"head_seq": head.seq, "head_hash": head.hash, "chain_ok": True,
                                 "entries_checked": head.seq}  # fmt: skip
    # the customer's entries, each recomputable by an auditor from the exported fields
    assert {e["action"] for e in entries} >= {"run.finished", "backup.restore", "sla.breach"}
    assert all(evidence.entry_hash(e) == e["hash"] for e in entries)
    assert {r["id"] for r in runs} == {filled.nov_run, filled.dec_run} and runs[0]["steps"]
    assert [n["address"] for n in notices] == ["wang.wei@hanhai.example", "https://hooks.example/…"]
    assert evidence.verify_pack(result.path) == []


def test_no_secret_private_string_or_ack_token_in_the_pack(filled: Filled, tmp_path: Path) -> None:
    result = _pack(filled, tmp_path / "pack.zip")
    with zipfile.ZipFile(result.path) as zf:
        for name in zf.namelist():
            text = zf.read(name).decode()
            for value in (SECRET, PRIVATE, TOKEN, TOKEN[::-1]):
                assert value not in text, (name, value)


def test_an_older_pack_detects_a_rewritten_chain(filled: Filled, tmp_path: Path) -> None:
    first = _pack(filled, tmp_path / "first.zip")
    filled.ledger.audit("alice", "note", "customer:hanhai", {"text": "later entry"})
    second = _pack(filled, tmp_path / "second.zip")
    assert second.head_seq == first.head_seq + 1
    assert evidence.verify_pack(second.path, previous=first.path) == []
    # someone wipes the trail and writes a fresh, self-consistent chain
    with filled.ledger.session() as s:
        s.execute(delete(AuditEntry))
        s.execute(delete(AuditHead))
    for i in range(first.head_seq + 2):
        filled.ledger.audit("mallory", "note", "customer:hanhai", {"i": i})
    third = _pack(filled, tmp_path / "third.zip")
    assert third.chain_ok and evidence.verify_pack(third.path) == []  # on its own it looks fine ...
    problems = evidence.verify_pack(third.path, previous=first.path)  # ... the anchor gives it away
    assert len(problems) == 1 and "rewritten or wiped" in problems[0]


def test_an_edited_entry_is_reported_and_a_tampered_file_is_found(filled: Filled, tmp_path: Path) -> None:
    with filled.ledger.session() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 1).values(actor="someone-else"))
    result = _pack(filled, tmp_path / "pack.zip")
    assert not result.chain_ok
    with zipfile.ZipFile(result.path) as zf:
        verification = json.loads(zf.read("audit/verification.json"))
        files = {n: zf.read(n) for n in zf.namelist()}
    assert verification["problems"][0]["seq"] == 1
    files["runs.json"] = files["runs.json"].replace(b'"failed"', b'"ok"')
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(forged, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    problems = evidence.verify_pack(forged)
    assert "runs.json: SHA-256 does not match the manifest" in problems
    assert any("entry 1: content does not match" in p for p in problems)


def test_written_atomically(filled: Filled, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "packs"
    folder.mkdir()
    out = folder / "pack.zip"
    out.write_bytes(b"the previous pack")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(evidence.os, "fsync", disk_full)
        with pytest.raises(evidence.EvidenceError, match="No space left"):
            _pack(filled, out)
    assert out.read_bytes() == b"the previous pack"  # the old pack stays whole
    assert [p.name for p in folder.iterdir()] == ["pack.zip"]  # and no temp file is left beside it
    _pack(filled, out)
    assert zipfile.is_zipfile(out) and [p.name for p in folder.iterdir()] == ["pack.zip"]
    _pack(filled, tmp_path / "new" / "folder" / "pack.zip")  # folders are created
    with pytest.raises(evidence.EvidenceError, match="cannot write the evidence pack"):
        _pack(filled, out / "pack.zip")  # under a file: nothing to create
