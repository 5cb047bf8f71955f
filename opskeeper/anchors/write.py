"""Write the audit head as an anchor: now (``opskeeper audit anchor``) or when due (the tick).

Idempotent per place: a place whose newest anchor already holds the current head gets no second one.
A place whose newest anchor the ledger no longer matches gets none either: anchoring a rewritten trail
would only add noise next to the anchor that proves the rewrite.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from opskeeper import __version__
from opskeeper.anchors.check import AnchorStatus, judge
from opskeeper.anchors.identity import IDENTITY_ACTION, ensure_ledger_id, identity_of
from opskeeper.anchors.places import AnchorPlace, anchor_places, list_anchors
from opskeeper.anchors.record import Anchor, AnchorError
from opskeeper.backup.store.interface import BackupStore
from opskeeper.config.estate import Estate
from opskeeper.errors import OpskeeperError
from opskeeper.ledger import Ledger
from opskeeper.ledger import anchors as trail


class PlaceStatus(StrEnum):
    WRITTEN = "written"
    UNCHANGED = "unchanged"  # the newest anchor there already holds this head
    FAILED = "failed"


@dataclass(frozen=True)
class PlaceOutcome:
    target: str
    where: str
    status: PlaceStatus
    name: str | None = None
    retained_until: datetime | None = None  # S3 Object Lock: nobody can delete or replace it before then
    error: str = ""


@dataclass(frozen=True)
class AnchorOutcome:
    anchor: Anchor
    places: list[PlaceOutcome]
    local_only: bool

    @property
    def failed(self) -> list[PlaceOutcome]:
        return [p for p in self.places if p.status is PlaceStatus.FAILED]


def _head(ledger: Ledger) -> tuple[int, str]:
    count, problems = ledger.verify_audit()
    if problems:
        raise AnchorError(
            f"the audit chain does not verify ({len(problems)} problem(s) in {count} entries): a broken head "
            "is not anchored; run `opskeeper audit verify`"
        )
    return trail.head(ledger)


def _write_to(
    ledger: Ledger, place: AnchorPlace, store: BackupStore, anchor: Anchor, skip: list[str]
) -> PlaceOutcome:
    where = place.where(store)
    found = list_anchors(store)
    foreign = sorted({a.ledger_id for a in found} - {anchor.ledger_id} - set(skip))
    if foreign:
        raise AnchorError(
            f"{where} holds anchors of ledger(s) {', '.join(foreign)}, not of this one ({anchor.ledger_id}): "
            "was the ledger wiped or replaced? run `opskeeper audit verify`; if it was replaced on purpose, "
            "list them in the estate's audit.other_ledgers"
        )
    names = [a for a in found if a.ledger_id == anchor.ledger_id]
    if names:
        newest = Anchor.from_json(store.get(names[-1].name), f"{names[-1].name} at {where}")
        if (newest.seq, newest.hash) == (anchor.seq, anchor.hash):
            return PlaceOutcome(place.name, where, PlaceStatus.UNCHANGED, newest.name)
        verdict = judge(ledger, newest, where)
        if verdict.status is not AnchorStatus.OK:
            raise AnchorError(f"not anchoring over a contradiction: {verdict.message}")
    store.put(anchor.name, anchor.to_json(), retain=True)
    return PlaceOutcome(place.name, where, PlaceStatus.WRITTEN, anchor.name, store.retained_until(anchor.name))


def anchor_now(estate: Estate, ledger: Ledger, now: datetime | None = None) -> AnchorOutcome:
    """Anchor the current audit head at every anchor place; a place that fails is reported, not fatal."""
    lid = ensure_ledger_id(ledger)
    seq, digest = _head(ledger)
    anchor = Anchor(lid, seq, digest, now or ledger.now(), __version__)
    places = anchor_places(estate)
    outcomes = []
    for place in places:
        try:
            with place.open() as store:
                outcomes.append(_write_to(ledger, place, store, anchor, estate.audit.other_ledgers))
        except OpskeeperError as e:
            outcomes.append(PlaceOutcome(place.name, place.name, PlaceStatus.FAILED, error=str(e)))
    return AnchorOutcome(anchor, outcomes, local_only=all(p.local for p in places))


def anchor_due(estate: Estate, ledger: Ledger, now: datetime) -> bool:
    """Is some place without an anchor of this ledger, or its newest older than ``audit.every`` and
    behind the head?"""
    head_seq, subject = trail.head_seq_and_subject(ledger, IDENTITY_ACTION)
    lid = identity_of(subject)
    if lid is None:
        return True
    for place in anchor_places(estate):
        try:
            with place.open() as store:
                names = list_anchors(store, lid)
        except OpskeeperError:
            return True  # let the attempt say what is wrong with it
        if not names:
            return True
        # An unchanged head is not anchored again: the seq in the name says so without reading the chain.
        if names[-1].seq != head_seq and max(a.anchored_at for a in names) <= now - estate.audit.every:
            return True
    return False


def anchor_if_due(estate: Estate, ledger: Ledger, now: datetime) -> AnchorOutcome | None:
    """What the tick calls: anchor when due (an unchanged head still writes nothing)."""
    return anchor_now(estate, ledger, now) if anchor_due(estate, ledger, now) else None
