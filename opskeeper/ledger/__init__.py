"""The ledger: every run, step, sample, snapshot, finding, drill, notification and audit entry."""

from opskeeper.ledger import audit, backup, core, drills, findings, notify  # noqa: F401  (tables on Base.metadata)
from opskeeper.ledger.base import Base, UTCDateTime, utcnow
from opskeeper.ledger.db import Ledger, LedgerError, default_url, home_dir

__all__ = ["Base", "Ledger", "LedgerError", "UTCDateTime", "default_url", "home_dir", "utcnow"]
