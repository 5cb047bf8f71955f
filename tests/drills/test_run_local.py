"""A real data-corruption drill on this machine: real files, real backups, real corruption and restore."""

from __future__ import annotations

from opskeeper.config.estate import Estate
from opskeeper.drills.context import DrillRequest
from opskeeper.drills.drive import run_drill
from opskeeper.drills.timeline import Event
from opskeeper.ledger import Ledger
from opskeeper.ledger.drills import DrillStatus
from tests.drills.conftest import breakdown


def test_data_corruption_drill_passes_on_localhost(backed_up: Estate, ledger: Ledger) -> None:
    result = run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)
    ev = result.evaluation
    assert ev is not None
    assert result.status is DrillStatus.PASS, (ev.findings, ev.checks)
    for kind in (Event.FAULT_INJECTED, Event.DETECTED, Event.SERVICE_RESTORED, Event.DATA_VERIFIED,
                 Event.CLEANUP_DONE):
        assert result.timeline.has(kind), kind
    assert ev.rto.measured is not None and ev.rto.met
    assert ev.rpo.measured is not None and ev.rpo.met
    print("\n" + breakdown(result))
