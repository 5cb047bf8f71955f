"""Scan one host: collect its facts, run every enabled check, return the results (no ledger here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from opskeeper.checks.security.collect import collect
from opskeeper.checks.security.model import (
    CheckContext,
    CheckResult,
    CouldNotRun,
    Facts,
    ScanTarget,
)
from opskeeper.checks.security.registry import Check, all_checks, needed_sections
from opskeeper.clock import AnchoredClock
from opskeeper.remote.interface import Executor


@dataclass(frozen=True)
class HostScan:
    """All check results of one host in one scan; ``error`` set when nothing could be collected."""

    target: ScanTarget
    started_at: datetime
    ended_at: datetime
    results: tuple[CheckResult, ...]
    integrity_hashes: Mapping[str, str]
    error: str | None = None

    @classmethod
    def failed(cls, target: ScanTarget, now: datetime, error: str) -> HostScan:
        """Nothing could be collected: every enabled check did not run (its findings become incomparable)."""
        results = tuple(
            CheckResult(c.meta, error=f"host not scanned: {error}") for c in enabled_checks(target)
        )
        return cls(target, now, now, results, {}, error=error)

    @property
    def score(self) -> float | None:
        """Passed weight / weight of the checks that ran, 0..100; None when nothing ran."""
        ran = [r for r in self.results if r.ran]
        total = sum(r.check.severity.weight for r in ran)
        if not total:
            return None
        return round(100.0 * sum(r.check.severity.weight for r in ran if r.passed) / total, 1)


def enabled_checks(target: ScanTarget) -> list[Check]:
    disabled = set(target.policy.disabled_checks)
    return [c for c in all_checks() if c.meta.id not in disabled]


def evaluate(facts: Facts, checks: list[Check], ctx: CheckContext) -> tuple[CheckResult, ...]:
    """Run the checks on collected facts. A check that raises CouldNotRun (or breaks) did not run."""
    out = []
    for c in checks:
        try:
            out.append(CheckResult(c.meta, tuple(c.fn(facts, ctx))))
        except CouldNotRun as e:
            out.append(CheckResult(c.meta, error=str(e)))
        except (KeyError, TypeError, ValueError) as e:  # malformed facts: a bug or an odd host, not a pass
            out.append(CheckResult(c.meta, error=f"check failed on these facts: {type(e).__name__}: {e}"))
    return tuple(out)


def scan_host(
    executor: Executor,
    target: ScanTarget,
    *,
    sudo: bool,
    now: datetime,
    baseline: Mapping[str, str],
) -> HostScan:
    """Collect and evaluate. Collection failures become a HostScan whose checks all did not run."""
    clock = AnchoredClock(now)  # the scan ends at its start plus the real time it took
    checks = enabled_checks(target)
    try:
        facts = collect(executor, target, needed_sections(checks), sudo=sudo)
    except Exception as e:  # noqa: BLE001 - any transport/parse failure makes every check incomparable
        return HostScan.failed(target, now, f"{type(e).__name__}: {e}")
    results = evaluate(facts, checks, CheckContext(target, now, baseline))
    hashes: dict[str, str] = {}
    sect = facts.sections.get("integrity")
    if sect is not None and sect.ok:
        hashes = sect.data["hashes"]
    return HostScan(target, now, clock.now(), results, hashes)

