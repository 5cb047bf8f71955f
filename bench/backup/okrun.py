"""opskeeper's side of the benchmark as its own process (startup counted, like restic's).

usage: python -m bench.backup.okrun init|backup|restore REPO [DATA|TARGET]
"""

from __future__ import annotations

import sys

from opskeeper.backup.backup import backup
from opskeeper.backup.repo import Repository
from opskeeper.backup.restore import restore
from opskeeper.backup.sources import DirSource
from opskeeper.backup.store.dir import DirStore

PASSPHRASE = "bench passphrase"


def main(argv: list[str]) -> int:
    cmd, repo_path = argv[0], argv[1]
    store = DirStore(repo_path)
    if cmd == "init":
        Repository.init(store, PASSPHRASE)
        return 0
    repo = Repository.open(store, PASSPHRASE)
    if cmd == "backup":
        backup(repo, DirSource([argv[2]]))
    elif cmd == "restore":
        restore(repo, "latest", argv[2])
    else:
        raise SystemExit(f"unknown command {cmd}")
    repo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
