"""Revision 0006 on a ledger written before it: rows gain a free lease and no unreached levels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, select, text

from opskeeper.ledger import Ledger
from opskeeper.ledger import notify as store
from opskeeper.ledger.db import MIGRATIONS_DIR
from opskeeper.ledger.notify import Notification

T0 = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
OLD_ROW = {
    "key": "k1", "group_key": "g1", "topic": "", "token": "t1", "event": "incident_declared",
    "customer_id": "volga", "severity": "emergency", "drill": False, "dedup_key": "INC-1",
    "contact_name": "Ирина Петрова", "contact_role": "it-manager", "level": 1, "channel": "email",
    "transport": "outbox", "address": "i.petrova@volga.example", "language": "ru", "subject": "s",
    "body_text": "t", "body_html": "h", "message_id": "<k1@opskeeper.notify>", "context": "{}",
    "ack_required": True, "created_at": "2026-11-28 14:00:00.000000", "status": "pending", "attempts": 1,
    "escalation_level": 1,
}  # fmt: skip


def test_a_ledger_at_0005_is_upgraded_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.sqlite"
    engine = create_engine(url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005_drills")
        columns = ", ".join(OLD_ROW)
        conn.execute(text(f"INSERT INTO notifications ({columns}) VALUES ({', '.join(':' + c for c in OLD_ROW)})"),
                     OLD_ROW)  # fmt: skip
    engine.dispose()
    ledger = Ledger.open(url)
    try:
        with ledger.session() as s:
            [row] = s.scalars(select(Notification)).all()
            assert (row.lease_until, row.unreached_levels) == (None, [])
            assert [r.id for r in store.due_for_delivery(s, T0 + timedelta(minutes=1))] == [row.id]
            assert store.claim_attempt(s, row.id, 1, T0, T0 + timedelta(minutes=5), renew=False)
        with ledger.session() as s:
            assert store.due_for_delivery(s, T0 + timedelta(minutes=1)) == []  # leased now
            assert not store.claim_attempt(s, row.id, 2, T0, T0 + timedelta(minutes=5), renew=False)
    finally:
        ledger.close()
