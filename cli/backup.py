"""``opskeeper backup run | list | verify | restore | prune``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import typer
from rich.markup import escape

from cli import common
from cli.common import JsonOption, print_json, run_guarded, table
from opskeeper.backup.errors import SnapshotNotFound
from opskeeper.backup.ops import (
    find_system,
    open_target,
    passphrase_for_target,
    snapshots_of,
    systems_with_backup,
    targets_in_use,
)
from opskeeper.backup.record import sync_catalog
from opskeeper.backup.restore import restore
from opskeeper.backup.service import restore_to_host, run_backups, run_prunes, run_verify
from opskeeper.remote.interface import HostKeyRejected
from opskeeper.trigger import Trigger

app = typer.Typer(help="Encrypted, deduplicated backups: run, list, verify, restore, prune.", no_args_is_help=True)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f}"


@app.command("run")
def run(
    system: str | None = typer.Option(None, "--system", help="Only this system."),
    by: str | None = typer.Option(None, "--by", help="Who triggers it (recorded)."),
    json_out: bool = JsonOption,
) -> None:
    """Back up every data set of every system with a backup policy (or one system) to its targets."""

    def body() -> int:
        estate = common.load()
        ledger = common.open_ledger()
        done = run_backups(estate, ledger, systems_with_backup(estate, system), trigger=Trigger(by=by))
        outcomes = [o for d in done for o in d.outcomes]
        if json_out:
            print_json(outcomes)
        else:
            table("backups", ["system", "dataset", "target", "snapshot", "files", "MiB", "new MiB", "s", "error"],
                  [(o.system, o.dataset, o.target, o.snapshot.id[:12] if o.snapshot else "",
                    o.snapshot.stats.files if o.snapshot else "", _mib(o.snapshot.stats.bytes) if o.snapshot else "",
                    _mib(o.snapshot.stats.new_bytes) if o.snapshot else "", f"{o.duration_s:.1f}", o.error or "")
                   for o in outcomes])
        return 0 if all(o.ok for o in outcomes) else 1

    raise typer.Exit(run_guarded(body))


@app.command("list")
def list_(
    system: str | None = typer.Option(None, "--system", help="Only this system's snapshots."),
    target: str | None = typer.Option(None, "--target", help="Only this target."),
    json_out: bool = JsonOption,
) -> None:
    """Snapshots, read from the repositories themselves (and mirrored into the ledger)."""

    def body() -> int:
        estate = common.load()
        ledger = common.open_ledger()
        rows = []
        for t in [target] if target else targets_in_use(estate, system):
            repo = open_target(estate, t, passphrase_for_target(estate, t, system))
            try:
                sync_catalog(ledger, t, repo)
                rows += [(t, s) for s in snapshots_of(repo, system)]
            finally:
                repo.close()
        if json_out:
            print_json([{"target": t, **common.to_jsonable(s)} for t, s in rows])
        else:
            table("snapshots", ["target", "id", "time (UTC)", "system", "source", "files", "MiB", "tags"],
                  [(t, s.id[:12], s.time[:19], s.system, s.source, s.stats.files, _mib(s.stats.bytes),
                    ",".join(s.tags)) for t, s in rows])
        return 0

    raise typer.Exit(run_guarded(body))


@app.command("verify")
def verify_cmd(
    read_data: float = typer.Option(0.0, "--read-data", min=0, max=100,
                                    help="Also read and decrypt this percentage of the packs (rotating)."),
    target: str | None = typer.Option(None, "--target", help="Only this target."),
    json_out: bool = JsonOption,
) -> None:
    """Check structure (and with --read-data, content) of every target in use."""

    def body() -> int:
        estate = common.load()
        ledger = common.open_ledger()
        reports = run_verify(estate, ledger, [target] if target else targets_in_use(estate), read_pct=read_data)
        if json_out:
            print_json([{"target": t, "ok": r.ok, **common.to_jsonable(r)} for t, r in reports])
        else:
            table("verify", ["target", "ok", "snapshots", "packs", "packs read", "MiB read", "problems"],
                  [(t, "yes" if r.ok else "NO", r.snapshots, r.packs, r.packs_read, _mib(r.bytes_read),
                    "\n".join(p.message for p in r.problems[:20])) for t, r in reports])
        return 0 if all(r.ok for _, r in reports) else 1

    raise typer.Exit(run_guarded(body))


@app.command("restore")
def restore_cmd(
    snapshot: str = typer.Argument(..., help="Snapshot id, unique prefix, or 'latest' (with --system)."),
    to: Path = typer.Option(..., "--to", help="Directory to restore into (on --host when given)."),
    host: str | None = typer.Option(None, "--host", help="Restore onto this host of the snapshot's system."),
    target: str | None = typer.Option(None, "--target", help="Read from this target (default: the first that has it)."),
    system: str | None = typer.Option(None, "--system", help="Resolve the snapshot among this system's targets."),
    include: str = typer.Option("", "--include", help="Only paths under this prefix (as stored, no leading /)."),
    json_out: bool = JsonOption,
) -> None:
    """Restore a snapshot; every restored file's SHA-256 is checked."""

    def body() -> int:
        estate = common.load()
        # A restore to this machine needs no ledger until it is done (the ledger may be what was lost);
        # one to a host audits a refused host key in it.
        ledger = common.open_ledger() if host else None
        errors = []
        for t in [target] if target else targets_in_use(estate, system):
            repo = open_target(estate, t, passphrase_for_target(estate, t, system))
            try:
                snap_id = repo.resolve_snapshot(snapshot, system=system)
                snap = repo.load_snapshot(snap_id)
                started = time.monotonic()
                if host:
                    _, sys_ = find_system(estate, snap.system or (system or ""))
                    result = restore_to_host(estate, ledger or common.open_ledger(), repo, snap_id, sys_, host,
                                             str(to), include=include)
                else:
                    result = restore(repo, snap_id, to, include=include)
            except SnapshotNotFound as e:
                errors.append(str(e))
                continue
            finally:
                repo.close()
            (ledger or common.open_ledger()).audit("opskeeper", "backup.restore", f"snapshot:{snap_id}",
                                       {"target": t, "to": result.target, "files": result.files})
            if json_out:
                print_json({"target": t, "seconds": round(time.monotonic() - started, 3), **common.to_jsonable(result)})
            else:
                common.console.print(f"restored {result.files} files ({_mib(result.bytes)} MiB) of snapshot "
                                     f"{snap_id[:12]} from {t} to {result.target}; all checksums verified")
            return 0
        raise SnapshotNotFound("; ".join(errors) or "no target to restore from")

    raise typer.Exit(run_guarded(lambda: _host_key_said(body)))


