"""Prune: forget snapshots outside the retention policy, then delete data nothing references.

Runs under the exclusive lock, so no backup is adding packs meanwhile. Order
makes a crash at any point safe: (1) delete forgotten snapshot objects, (2)
write one new index listing the surviving packs, (3) delete the old index
objects, (4) delete packs no snapshot uses and packs no index lists (left by a
killed backup). Objects under S3 Object Lock retention are kept (and so are the
snapshots and packs they hold) until their retention ends. A pack still partly
used is kept whole (no repacking in format version 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from opskeeper.backup.locks import RepoLock
from opskeeper.backup.pack import BlobRef, encode_index
from opskeeper.backup.repo import Repository, new_id
from opskeeper.backup.retention import Decision, apply_retention
from opskeeper.backup.store.interface import ObjectRetained
from opskeeper.config.backup import Retention


@dataclass
class PruneReport:
    decisions: list[Decision] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    retained: list[str] = field(default_factory=list)  # by Object Lock: wanted gone, kept
    packs_deleted: int = 0
    bytes_freed: int = 0
    dry_run: bool = False


def _used_blobs(repo: Repository, snap_ids: list[str]) -> set[bytes]:
    used: set[bytes] = set()
    for sid in snap_ids:
        snap = repo.load_snapshot(sid)
        used.update(bytes.fromhex(t) for t in snap.tree)
        for e in repo.read_entries(snap.tree):
            used.update(bytes.fromhex(c) for c in e.chunks)
    return used


def _forget(repo: Repository, policy: Retention, tz: str, report: PruneReport, system: str | None) -> list[str]:
    """Decide per source (system, host, source); delete forgotten snapshots; return the kept ids.

    With ``system``, only that system's snapshots are decided; other systems sharing the target are kept.
    """
    groups: dict[str, list[tuple[str, datetime]]] = {}
    kept: list[str] = []
    for snap in repo.snapshots():
        if system is not None and snap.system != system:
            kept.append(snap.id)
            continue
        groups.setdefault(snap.source_key, []).append((snap.id, datetime.fromisoformat(snap.time)))
    for snaps in groups.values():
        for d in apply_retention(snaps, policy, tz):
            report.decisions.append(d)
            if d.keep:
                kept.append(d.snapshot_id)
                continue
            if report.dry_run:
                report.forgotten.append(d.snapshot_id)
                continue
            try:
                repo.store.delete(f"snapshots/{d.snapshot_id}")
                report.forgotten.append(d.snapshot_id)
            except ObjectRetained:
                report.retained.append(d.snapshot_id)
                kept.append(d.snapshot_id)
    return kept


def prune(repo: Repository, policy: Retention, *, tz: str = "UTC", dry_run: bool = False,
          lock_wait_s: float = 0.0, system: str | None = None) -> PruneReport:
    report = PruneReport(dry_run=dry_run)
    with RepoLock(repo.store, exclusive=True, operation="prune", wait_s=lock_wait_s):
        repo.load_index()
        kept = _forget(repo, policy, tz, report, system)
        used = _used_blobs(repo, kept)
        packs: dict[str, list[tuple[bytes, BlobRef]]] = {}
        for bid, ref in repo.index.items():
            packs.setdefault(ref.pack, []).append((bid, ref))
        dead = {pid for pid, blobs in packs.items() if not any(bid in used for bid, _ in blobs)}
        sizes = {o.name.split("/", 1)[1]: o.size for o in repo.store.list("data/")}
        orphans = set(sizes) - set(packs)
        if dry_run:
            report.packs_deleted = len(dead | orphans)
            report.bytes_freed = sum(sizes.get(p, 0) for p in dead | orphans)
            return report
        old_index = dict(repo.index_objects)
        live = {pid: blobs for pid, blobs in packs.items() if pid not in dead}
        if dead or len(old_index) > 1:
            repo.put_index(new_id(), encode_index(live))
            for oid, listed in old_index.items():
                try:
                    repo.store.delete(f"index/{oid}")
                except ObjectRetained:
                    dead -= listed  # a retained index still lists these packs: they must stay readable
        for pid in sorted(dead | orphans):
            try:
                repo.store.delete(f"data/{pid}")
                report.packs_deleted += 1
                report.bytes_freed += sizes.get(pid, 0)
            except ObjectRetained:
                continue
        repo.store.cleanup_incomplete(older_than_s=3600)
        repo.load_index()
    report.decisions.sort(key=lambda d: d.time, reverse=True)
    return report
