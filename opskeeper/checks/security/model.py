"""Values that cross the security-check seam: severities, check metadata, results, collected facts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opskeeper.config.security import SecurityPolicy
from opskeeper.config.types import FindingSeverity, Language
from opskeeper.errors import OpskeeperError
from opskeeper.i18n import Localized


class ScanError(OpskeeperError):
    """A security scan could not collect or read a host's facts."""

    exit_code = 1


@dataclass(frozen=True)
class CheckMeta:
    """What a check is, independent of any host: shown to engineers and customers."""

    id: str  # stable: part of every finding's fingerprint
    title: str
    severity: FindingSeverity
    rationale: str
    remediation: str
    needs: tuple[str, ...]  # fact sections the check reads
    # The title in the customers' other languages (English is ``title``); rationale and remediation
    # are for engineers and stay English.
    title_i18n: Mapping[Language, str] = field(default_factory=dict, compare=False)

    @property
    def localized_title(self) -> Localized:
        return Localized.of(self.title, self.title_i18n)


@dataclass(frozen=True)
class ObjectResult:
    """The verdict on one object (a file, a port, a setting) of one check."""

    object: str  # normalised: part of the fingerprint, so no timestamps or counters in it
    passed: bool | None  # None: this object could not be judged this time (its finding is incomparable)
    detail: str = ""


@dataclass(frozen=True)
class CheckResult:
    """A check's outcome on one host: per-object results, or why it could not run."""

    check: CheckMeta
    results: tuple[ObjectResult, ...] = ()
    error: str | None = None  # set: the check could not run, its earlier findings are incomparable

    @property
    def ran(self) -> bool:
        return self.error is None

    @property
    def passed(self) -> bool:
        return self.ran and not self.failures

    @property
    def failures(self) -> tuple[ObjectResult, ...]:
        return tuple(r for r in self.results if r.passed is False)


class CouldNotRun(Exception):
    """Raised inside a check: a fact it needs is missing or unusable on this host."""


@dataclass(frozen=True)
class Section:
    ok: bool
    error: str | None
    data: Any


@dataclass(frozen=True)
class Facts:
    """What the gather script reported for one host, by section."""

    euid: int
    sections: Mapping[str, Section]
    extra: Mapping[str, Any] = field(default_factory=dict)  # facts gathered from our side (TLS endpoints)

    def data(self, name: str) -> Any:
        """A section's data, or CouldNotRun naming why it is missing."""
        if name in self.extra:
            return self.extra[name]
        sect = self.sections.get(name)
        if sect is None:
            raise CouldNotRun(f"fact '{name}' was not collected")
        if not sect.ok:
            raise CouldNotRun(f"fact '{name}' unavailable: {sect.error}")
        return sect.data


@dataclass(frozen=True)
class ScanTarget:
    """One host to scan, with what the policy and the system say is expected there."""

    customer_id: str
    system_id: str
    host: str
    policy: SecurityPolicy
    service_ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class CheckContext:
    target: ScanTarget
    now: datetime
    baseline: Mapping[str, str]  # integrity: path -> hash recorded earlier (empty on the first scan)

    @property
    def policy(self) -> SecurityPolicy:
        return self.target.policy
