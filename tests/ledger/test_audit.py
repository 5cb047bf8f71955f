"""The hash-chained audit trail: intact chains verify; any edited or deleted row is detected."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from cli.main import app
from opskeeper.config.secrets import REDACTED, SecretRef
from opskeeper.ledger import Ledger
from opskeeper.ledger.audit import AuditEntry, AuditProblem


def _fill(led: Ledger, n: int = 4) -> None:
    for i in range(1, n + 1):
        led.audit("alice", "test.action", f"thing/{i}", {"i": i, "note": f"entry {i}", "ok": True})


def _sql(led: Ledger, statement: str) -> None:
    with led.engine.begin() as conn:
        conn.execute(text(statement))


def test_intact_chain_verifies(ledger: Ledger) -> None:
    _fill(ledger)
    assert ledger.verify_audit() == (4, [])
    with ledger.session() as s:
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(entries, entries[1:], strict=False))
    assert all(e.at.tzinfo is not None for e in entries)


def test_edited_details_are_detected(ledger: Ledger) -> None:
    _fill(ledger)
    _sql(
        ledger, """UPDATE audit_log SET details = '{"i": 2, "note": "entry 2", "ok": false}' WHERE seq = 2"""
    )
    assert ledger.verify_audit() == (4, [AuditProblem(2, "content does not match its hash (entry edited)")])


def test_edited_actor_is_detected(ledger: Ledger) -> None:
    _fill(ledger)
    _sql(ledger, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    _, problems = ledger.verify_audit()
    assert problems == [AuditProblem(1, "content does not match its hash (entry edited)")]


def test_deleted_middle_row_is_detected(ledger: Ledger) -> None:
    _fill(ledger)
    _sql(ledger, "DELETE FROM audit_log WHERE seq = 2")
    assert ledger.verify_audit() == (3, [
        AuditProblem(2, "entries 2..2 are missing"),
        AuditProblem(3, "previous-hash link broken (an entry before it changed)"),
    ])  # fmt: skip


def test_deleted_last_row_is_detected_by_the_head(ledger: Ledger) -> None:
    _fill(ledger)
    _sql(ledger, "DELETE FROM audit_log WHERE seq = 4")
    assert ledger.verify_audit() == (3, [AuditProblem(4, "chain ends at 3 but head says 4")])


def test_deleted_last_row_and_head_is_detected(ledger: Ledger) -> None:
    _fill(ledger)
    _sql(ledger, "DELETE FROM audit_log WHERE seq = 4")
    _sql(ledger, "DELETE FROM audit_head")
    assert ledger.verify_audit() == (
        3,
        [AuditProblem(3, "the chain head is missing (tail may be truncated)")],
    )


def test_secrets_are_redacted_in_details(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSK_AUDIT_PW", "hunter2-very-secret")
    password = SecretRef(ref="env:OPSK_AUDIT_PW").resolve()
    ledger.audit("bob", "db.login", "db/erp", {"cmd": f"psql password={password}", "args": [password]})
    with ledger.session() as s:
        entry = s.execute(select(AuditEntry)).scalar_one()
    assert entry.details == {"cmd": f"psql password={REDACTED}", "args": [REDACTED]}
    assert ledger.verify_audit() == (1, [])


def _concurrent_appends(url: str, writers: int = 4, each: int = 6) -> list[BaseException]:
    """Writers with their own engines (like worker processes) start together on an empty trail."""
    errors: list[BaseException] = []
    ledgers = [Ledger.open(url) for _ in range(writers)]
    start = threading.Barrier(writers)

    def writer(k: int) -> None:
        start.wait()
        try:
            for i in range(each):
                ledgers[k].audit(f"w{k}", "test.concurrent", f"item/{k}/{i}")
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for led in ledgers:
        led.close()
    return errors


def test_concurrent_first_writers_keep_one_chain(ledger: Ledger) -> None:
    """The first entries race to create the chain head: no writer may lose its entry."""
    assert _concurrent_appends(ledger.url) == []
    assert ledger.verify_audit() == (24, [])


@pytest.mark.postgres
def test_concurrent_first_writers_on_postgres(pg_url: str) -> None:
    assert _concurrent_appends(pg_url) == []
    led = Ledger.open(pg_url)
    try:
        assert led.verify_audit() == (24, [])
    finally:
        led.close()


def test_cli_audit_verify_exit_codes(ledger: Ledger, opskeeper_home: Path) -> None:
    _fill(ledger)
    ok = CliRunner().invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "audit chain intact: 4 entries" in ok.stdout
    _sql(ledger, "UPDATE audit_log SET subject = 'thing/99' WHERE seq = 3")
    bad = CliRunner().invoke(app, ["audit", "verify", "--json"])
    assert bad.exit_code == 1
    assert '"ok": false' in bad.stdout and '"seq": 3' in bad.stdout
