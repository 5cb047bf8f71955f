"""Verify a repository: structure always, and the content of a rotating fraction of packs.

Structure: every snapshot and its tree decrypt; every chunk a file needs is in
the index; every indexed pack exists with the right size. Data (``read_pct``):
packs whose position (first 32 bits of the id) falls in the window after the
stored cursor are read whole: SHA-256 against the name, every blob decrypted and
its keyed id recomputed. The cursor advances, so successive runs read everything.
Damage is reported by pack, snapshot and file.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from opskeeper.backup.errors import BackupError, IntegrityError
from opskeeper.backup.locks import RepoLock
from opskeeper.backup.pack import check_pack_bytes
from opskeeper.backup.repo import Repository
from opskeeper.backup.store.interface import StoreError
from opskeeper.backup.tree import Entry, EntryKind


@dataclass(frozen=True)
class Problem:
    message: str
    pack: str = ""
    snapshot: str = ""
    path: str = ""


@dataclass
class VerifyReport:
    snapshots: int = 0
    packs: int = 0
    packs_read: int = 0
    bytes_read: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def damaged_packs(self) -> list[str]:
        return sorted({p.pack for p in self.problems if p.pack})


def _cursor(value: object) -> float:
    """The stored rotation cursor in [0, 1); 0 for anything else (the state object authenticates, but any holder
    of the key may have written it)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value) % 1.0
    return 0.0


def _in_window(pack_id: str, start: float, width: float) -> bool:
    pos = int(pack_id[:8], 16) / 2**32
    return (pos - start) % 1.0 < width


def _read_pack(repo: Repository, pack_id: str, blobs: list[bytes], report: VerifyReport) -> set[bytes]:
    """Read and check one pack; returns the ids of blobs found bad."""
    try:
        data = repo.read_pack(pack_id)
    except StoreError as e:
        report.problems.append(Problem(f"pack {pack_id} unreadable: {e}", pack=pack_id))
        return set(blobs)
    report.packs_read += 1
    report.bytes_read += len(data)
    try:
        check_pack_bytes(pack_id, data)
    except IntegrityError as e:
        report.problems.append(Problem(str(e), pack=pack_id))
    bad: set[bytes] = set()
    try:  # read_blob uses the cached bytes just read, not a second fetch
        for bid in blobs:
            try:
                plain = repo.read_blob(bid)
                if repo.keys.blob_id(plain) != bid:
                    raise IntegrityError(f"blob {bid.hex()[:16]}: content does not match its id")
            except BackupError as e:
                bad.add(bid)
                report.problems.append(Problem(f"pack {pack_id}: {e}", pack=pack_id))
    finally:
        repo.forget_pack(pack_id)
    return bad


def _affected(repo: Repository, bad: set[bytes], trees: dict[str, list[Entry]], report: VerifyReport) -> None:
    for sid, entries in trees.items():
        for e in entries:
            hit = [c for c in e.chunks if bytes.fromhex(c) in bad]
            if hit:
                pack = repo.index[bytes.fromhex(hit[0])].pack
                report.problems.append(Problem(
                    f"snapshot {sid[:12]}: file {e.path} has damaged data in pack {pack[:12]}",
                    pack=pack, snapshot=sid, path=e.path))


def verify(repo: Repository, read_pct: float = 0.0) -> VerifyReport:
    """Check the repository; ``read_pct`` (0-100) of the packs are read in full."""
    report = VerifyReport()
    with RepoLock(repo.store, exclusive=False, operation="verify", wait_s=30):
        repo.load_index()
        sizes = {o.name.split("/", 1)[1]: o.size for o in repo.store.list("data/")}
        by_pack: dict[str, list[bytes]] = defaultdict(list)
        for bid, ref in repo.index.items():
            by_pack[ref.pack].append(bid)
        report.packs = len(by_pack)
        for pid, bids in by_pack.items():
            if pid not in sizes:
                report.problems.append(Problem(f"pack {pid} is in the index but missing", pack=pid))
            elif max(repo.index[b].offset + repo.index[b].length for b in bids) > sizes[pid]:
                report.problems.append(Problem(f"pack {pid} is truncated ({sizes[pid]} bytes)", pack=pid))
        trees: dict[str, list[Entry]] = {}
        for sid in repo.snapshot_ids():
            report.snapshots += 1
            try:
                trees[sid] = repo.read_entries(repo.load_snapshot(sid).tree)
            except BackupError as e:
                report.problems.append(Problem(f"snapshot {sid[:12]} unreadable: {e}", snapshot=sid))
                continue
            for entry in trees[sid]:
                if entry.kind is EntryKind.FILE and any(bytes.fromhex(c) not in repo.index for c in entry.chunks):
                    report.problems.append(Problem(
                        f"snapshot {sid[:12]}: file {entry.path} references missing data",
                        snapshot=sid, path=entry.path))
        if read_pct > 0:
            state = repo.get_state("verify")
            start = _cursor(state.get("cursor", 0.0))
            width = min(read_pct, 100.0) / 100.0
            bad: set[bytes] = set()
            for pid in sorted(by_pack):
                if pid in sizes and (width >= 1.0 or _in_window(pid, start, width)):
                    bad |= _read_pack(repo, pid, by_pack[pid], report)
            if bad:
                _affected(repo, bad, trees, report)
            repo.put_state("verify", {"cursor": (start + width) % 1.0})
    return report
