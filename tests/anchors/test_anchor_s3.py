"""Anchors on a real S3-compatible server (moto on loopback): Object Lock makes them write-once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from opskeeper.anchors.check import AnchorStatus, check_anchors
from opskeeper.anchors.write import PlaceStatus, anchor_now
from opskeeper.backup.store.interface import ObjectRetained
from opskeeper.backup.store.s3 import S3Settings, S3Store
from opskeeper.config.backup import S3Target
from opskeeper.config.loader import load_estate
from opskeeper.ledger import Ledger
from tests.anchors.conftest import EstateFactory, MotoServer, fill, rewrite_consistently, s3_target, set_keys

pytestmark = pytest.mark.s3

LOCK = ", object_lock: {mode: GOVERNANCE, days: 1}"


def test_object_locked_anchor_is_write_once_and_catches_a_rewrite(
    make_estate: EstateFactory, s3_bucket: Callable[..., str], moto_server: MotoServer, ledger: Ledger
) -> None:
    bucket = s3_bucket(object_lock=True)
    estate = load_estate(make_estate({"vault": s3_target(moto_server, bucket, LOCK)},
                                     "audit:\n  anchor_targets: [vault]\n"))  # fmt: skip
    fill(ledger, 3)
    outcome = anchor_now(estate, ledger)
    [place] = outcome.places
    assert place.status is PlaceStatus.WRITTEN and place.name, place
    assert place.retained_until is not None and place.retained_until > datetime.now(UTC) + timedelta(hours=23)
    target = estate.backup_targets["vault"]
    assert isinstance(target, S3Target)
    vault = S3Store(S3Settings.from_target(target))  # the same keys
    with pytest.raises(ObjectRetained):
        vault.delete(place.name)
    assert vault.exists(place.name)
    assert anchor_now(estate, ledger).places[0].status is PlaceStatus.UNCHANGED
    assert check_anchors(estate, ledger).ok
    rewrite_consistently(ledger)
    report = check_anchors(estate, ledger)
    assert [r.status for r in report.results] == [AnchorStatus.REWRITTEN]
    assert f"(#{outcome.anchor.seq}) at vault s3://{bucket}/repo/anchors/" in report.problems[0]


def test_an_unreadable_anchor_target_fails_the_check(
    make_estate: EstateFactory, moto_server: MotoServer, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_keys(monkeypatch)
    estate = load_estate(make_estate({"vault": s3_target(moto_server, "no-such-bucket")},
                                     "audit:\n  anchor_targets: [vault]\n"))  # fmt: skip
    fill(ledger, 1)
    report = check_anchors(estate, ledger)
    assert not report.ok and not report.places[0].reachable
    assert report.problems[0].startswith("anchor target vault could not be read, so the trail was not checked")
    outcome = anchor_now(estate, ledger)
    assert [p.status for p in outcome.failed] == [PlaceStatus.FAILED]