def _host_key_said(body: Callable[[], int]) -> int:
    """A refused host key was said on stderr already (one line, both fingerprints: the SSH layer's
    ``opskeeper.security`` log) and audited: add what to do, not the same line again."""
    try:
        return body()
    except HostKeyRejected as e:
        if e.event is None:
            raise
        common.err_console.print(f"hint: {escape(e.event.advice)}", soft_wrap=True)
        return e.exit_code


@app.command("prune")
def prune_cmd(
    system: str | None = typer.Option(None, "--system", help="Only this system."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be forgotten; delete nothing."),
    json_out: bool = JsonOption,
) -> None:
    """Apply each system's GFS retention (in its customer's time zone) on its targets."""

    def body() -> int:
        estate = common.load()
        ledger = common.open_ledger()
        rows = [(s.id, t, r) for s, t, r in run_prunes(estate, ledger, systems_with_backup(estate, system),
                                                        dry_run=dry_run)]  # fmt: skip
        if json_out:
            print_json([{"system": s, "target": t, **common.to_jsonable(r)} for s, t, r in rows])
        else:
            table("prune" + (" (dry run)" if dry_run else ""),
                  ["system", "target", "kept", "forgotten", "retained (lock)", "packs deleted", "MiB freed"],
                  [(s, t, sum(1 for d in r.decisions if d.keep), len(r.forgotten), len(r.retained),
                    r.packs_deleted, _mib(r.bytes_freed)) for s, t, r in rows])
        return 0

    raise typer.Exit(run_guarded(body))
