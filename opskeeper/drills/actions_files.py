"""Drill actions on files: checksum baseline, verify, corrupt, restore (in place or relocated).

Everything on the host goes through its Executor (local or SSH) with a small
stdlib-only Python script, so the same action works on localhost and over SSH.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from opskeeper.backup.restore import restore, restore_remote
from opskeeper.backup.tree import EntryKind
from opskeeper.config.backup import DirDataSet
from opskeeper.config.types import FindingSeverity
from opskeeper.drills.errors import ActionFailed
from opskeeper.drills.evaluate import Finding
from opskeeper.drills.state import DrillState, state_of
from opskeeper.remote.interface import Executor
from opskeeper.remote.local import LocalExecutor
from opskeeper.runbook.actions import ActionContext, ActionOutcome, register
from opskeeper.runbook.params import ActionParams

# path -> sha256 of every regular file under the given roots (paths absolute).
_CHECKSUMS = r"""
import hashlib, json, os, sys
out = {}
for root in json.loads(sys.argv[1]):
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(d, name)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out[p] = h.hexdigest()
print(json.dumps(out))
"""

# Overwrite 64 bytes in the middle of each file (inverted, so the content really changes).
_CORRUPT = r"""
import json, os, sys
done = []
for p in json.loads(sys.argv[1]):
    size = os.path.getsize(p)
    if size == 0:
        continue
    at = size // 2
    with open(p, "r+b") as f:
        f.seek(at)
        data = f.read(64)
        f.seek(at)
        f.write(bytes(b ^ 0xFF for b in data))
    done.append(p)
