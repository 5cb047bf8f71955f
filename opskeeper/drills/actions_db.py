"""Drill actions on PostgreSQL: fingerprint (row counts + a checksum query), drop, restore the newest dump.

``psql``/``pg_restore`` run on the data set's host through its Executor, so the
database may be local or behind SSH; a dump streams from the repository into
``pg_restore`` without touching the disk.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from opskeeper.backup.restore import snapshot_entries
from opskeeper.backup.tree import EntryKind
from opskeeper.config.backup import PostgresDataSet
from opskeeper.drills.actions_files import DatasetParams
from opskeeper.drills.errors import ActionFailed
from opskeeper.drills.state import DrillState, state_of
from opskeeper.remote.interface import Executor
from opskeeper.runbook.actions import ActionContext, ActionOutcome, register

_TABLES = (
    "SELECT quote_ident(table_schema)||'.'||quote_ident(table_name) FROM information_schema.tables "
    "WHERE table_type='BASE TABLE' AND table_schema NOT IN ('pg_catalog','information_schema') ORDER BY 1"
)


class PgVerifyParams(DatasetParams):
    baseline: Literal["record", "compare"] = Field(
        "compare", description="record the steady state, or compare with the one recorded")


def _pg_dataset(state: DrillState, name: object) -> PostgresDataSet:
    ds = state.backups.dataset(str(name))
    if not isinstance(ds, PostgresDataSet):
        raise ActionFailed(f"data set {name} is not a PostgreSQL data set")
    return ds


def _conn(ds: PostgresDataSet, dbname: str | None = None) -> list[str]:
    return ["--host", ds.db_host, "--port", str(ds.port), "--username", ds.user, "--no-password",
            "--dbname", dbname or ds.dbname]


def _psql(ex: Executor, ds: PostgresDataSet, sql: str, timeout: float, dbname: str | None = None) -> str:
    res = ex.run(["psql", *_conn(ds, dbname), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], timeout=timeout)
    if not res.ok:
        raise ActionFailed(f"psql on {ex.host.name} ({ds.dbname}): {res.stderr.strip()[-400:]}")
    return res.stdout


def database_exists(ex: Executor, ds: PostgresDataSet, timeout: float) -> bool:
    sql = f"SELECT 1 FROM pg_database WHERE datname = '{ds.dbname.replace(chr(39), chr(39) * 2)}'"
    return _psql(ex, ds, sql, timeout, dbname="postgres").strip() == "1"


def fingerprint(ex: Executor, ds: PostgresDataSet, timeout: float) -> dict[str, str]:
    """table -> "rows:md5" where md5 covers every row in a stable order (the checksum query)."""
    tables = [t for t in _psql(ex, ds, _TABLES, timeout).splitlines() if t]
    if not tables:
        return {}
    parts = [
        f"SELECT '{t}', count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') "
        f"FROM {t} x"
        for t in tables
    ]
    out = _psql(ex, ds, " UNION ALL ".join(parts), timeout)
    return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)


@register("postgres.verify", PgVerifyParams)
def postgres_verify(ctx: ActionContext) -> ActionOutcome:
    """``baseline: record`` keeps row counts and checksums; ``compare`` lists tables that differ (the value)."""
    state = state_of(ctx.params)
    p = PgVerifyParams.of(ctx)
    ds = _pg_dataset(state, p.dataset)
    if not database_exists(ctx.executor, ds, ctx.timeout):
        return ActionOutcome(False, f"database {ds.dbname} does not exist", {"value": [f"{ds.dbname}: missing"]})
    prints = fingerprint(ctx.executor, ds, ctx.timeout)
    if p.baseline == "record" and ds.name not in state.pg_baselines:
        state.pg_baselines[ds.name] = prints
        rows = sum(int(v.split(":", 1)[0]) for v in prints.values())
        return ActionOutcome(bool(prints), f"{len(prints)} tables, {rows} rows recorded", {"value": []})
    base = state.pg_baselines.get(ds.name)
    if base is None:
        raise ActionFailed(f"no baseline of {ds.name}: run postgres.verify with baseline: record first")
    bad = [f"{t}: {base.get(t, 'absent')} -> {prints.get(t, 'absent')}"
           for t in sorted(set(base) | set(prints)) if base.get(t) != prints.get(t)]
    text = f"{len(base)} tables compared with the baseline: {len(bad)} differ"
    return ActionOutcome(not bad, "\n".join([text, *bad]), {"value": bad})


@register("postgres.drop", DatasetParams)
def postgres_drop(ctx: ActionContext) -> ActionOutcome:
    """Fault: terminate the database's sessions and drop it."""
    state = state_of(ctx.params)
    ds = _pg_dataset(state, DatasetParams.of(ctx).dataset)
    lit = ds.dbname.replace("'", "''")
    _psql(ctx.executor, ds, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{lit}' "
          "AND pid <> pg_backend_pid()", ctx.timeout, dbname="postgres")
    res = ctx.executor.run(["dropdb", *_conn(ds, "postgres")[:-2], "--if-exists", ds.dbname], timeout=ctx.timeout)
    if not res.ok:
        raise ActionFailed(f"dropdb {ds.dbname} on {ctx.host.name}: {res.stderr.strip()[-400:]}")
    return ActionOutcome(True, f"dropped database {ds.dbname}", {"value": ds.dbname})


@register("restore.postgres", DatasetParams)
def restore_postgres(ctx: ActionContext) -> ActionOutcome:
    """Create a fresh database and stream the newest dump of the data set into ``pg_restore``."""
    state = state_of(ctx.params)
    ds = _pg_dataset(state, DatasetParams.of(ctx).dataset)
    found = state.backups.newest(ds, [t for t in state.backups.targets if t not in state.backups.blocked])
    repo = state.backups.repo(found.target)
    dumps = [e for e in snapshot_entries(repo, found.manifest.id) if e.kind is EntryKind.FILE]
    if not dumps:
        raise ActionFailed(f"snapshot {found.manifest.id[:12]} holds no dump of {ds.dbname}")
    res = ctx.executor.run(["createdb", *_conn(ds, "postgres")[:-2], ds.dbname], timeout=ctx.timeout)
    if not res.ok:
        raise ActionFailed(f"createdb {ds.dbname} on {ctx.host.name}: {res.stderr.strip()[-400:]}")
    stream = ctx.executor.open_stream(["pg_restore", *_conn(ds), "--no-owner", "--exit-on-error"])
    for chunk in dumps[0].chunks:
        stream.write_stdin(repo.read_blob(bytes.fromhex(chunk)))
    stream.close_stdin()
    result = stream.wait(timeout=ctx.timeout)
    if not result.ok:
        raise ActionFailed(f"pg_restore into {ds.dbname} on {ctx.host.name}: {result.stderr.strip()[-400:]}")
    state.restored.append(found)
    text = (f"restored {ds.dbname} from snapshot {found.manifest.id[:12]} ({found.manifest.time}) "
            f"on target {found.target}, {dumps[0].size} bytes of dump")
    detail = {"value": dumps[0].size, "snapshot": found.manifest.id, "snapshot_time": found.manifest.time}
    return ActionOutcome(True, text, detail)
