"""A backup in its own process, for the fault tests (kill -9, server stopped, lock races).

usage: python -m tests.backup.backup_proc STORE SOURCE [--slow SECONDS]
STORE is a directory path or s3://ENDPOINT_PORT/BUCKET. Prints ``PUT data/...`` after
each stored pack and ``SNAPSHOT <id>`` at the end; ``--slow`` sleeps after every pack.
"""

from __future__ import annotations

import argparse
import sys
import time

from opskeeper.backup.backup import backup
from opskeeper.backup.errors import BackupError
from opskeeper.backup.repo import Repository
from opskeeper.backup.sources import DirSource
from opskeeper.backup.store.dir import DirStore
from opskeeper.backup.store.interface import BackupStore
from opskeeper.backup.store.s3 import S3Settings, S3Store
from tests.backup.conftest import PASSPHRASE


def open_store(spec: str) -> BackupStore:
    if spec.startswith("s3://"):
        port, bucket = spec.removeprefix("s3://").split("/", 1)
        return S3Store(S3Settings(bucket=bucket, prefix="repo", endpoint_url=f"http://127.0.0.1:{port}",
                                  access_key="test", secret_key="test", max_attempts=2,
                                  connect_timeout_s=1, read_timeout_s=2))
    return DirStore(spec)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("source")
    ap.add_argument("--slow", type=float, default=0.0)
    args = ap.parse_args()
    store = open_store(args.store)
    put_parts = store.put_parts  # packs are written with put_parts

    def traced_put_parts(name: str, parts: list[bytes], *, retain: bool = True) -> None:
        put_parts(name, parts, retain=retain)
        if name.startswith("data/"):
            print(f"PUT {name}", flush=True)
            time.sleep(args.slow)

    store.put_parts = traced_put_parts  # type: ignore[method-assign,assignment]
    try:
        repo = Repository.open(store, PASSPHRASE)
        snap = backup(repo, DirSource([args.source]))
    except BackupError as e:
        print(f"ERROR {type(e).__name__}: {e}", flush=True)
        return e.exit_code
    print(f"SNAPSHOT {snap.id}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