print(json.dumps(done))
"""


class DatasetParams(ActionParams):
    dataset: str = Field(description="a data set of the system, by name (datasets[].name)")


class VerifyParams(DatasetParams):
    against: Literal["snapshot", "baseline"] = Field(
        "snapshot", description="the newest snapshot's manifest, or the checksums recorded by files.checksums")
    relocate: str = Field("", description="check the copy restored under this directory, not the original")
    scope: Literal["all", "restored"] = Field("all", description="every file, or only those this drill restored")


class CorruptParams(DatasetParams):
    count: int = Field(2, ge=1, description="how many files to corrupt (the first ones in path order)")


class RestoreParams(DatasetParams):
    relocate: str = Field("", description="restore under this directory instead of in place")
    only: Literal["all", "mismatched"] = Field(
        "all", description="every file, or only those whose checksum differs from the baseline")


def _dir_dataset(state: DrillState, name: Any) -> DirDataSet:
    ds = state.backups.dataset(str(name))
    if not isinstance(ds, DirDataSet):
        raise ActionFailed(f"data set {name} is not a directory data set")
    return ds


def _python(ex: Executor, script: str, arg: object, timeout: float, sudo: bool) -> Any:
    res = ex.run(["python3", "-c", script, json.dumps(arg)], timeout=timeout, sudo=sudo)
    if not res.ok:
        raise ActionFailed(f"on {ex.host.name}: python3 exited {res.exit_code}: {res.stderr.strip()[-400:]}")
    return json.loads(res.stdout)


def checksums(ctx: ActionContext, ds: DirDataSet, relocate: str = "") -> dict[str, str]:
    roots = [relocate.rstrip("/") + p if relocate else p for p in ds.paths]
    return dict(_python(ctx.executor, _CHECKSUMS, roots, ctx.timeout, ctx.sudo))


def snapshot_sums(state: DrillState, ds: DirDataSet, relocate: str = "") -> dict[str, str]:
    found = state.backups.newest(ds)
    repo = state.backups.repo(found.target)
    from opskeeper.backup.restore import snapshot_entries  # noqa: PLC0415 (same package family, no cycle)

    prefix = relocate.rstrip("/")
    return {
        f"{prefix}/{e.path}": e.sha256
        for e in snapshot_entries(repo, found.manifest.id)
        if e.kind is EntryKind.FILE
    }


def _diff(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    bad = [p for p, h in expected.items() if actual.get(p) != h]
    return sorted(bad)


@register("files.checksums", DatasetParams)
def files_checksums(ctx: ActionContext) -> ActionOutcome:
    """Record the data set's checksums as the drill's baseline (steady state); value = number of files."""
    state = state_of(ctx.params)
    ds = _dir_dataset(state, DatasetParams.of(ctx).dataset)
    sums = checksums(ctx, ds)
    state.baselines.setdefault(ds.name, sums)  # the first (pre-fault) baseline is the one that counts
    return ActionOutcome(bool(sums), f"{len(sums)} files checksummed in {ds.name}", {"value": len(sums)})


@register("files.verify", VerifyParams)
def files_verify(ctx: ActionContext) -> ActionOutcome:
    """Files whose checksum differs from the baseline or the newest snapshot; value = their paths."""
    state = state_of(ctx.params)
    p = VerifyParams.of(ctx)
    ds = _dir_dataset(state, p.dataset)
    against, relocate = p.against, p.relocate
    if against == "baseline":
        if ds.name not in state.baselines:
            raise ActionFailed(f"no checksum baseline of {ds.name}: run files.checksums in the hypothesis")
        expected = state.baselines[ds.name]
    else:
        expected = snapshot_sums(state, ds, relocate)
    if p.scope == "restored":
        keep = set(state.restored_paths.get(ds.name, []))
        expected = {p: h for p, h in expected.items() if p in keep}
    bad = _diff(expected, checksums(ctx, ds, relocate))
    text = f"{len(expected)} files checked against the {against}: {len(bad)} differ"
    return ActionOutcome(not bad, "\n".join([text, *bad[:50]]), {"value": bad, "checked": len(expected)})


@register("files.corrupt", CorruptParams)
def files_corrupt(ctx: ActionContext) -> ActionOutcome:
    """Fault: corrupt ``count`` files of the data set (the first ones in path order, for repeatability)."""
    state = state_of(ctx.params)
    p = CorruptParams.of(ctx)
    ds = _dir_dataset(state, p.dataset)
    count = p.count
    victims = sorted(state.baselines.get(ds.name) or checksums(ctx, ds))[:count]
    done = list(_python(ctx.executor, _CORRUPT, victims, ctx.timeout, ctx.sudo))
    state.corrupted[ds.name] = done
    return ActionOutcome(bool(done), f"corrupted {len(done)} files:\n" + "\n".join(done), {"value": done})


@register("restore.files", RestoreParams)
def restore_files(ctx: ActionContext) -> ActionOutcome:
    """Restore the data set from its newest snapshot: all files, or only those that differ, in place or relocated."""
    state = state_of(ctx.params)
    p = RestoreParams.of(ctx)
    ds = _dir_dataset(state, p.dataset)
    relocate = p.relocate
    found = _newest_or_finding(state, ds)
    repo = state.backups.repo(found.target)
    root = relocate or "/"
    if p.only == "mismatched":
        expected = state.baselines.get(ds.name) or snapshot_sums(state, ds)
        paths = _diff(expected, checksums(ctx, ds))
        includes = [p.lstrip("/") for p in paths]
    else:
        paths = sorted(snapshot_sums(state, ds, relocate))
        includes = [""]
    files = 0
    for include in includes:
        if isinstance(ctx.executor, LocalExecutor):
            files += restore(repo, found.manifest.id, root, include=include).files
        else:
            files += restore_remote(repo, found.manifest.id, ctx.executor, root, include=include).files
    state.restored.append(found)
    state.restored_paths[ds.name] = sorted(set(state.restored_paths.get(ds.name, [])) | set(paths))
    text = (f"restored {files} files of {ds.name} from snapshot {found.manifest.id[:12]} "
            f"({found.manifest.time}) on target {found.target} to {ctx.host.name}:{root}")
    detail = {"value": files, "snapshot": found.manifest.id, "snapshot_time": found.manifest.time,
              "target": found.target}
    return ActionOutcome(True, text, detail)


def _newest_or_finding(state: DrillState, ds: DirDataSet) -> Any:
    try:
        return state.backups.newest(ds, [t for t in state.backups.targets if t not in state.backups.blocked])
    except ActionFailed as e:
        if state.backups.blocked:
            state.add_finding(Finding(
                "no-secondary-target", FindingSeverity.HIGH,
                "No other backup target can restore the data: the system has no usable secondary target",
                str(e)))
        raise
