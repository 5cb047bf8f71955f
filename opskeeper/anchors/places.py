"""Where anchors go: the backup targets the estate names for them, else a local directory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opskeeper.anchors.record import PREFIX, AnchorError, AnchorName, parse_name
from opskeeper.backup.store.dir import DirStore
from opskeeper.backup.store.factory import open_store
from opskeeper.backup.store.interface import BackupStore
from opskeeper.config.backup import BackupTarget
from opskeeper.config.estate import Estate
from opskeeper.errors import OpskeeperError
from opskeeper.paths import home_dir

LOCAL_WARNING = (
    "anchors are only in a local directory: they protect against accidents, not against an attacker "
    "with access to this machine; name backup targets in the estate's audit.anchor_targets"
)


@dataclass(frozen=True)
class AnchorPlace:
    """One place anchors are kept: a named backup target, or the local fallback (``target`` None)."""

    name: str
    target: BackupTarget | None

    @property
    def local(self) -> bool:
        return self.target is None

    @contextmanager
    def open(self) -> Iterator[BackupStore]:
        """The place's store; AnchorError (naming the place) when it cannot be opened."""
        try:
            store = DirStore(home_dir()) if self.target is None else open_store(self.target)
        except OpskeeperError as e:
            raise AnchorError(f"cannot open anchor target {self.name}: {e}") from e
        try:
            yield store
        finally:
            store.close()

    def where(self, store: BackupStore) -> str:
        base = store.location.rstrip("/")
        return f"{self.name} {base}/{PREFIX}"


def anchor_places(estate: Estate) -> list[AnchorPlace]:
    names = estate.audit.anchor_targets
    if not names:
        return [AnchorPlace("local", None)]
    return [AnchorPlace(n, estate.backup_targets[n]) for n in names]


def list_anchors(store: BackupStore, ledger_id: str | None = None) -> list[AnchorName]:
    """The anchors in ``store`` (of one ledger when given), oldest sequence first; StoreError passes."""
    prefix = f"{PREFIX}{ledger_id}-" if ledger_id else PREFIX
    found = [a for a in (parse_name(o.name) for o in store.list(prefix)) if a is not None]
    return sorted(found, key=lambda a: (a.seq, a.anchored_at))
