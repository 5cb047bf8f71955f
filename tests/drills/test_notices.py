"""Drill notices reach the customer's outbox in their language; internal drills are not announced."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path

from opskeeper.config.estate import Estate
from opskeeper.drills import notices
from opskeeper.drills.context import DrillRequest
from opskeeper.drills.drive import run_drill
from opskeeper.drills.runner import Hooks
from opskeeper.drills.scenarios import find_scenario
from opskeeper.ledger import Ledger


def _mails(home: Path) -> dict[str, str]:
    out = {}
    for path in sorted((home / "outbox").rglob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes())
        body = next(p.get_payload(decode=True).decode() for p in msg.walk() if p.get_content_type() == "text/plain")
        out[path.name] = str(make_header(decode_header(msg["Subject"]))) + "\n" + body
    return out


def test_started_and_completed_notices_in_chinese(backed_up: Estate, ledger: Ledger, opskeeper_home: Path) -> None:
    run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger,
              hooks=Hooks(notice=notices.send, incident=notices.incident))
    mails = _mails(opskeeper_home)
    completed = next(m for name, m in mails.items() if "drill_completed" in name)
    assert "演练" in completed and "评分 100/100" in completed
    started = next(m for name, m in mails.items() if "drill_started" in name)
    for text in (completed, started):  # the scenario's title in Chinese, never the English data string
        assert "主服务器数据损坏" in text and "Data corruption on the primary" not in text


def test_scheduled_notice_only_for_announced_drills(example_estate: Estate, ledger: Ledger,
                                                    opskeeper_home: Path) -> None:
    start = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
    announced = find_scenario("data-corruption")
    notices.scheduled(example_estate, ledger, "volga", announced, start, start + timedelta(hours=2))
    internal = find_scenario("backup-target-lost")
    notices.scheduled(example_estate, ledger, "volga", internal, start, start + timedelta(hours=2))
    mails = _mails(opskeeper_home)
    assert len(mails) == 1
    (text,) = mails.values()
    assert "Повреждение данных на основном сервере" in text and "учени" in text.lower()
    assert "Data corruption on the primary" not in text
