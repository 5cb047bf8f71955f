"""The anchor format: one small JSON object per anchored head, named so a listing sorts by sequence."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from opskeeper.errors import OpskeeperError

FORMAT = "opskeeper.audit-anchor"
VERSION = 1
PREFIX = "anchors/"
# Flat names (``anchors/<ledger id>-<seq>-<time>.json``): a directory store lists one level per prefix.
_NAME = re.compile(r"^anchors/(?P<ledger>[0-9a-f]{32})-(?P<seq>\d{12})-(?P<at>\d{8}T\d{6}Z)\.json$")
_TIME = "%Y%m%dT%H%M%SZ"


class AnchorError(OpskeeperError):
    """Anchoring or checking anchors could not be done; the message names the anchor and where."""

    exit_code = 1


@dataclass(frozen=True)
class Anchor:
    """The audit head of one ledger at one moment."""

    ledger_id: str
    seq: int
    hash: str
    anchored_at: datetime
    opskeeper_version: str

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.ledger_id}-{self.seq:012d}-{self.anchored_at.astimezone(UTC):{_TIME}}.json"

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT, "version": VERSION, "ledger_id": self.ledger_id, "seq": self.seq,
            "hash": self.hash, "anchored_at": self.anchored_at.astimezone(UTC).isoformat(),
            "opskeeper_version": self.opskeeper_version,
        }  # fmt: skip
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Anchor:
        """Parse an anchor; AnchorError names ``where`` when it is not one this code can read."""
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT or doc.get("version") != VERSION:
                raise ValueError(f"not a {FORMAT} version {VERSION}")
            return cls(
                ledger_id=str(doc["ledger_id"]), seq=int(doc["seq"]), hash=str(doc["hash"]),
                anchored_at=datetime.fromisoformat(doc["anchored_at"]),
                opskeeper_version=str(doc.get("opskeeper_version", "")),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise AnchorError(f"{where}: not a readable audit anchor ({e})") from e


@dataclass(frozen=True)
class AnchorName:
    """What an object's name tells about the anchor in it (used to pick without reading every object)."""

    name: str
    ledger_id: str
    seq: int
    anchored_at: datetime


def parse_name(name: str) -> AnchorName | None:
    """The anchor an object name stands for, or None for any other object."""
    m = _NAME.match(name)
    if m is None:
        return None
    try:
        at = datetime.strptime(m["at"], _TIME).replace(tzinfo=UTC)
    except ValueError:
        return None  # no real time: not a name this code writes, so not an anchor
    return AnchorName(name, m["ledger"], int(m["seq"]), at)
