"""Repository functions for security scans: the scan run, a host scan's findings in one transaction,
integrity baselines, alert marks and when each customer was last scanned."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opskeeper.ledger.core import Run, RunStatus
from opskeeper.ledger.db import Ledger
from opskeeper.ledger.findings import Finding, SecurityScan, baseline, host_findings, record_baseline

T = TypeVar("T")


class ScanWriter:
    """One host scan's rows, written in one transaction: the finding lifecycle decides what to write."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, row: SecurityScan | Finding) -> None:
        self._s.add(row)

    def flush(self) -> None:
        """Give new rows their ids."""
        self._s.flush()

    def host_findings(self, host: str) -> dict[str, Finding]:
        return host_findings(self._s, host)

    def record_baseline(self, host: str, hashes: dict[str, str], now: datetime, *, replace: bool) -> int:
        return record_baseline(self._s, host, hashes, now, replace=replace)


def write_scan(ledger: Ledger, write: Callable[[ScanWriter], T]) -> T:
    """Run ``write`` in one transaction: all of a host scan's rows land, or none."""
    with ledger.session() as s:
        return write(ScanWriter(s))


def host_baseline(ledger: Ledger, host: str) -> dict[str, str]:
    with ledger.session() as s:
        return baseline(s, host)


def replace_baseline(ledger: Ledger, host: str, hashes: dict[str, str], now: datetime) -> int:
    with ledger.session() as s:
        return record_baseline(s, host, hashes, now, replace=True)


def start_scan_run(ledger: Ledger, customer: str | None, trigger: str, flow_run_id: str | None) -> int:
    with ledger.session() as s:
        run = Run(kind="scan", customer_id=customer, trigger=trigger, flow_run_id=flow_run_id)
        s.add(run)
        s.flush()
        return run.id


def finish_scan_run(
    ledger: Ledger, run_id: int, status: RunStatus, summary: dict[str, Any], reason: str | None
) -> None:
    with ledger.session() as s:
        run = s.get(Run, run_id)
        if run is not None:
            run.status, run.ended_at = status, ledger.now()
            run.summary = summary
            run.reason = reason


def mark_notified(ledger: Ledger, finding_ids: list[int], now: datetime) -> None:
    with ledger.session() as s:
        for fid in finding_ids:
            f = s.get(Finding, fid)
            if f is not None:
                f.notified_at = now


def last_scans(ledger: Ledger) -> dict[str | None, datetime]:
    """The start of each customer's last completed scan (None: a scan of the whole estate)."""
    done = (RunStatus.OK, RunStatus.PARTIAL)
    with ledger.session() as s:
        rows = s.execute(
            select(Run.customer_id, func.max(Run.started_at))
            .where(Run.kind == "scan", Run.status.in_([d.value for d in done]))
            .group_by(Run.customer_id)
        ).all()
    return {cid: at for cid, at in rows}
