"""Check the ledger against its anchors: every anchored row must still be there with the anchored hash.

An auditor's rules: a row that differs from its anchor, or a trail that ends before an anchored row,
fails. So does an anchor target that cannot be read: the check did not happen, and making a target
unreachable must not be a way to pass it (``--no-anchors`` skips anchors knowingly). Every anchor at a
target is checked, whatever ledger it names: a wiped or replaced ledger has lost (or changed) its
identity, and its old anchors must still fail it. Only ledgers the estate lists in
``audit.other_ledgers`` (retired on purpose, or sharing the target) are left out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from opskeeper.anchors.identity import IDENTITY_ACTION, identity_of
from opskeeper.anchors.places import LOCAL_WARNING, AnchorPlace, anchor_places, list_anchors
from opskeeper.anchors.record import PREFIX, Anchor, AnchorError, AnchorName
from opskeeper.backup.store.dir import DirStore
from opskeeper.backup.store.interface import BackupStore
from opskeeper.config.estate import Estate
from opskeeper.errors import OpskeeperError
from opskeeper.ledger import Ledger
from opskeeper.ledger import anchors as trail


class AnchorStatus(StrEnum):
    OK = "ok"
    REWRITTEN = "rewritten"  # the row at the anchored seq has another hash
    TRUNCATED = "truncated"  # the trail ends before the anchored seq
    MISSING = "missing"  # the anchored row is gone, later rows are not
    UNREADABLE = "unreadable"  # the anchor object could not be read or parsed
    FOREIGN = "foreign"  # names another ledger identity: this one was wiped or replaced


@dataclass(frozen=True)
class AnchorResult:
    where: str
    name: str
    seq: int
    anchored_at: datetime
    status: AnchorStatus
    message: str = ""


@dataclass(frozen=True)
class PlaceReport:
    target: str
    where: str
    reachable: bool
    anchors: int = 0  # checked here
    skipped_ledgers: list[str] = field(default_factory=list)  # audit.other_ledgers found here
    error: str = ""


@dataclass(frozen=True)
class AnchorReport:
    ledger_id: str | None  # recorded in the ledger (None before its first anchor, or after a wipe)
    places: list[PlaceReport]
    results: list[AnchorResult]
    problems: list[str]
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def judge(ledger: Ledger, anchor: Anchor, where: str, last_seq: int | None = None) -> AnchorResult:
    """One anchor against the ledger; ``last_seq`` (the trail's last entry) is looked up when not given."""
    if last_seq is None:
        last_seq = trail.last_seq(ledger)
    row_hash = trail.entry_hash(ledger, anchor.seq)
    said = f"anchor of {anchor.anchored_at.isoformat()} (#{anchor.seq}) at {where}"
    status, message = AnchorStatus.OK, ""
    if last_seq < anchor.seq:
        status = AnchorStatus.TRUNCATED
        message = (f"{said}: the trail ends at #{last_seq}: it was truncated or wiped after it was "
                   "anchored")  # fmt: skip
    elif row_hash is None:
        status, message = AnchorStatus.MISSING, f"{said}: entry #{anchor.seq} is missing"
    elif row_hash != anchor.hash:
        status = AnchorStatus.REWRITTEN
        message = (f"{said}: entry #{anchor.seq} has hash {row_hash[:16]}..., the anchor holds "
                   f"{anchor.hash[:16]}...: the trail was rewritten")  # fmt: skip
    name = anchor.name
    return AnchorResult(where, name, anchor.seq, anchor.anchored_at, status, message)


def _read(store: BackupStore, a: AnchorName, where: str) -> Anchor:
    anchor = Anchor.from_json(store.get(a.name), f"{a.name} at {where}")
    if (anchor.ledger_id, anchor.seq) != (a.ledger_id, a.seq):
        raise AnchorError(f"{a.name} at {where} holds ledger {anchor.ledger_id} #{anchor.seq}")
    return anchor


def _readable(store: BackupStore) -> None:
    """AnchorError when a directory target cannot be read: its listing would just be empty (a disk
    not mounted, an ``anchors`` that is not a directory), and a target read as empty passes."""
    if not isinstance(store, DirStore):
        return  # other stores raise StoreError when they cannot list
    for path, must_exist in ((store.root, True), (store.root / PREFIX.rstrip("/"), False)):
        try:
            with os.scandir(path):
                pass
        except FileNotFoundError as e:
            if must_exist:
                raise AnchorError(f"{path} does not exist (not mounted?)") from e
        except OSError as e:
            raise AnchorError(f"cannot list {path}: {e.strerror or e}") from e


def _check_place(
    ledger: Ledger, place: AnchorPlace, store: BackupStore, ours: _Ours
) -> tuple[PlaceReport, list[AnchorResult]]:
    where = place.where(store)
    _readable(store)
    found = list_anchors(store)
    checked = [a for a in found if a.ledger_id not in ours.skip]
    results = []
    for a in checked:
        try:
            anchor = _read(store, a, where)
        except OpskeeperError as e:
            results.append(AnchorResult(where, a.name, a.seq, a.anchored_at, AnchorStatus.UNREADABLE, str(e)))
            continue
        result = judge(ledger, anchor, where, ours.last_seq)
        if anchor.ledger_id != ours.ledger_id:
            this = f"this ledger is {ours.ledger_id}" if ours.ledger_id else "this ledger has no identity"
            result = replace(result, status=AnchorStatus.FOREIGN, message=(
                f"{result.message or f'anchor of {anchor.anchored_at.isoformat()} (#{anchor.seq}) at {where}'}"
                f" (it names ledger {anchor.ledger_id}, {this}: wiped or replaced? if on purpose, list "
                f"{anchor.ledger_id} in the estate's audit.other_ledgers)"))  # fmt: skip
        results.append(result)
    skipped = sorted({a.ledger_id for a in found if a.ledger_id in ours.skip})
    return PlaceReport(place.name, where, True, len(checked), skipped), results


@dataclass(frozen=True)
class _Ours:
    ledger_id: str | None
    last_seq: int
    skip: frozenset[str]


def check_anchors(estate: Estate, ledger: Ledger) -> AnchorReport:
    """Read every anchor at every anchor place and check the ledger against it."""
    places, results, problems, warnings = [], [], [], []
    # Entries up to last_seq are read one by one after it: appends meanwhile only add later ones.
    state = trail.trail_state(ledger, IDENTITY_ACTION)
    ours = _Ours(identity_of(state.identity_subject), state.last_seq, frozenset(estate.audit.other_ledgers))
    for place in anchor_places(estate):
        try:
            with place.open() as store:
                report, found = _check_place(ledger, place, store, ours)
        except OpskeeperError as e:
            places.append(PlaceReport(place.name, place.name, False, error=str(e)))
            problems.append(f"anchor target {place.name} could not be read, so the trail was not "
                            f"checked against it: {e}")  # fmt: skip
            continue
        places.append(report)
        results += found
        problems += [r.message for r in found if r.status is not AnchorStatus.OK]
        if place.local:
            warnings.append(LOCAL_WARNING)
    if not any(r.status is AnchorStatus.OK for r in results) and not problems:
        warnings.append("no anchors of this ledger yet: run `opskeeper audit anchor` (the tick does it daily)")
    return AnchorReport(ours.ledger_id, places, results, problems, warnings)
