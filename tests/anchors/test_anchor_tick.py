"""What the tick calls: an anchor when the newest is older than audit.every, none for an unchanged head."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from opskeeper.anchors.write import PlaceStatus, anchor_if_due
from opskeeper.clock import SYSTEM
from opskeeper.config.loader import load_estate
from opskeeper.ledger import Ledger
from tasks.audit import anchor_audit_head
from tests.anchors.conftest import EstateFactory, fill


def test_the_tick_anchors_when_due(make_estate: EstateFactory, ledger: Ledger, tmp_path: Path) -> None:
    estate = load_estate(make_estate({"vault": f"{{kind: dir, path: {tmp_path / 'vault'}}}"},
                                     "audit:\n  anchor_targets: [vault]\n  every: 6h\n"))  # fmt: skip
    anchors = tmp_path / "vault" / "anchors"
    t0 = SYSTEM.now()
    fill(ledger, 2)
    first = anchor_if_due(estate, ledger, t0)  # never anchored: due
    assert first is not None and [p.status for p in first.places] == [PlaceStatus.WRITTEN]
    fill(ledger, 1)
    assert anchor_if_due(estate, ledger, t0 + timedelta(hours=5)) is None  # newest is younger than 6h
    assert len(list(anchors.iterdir())) == 1
    later = anchor_if_due(estate, ledger, t0 + timedelta(hours=7))
    assert later is not None and later.anchor.seq == first.anchor.seq + 1
    assert len(list(anchors.iterdir())) == 2
    # An unchanged head is never anchored again, however old its anchor.
    assert anchor_if_due(estate, ledger, t0 + timedelta(days=30)) is None
    # The tick's task (called as a plain function here) reports instead of raising.
    assert anchor_audit_head.fn(estate, t0 + timedelta(days=30)) == "not due"
    fill(ledger, 1)
    assert anchor_audit_head.fn(estate, t0 + timedelta(days=30)) == f"#{later.anchor.seq + 1}: vault written"


def test_a_failing_anchor_does_not_raise_in_the_tick(make_estate: EstateFactory, ledger: Ledger) -> None:
    estate = load_estate(make_estate({}, ""))
    fill(ledger, 2)
    with ledger.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    assert anchor_audit_head.fn(estate, SYSTEM.now()).startswith("failed: the audit chain does not verify")


def test_a_stray_anchor_like_name_does_not_raise_in_the_tick(
    make_estate: EstateFactory, ledger: Ledger, tmp_path: Path
) -> None:
    """An object at the target whose name looks like an anchor's but holds no real time is not one:
    the tick's task neither raises nor counts it."""
    anchors = tmp_path / "vault" / "anchors"
    anchors.mkdir(parents=True)
    (anchors / f"{'0' * 32}-000000000001-20261399T999999Z.json").write_text("{}\n")
    estate = load_estate(make_estate({"vault": f"{{kind: dir, path: {tmp_path / 'vault'}}}"},
                                     "audit:\n  anchor_targets: [vault]\n  other_ledgers: ['00000000000000000000000000000000']\n"))  # fmt: skip
    fill(ledger, 1)
    assert anchor_audit_head.fn(estate, SYSTEM.now()).endswith("vault written")
