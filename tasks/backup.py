"""Prefect tasks of the backup flows: the artifacts (backups, prunes, verifications run as tasks by tasks.fanout)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from opskeeper.backup.ops import BackupOutcome
from opskeeper.backup.verify import VerifyReport


def _key(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")[:60]


@task(name="publish-backup-artifact", cache_policy=NO_CACHE)
def publish_backup_artifact(system: str, outcomes: list[BackupOutcome]) -> None:
    """A table of the snapshots taken (or the errors) in the Prefect UI."""
    rows = [{"dataset": o.dataset, "target": o.target, "snapshot": o.snapshot.id[:12] if o.snapshot else "",
             "files": str(o.snapshot.stats.files) if o.snapshot else "",
             "MiB": f"{o.snapshot.stats.bytes / 2**20:.1f}" if o.snapshot else "",
             "new MiB": f"{o.snapshot.stats.new_bytes / 2**20:.1f}" if o.snapshot else "",
             "seconds": f"{o.duration_s:.1f}", "error": o.error or ""} for o in outcomes]
    create_table_artifact(key=f"backup-{_key(system)}", table=rows, description=f"backup of system {system}")


@task(name="publish-verify-artifact", cache_policy=NO_CACHE)
def publish_verify_artifact(reports: dict[str, VerifyReport]) -> None:
    rows = [{"target": t, "ok": "yes" if r.ok else "NO", "snapshots": str(r.snapshots), "packs": str(r.packs),
             "packs read": str(r.packs_read), "problems": "; ".join(p.message for p in r.problems[:10])}
            for t, r in reports.items()]
    create_table_artifact(key="backup-verify", table=rows, description="backup verification")
