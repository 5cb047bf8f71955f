"""Sources through the Executor seam: PostgreSQL via pg_dump (real server), remote directories via tar."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import psycopg2
import pytest

from opskeeper.backup.backup import backup
from opskeeper.backup.errors import SourceError
from opskeeper.backup.repo import Repository
from opskeeper.backup.restore import restore, restore_remote, snapshot_entries
from opskeeper.backup.streams import PostgresSource, RemoteDirSource
from opskeeper.backup.tree import EntryKind
from opskeeper.remote.local import LocalExecutor
from tests.backup.conftest import assert_same_tree

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@pytest.fixture
def throwaway_db():  # type: ignore[no-untyped-def]
    name = f"okb_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(dbname="postgres", **PG)
    except psycopg2.Error as e:
        pytest.skip(f"PostgreSQL not reachable: {e}")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    yield name
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}_r" WITH (FORCE)')
    admin.close()


def _rows(dbname: str) -> list[tuple[int, str]]:
    with psycopg2.connect(dbname=dbname, **PG) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, body FROM orders ORDER BY id")
        return list(cur.fetchall())


@pytest.mark.postgres
def test_pg_dump_backup_restores_into_a_new_database(dir_repo: Repository, throwaway_db: str, tmp_path: Path) -> None:
    with psycopg2.connect(dbname=throwaway_db, **PG) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id int primary key, body text)")
        # ~6 MiB: several chunks, so a second dump (new header timestamp) shares all but the first
        cur.execute("INSERT INTO orders SELECT i, repeat(md5(i::text), 6) FROM generate_series(1, 30000) i")
    src = PostgresSource(LocalExecutor(), throwaway_db, host="127.0.0.1", port=5432, user="postgres")
    snap = backup(dir_repo, src, system="db1", tags=("orders",))
    again = backup(dir_repo, PostgresSource(LocalExecutor(), throwaway_db, host="127.0.0.1", user="postgres"))
    assert again.stats.new_bytes < again.stats.bytes / 2  # an unchanged database's dump deduplicates
    restore(dir_repo, snap.id, tmp_path / "out")
    dump = tmp_path / "out" / f"{throwaway_db}.pgdump"
    assert dump.stat().st_size == snap.stats.bytes
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", f"{throwaway_db}_r"], check=True)
    subprocess.run(["pg_restore", "-h", "127.0.0.1", "-U", "postgres", "-d", f"{throwaway_db}_r", str(dump)],
                   check=True)
    assert _rows(f"{throwaway_db}_r") == _rows(throwaway_db)


@pytest.mark.postgres
def test_failed_pg_dump_commits_no_snapshot(dir_repo: Repository) -> None:
    src = PostgresSource(LocalExecutor(), "no_such_database_xyz", host="127.0.0.1", user="postgres")
    with pytest.raises(SourceError, match="pg_dump.*exited"):
        backup(dir_repo, src)
    assert dir_repo.snapshot_ids() == []


def test_remote_dir_is_streamed_as_tar_and_restores_remotely(
    dir_repo: Repository, data_dir: Path, tmp_path: Path
) -> None:
    ex = LocalExecutor()
    snap = backup(dir_repo, RemoteDirSource(ex, str(data_dir)), system="web")
    entries = {e.path: e for e in snapshot_entries(dir_repo, snap.id)}
    base = str(data_dir).lstrip("/")
    assert entries[f"{base}/link"].kind is EntryKind.SYMLINK
    assert entries[f"{base}/sub/f001.txt"].size == (data_dir / "sub" / "f001.txt").stat().st_size
    restore(dir_repo, snap.id, tmp_path / "local")
    assert_same_tree(data_dir, tmp_path / "local" / base)
    res = restore_remote(dir_repo, snap.id, ex, str(tmp_path / "remote"))
    assert res.files == sum(1 for e in entries.values() if e.kind is EntryKind.FILE)
    assert_same_tree(data_dir, tmp_path / "remote" / base)


def test_remote_dir_missing_fails_cleanly(dir_repo: Repository, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="tar"):
        backup(dir_repo, RemoteDirSource(LocalExecutor(), str(tmp_path / "absent")))
    assert dir_repo.snapshot_ids() == []

