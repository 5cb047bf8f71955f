"""Tell customers about new critical/high findings through the Notifier (per the emergency plan).

One message per customer, system and check (not per file or package), worded without
host names or paths: those are private to the provider. Re-running a scan sends
nothing twice: the dedup key is built from the findings' fingerprints and occurrences.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from opskeeper.checks.security.lifecycle import FindingRef, ScanDiff
from opskeeper.checks.security.registry import get as get_check
from opskeeper.config.estate import Estate
from opskeeper.config.types import FindingSeverity
from opskeeper.config.types import Severity as NoticeSeverity
from opskeeper.i18n import Localized
from opskeeper.ledger import Ledger
from opskeeper.ledger import security as scans
from opskeeper.notify.events import Event
from opskeeper.notify.service import notify

NOTIFY_AT = (FindingSeverity.CRITICAL, FindingSeverity.HIGH)


@dataclass(frozen=True)
class Alert:
    customer_id: str
    system_id: str
    check_id: str
    findings: tuple[FindingRef, ...]

    @property
    def severity(self) -> FindingSeverity:
        return min((FindingSeverity(f.severity) for f in self.findings), key=lambda s: s.rank)

    @property
    def dedup_key(self) -> str:
        raw = "\n".join(sorted(f"{f.fingerprint}:{f.id}:{f.due_by.isoformat()}" for f in self.findings))
        return "security:" + hashlib.sha256(raw.encode()).hexdigest()[:24]


def alerts_for(diffs: Iterable[ScanDiff], system_of: dict[str, str]) -> list[Alert]:
    """Group the new, unaccepted critical/high findings by customer, system and check."""
    groups: dict[tuple[str, str, str], list[FindingRef]] = {}
    for d in diffs:
        for f in d.new:
            if FindingSeverity(f.severity) in NOTIFY_AT and not f.accepted:
                groups.setdefault((d.customer_id, system_of.get(f.host, ""), f.check_id), []).append(f)
    return [Alert(c, s, k, tuple(fs)) for (c, s, k), fs in sorted(groups.items())]


def send_alerts(estate: Estate, ledger: Ledger, diffs: list[ScanDiff]) -> list[Alert]:
    """Notify each alert's customer; mark the findings notified. Returns what was sent."""
    system_of = {h.name: s.id for _, s, h in estate.all_hosts()}
    sent = []
    for alert in alerts_for(diffs, system_of):
        customer = estate.customer(alert.customer_id)
        system = customer.system(alert.system_id) if alert.system_id else customer.systems[0]
        notify(
            estate, ledger, event=Event.SECURITY_FINDING, customer_id=customer.id,
            severity=NoticeSeverity.HIGH, dedup_key=alert.dedup_key, topic=f"security:{alert.check_id}",
            context={"system": system.name or system.id, "title": _title(alert), "count": len(alert.findings),
                     "finding_severity": alert.severity.value,
                     "remediation_due": min(f.due_by for f in alert.findings)},
        )  # fmt: skip
        _mark_notified(ledger, [f.id for f in alert.findings])
        sent.append(alert)
    return sent


def _title(alert: Alert) -> Localized:
    """The check's title in every language it has; a check no longer registered keeps the stored title."""
    try:
        return get_check(alert.check_id).meta.localized_title
    except KeyError:
        return Localized.of(alert.findings[0].title)


def _mark_notified(ledger: Ledger, ids: list[int]) -> None:
    scans.mark_notified(ledger, ids, ledger.now())
