"""The ledger: every run, step, sample, snapshot, finding, drill, notification and audit entry."""

from opskeeper.clock import SYSTEM
from opskeeper.ledger import audit, backup, core, drills, findings, heartbeat, notify  # noqa: F401  (tables on Base.metadata; run heartbeats)
from opskeeper.ledger.base import Base, UTCDateTime
from opskeeper.ledger.db import Ledger, LedgerError, default_url, home_dir

__all__ = ["Base", "Ledger", "LedgerError", "UTCDateTime", "default_url", "home_dir", "utcnow"]

utcnow = SYSTEM.now  # TRANSITIONAL: being replaced by opskeeper.clock everywhere
