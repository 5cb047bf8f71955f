"""Findings become action items with an owner and a due date; only a later passing drill closes them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from opskeeper.config.estate import Tier
from opskeeper.drills.evaluate import Evaluation, Finding
from opskeeper.ledger.drills import ItemChanges, NewItem, OpenItem

DEFAULT_DUE = timedelta(days=30)


def due_for(finding: Finding, tier: Tier, now: datetime) -> datetime:
    return now + tier.remediation.get(finding.severity.value, DEFAULT_DUE)


def reconcile(
    evaluation: Evaluation, open_items: Sequence[OpenItem], *, owner: str, tier: Tier, now: datetime
) -> ItemChanges:
    """What this drill does to the scenario's action items for the customer.

    A passing drill closes every open item of its scenario (the fix has been
    rehearsed); its own lesser findings still open new items. A failing drill
    opens items only for findings not already open, so a repeated gap is one item.
    """
    open_fps = {i.fingerprint: i.id for i in open_items}
    if evaluation.passed:
        opened = [_new(f, owner, tier, now) for f in evaluation.findings]
        return ItemChanges(tuple(opened), tuple(i.id for i in open_items), ())
    opened = [_new(f, owner, tier, now) for f in evaluation.findings if f.fingerprint not in open_fps]
    seen = tuple(open_fps[f.fingerprint] for f in evaluation.findings if f.fingerprint in open_fps)
    return ItemChanges(tuple(opened), (), seen)


def _new(finding: Finding, owner: str, tier: Tier, now: datetime) -> NewItem:
    return NewItem(
        finding.fingerprint, finding.severity.value, finding.title, finding.detail, owner,
        due_for(finding, tier, now),
    )
