"""Anchor fixtures: an estate whose audit anchors go to a directory target or to a real moto S3 server."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from sqlalchemy import select, text, update

from opskeeper.ledger import Ledger
from opskeeper.ledger.audit import AuditEntry, AuditHead, _entry_hash
from tests.backup.conftest import MotoServer, moto_server  # noqa: F401  (the session's S3 server)
from tests.ledger.conftest import ledger  # noqa: F401  (a fresh ledger under $OPSKEEPER_HOME)

GOOD = Path(__file__).resolve().parent.parent / "data" / "bad" / "good.yaml"
RUNBOOKS = GOOD.parent / "runbooks" / "ok"

EstateFactory = Callable[..., Path]
# Resolved secrets join the process-wide redactor: a short one ("test") would mask "pytest" in later tests.
KEY_ID, SECRET = "ANCHORTESTKEYID0000", "anchor-test-secret-key-0000"


def set_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANCHOR_KEY", KEY_ID)
    monkeypatch.setenv("ANCHOR_SECRET", SECRET)


@pytest.fixture
def make_estate(tmp_path: Path) -> EstateFactory:
    """The minimal estate plus ``targets`` (YAML flow mappings by name) and an ``audit:`` section."""

    def make(targets: dict[str, str], audit: str) -> Path:
        lines = GOOD.read_text().replace("runbooks_dir: runbooks/ok", f"runbooks_dir: {RUNBOOKS}")
        extra = "".join(f"  {name}: {spec}\n" for name, spec in targets.items())
        lines = lines.replace("backup_targets:\n", "backup_targets:\n" + extra)
        path = tmp_path / "estate.yaml"
        path.write_text(lines + audit)
        return path

    return make


@pytest.fixture
def s3_bucket(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:  # noqa: F811
    """A new bucket on the moto server (with Object Lock when asked); the keys in $ANCHOR_KEY/$ANCHOR_SECRET."""
    set_keys(monkeypatch)

    def make(*, object_lock: bool = False) -> str:
        bucket = f"anchors-{os.urandom(6).hex()}"
        client = boto3.client("s3", endpoint_url=moto_server.url, region_name="us-east-1",
                              aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)  # fmt: skip
        client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=object_lock)
        return bucket

    return make


def s3_target(server: MotoServer, bucket: str, lock: str = "") -> str:
    return (f"{{kind: s3, bucket: {bucket}, prefix: repo, endpoint_url: '{server.url}', "
            f"access_key: 'env:ANCHOR_KEY', secret_key: 'env:ANCHOR_SECRET'{lock}}}")  # fmt: skip


def fill(led: Ledger, n: int, actor: str = "alice") -> None:
    for i in range(n):
        led.audit(actor, "test.action", f"thing/{i}", {"i": i})


def rewrite_consistently(led: Ledger, actor: str = "mallory") -> None:
    """What someone with write access to the database can do: change every row and recompute the chain."""
    with led.session() as s:
        prev = "0" * 64
        for e in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
            if e.action != "ledger.identity":
                e.actor = actor
            e.prev_hash = prev
            e.hash = prev = _entry_hash(prev, e.seq, e.at, e.actor, e.action, e.subject, e.details)
        s.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))


def truncate_consistently(led: Ledger, keep: int) -> None:
    """Delete the tail after ``keep`` and move the head back, so the chain alone still verifies."""
    with led.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq > :k"), {"k": keep})
        last = conn.execute(text("SELECT hash FROM audit_log WHERE seq = :k"), {"k": keep}).scalar()
        conn.execute(text("UPDATE audit_head SET seq = :k, hash = :h"), {"k": keep, "h": last})
