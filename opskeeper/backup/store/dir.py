"""A store on a local directory: each object a file, written to a temp name, fsynced, renamed."""

from __future__ import annotations

import errno
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from opskeeper.backup.store.interface import BackupStore, ObjectExists, ObjectInfo, ObjectNotFound, StoreError

_TMP_PREFIX = ".tmp-"
_SHARDED = ("data/",)
_IOV_MAX = 1024  # thousands of packs: one level of two-hex-digit subdirectories


def _write_all(fd: int, parts: Sequence[bytes | memoryview]) -> None:
    """Write the pieces in order with writev (up to ``_IOV_MAX`` at a time), short writes resumed."""
    views = [memoryview(p).cast("B") for p in parts if len(p)]
    i = 0
    while i < len(views):
        n = os.writev(fd, views[i:i + _IOV_MAX])
        while n:
            if n >= len(views[i]):
                n -= len(views[i])
                i += 1
            else:
                views[i] = views[i][n:]
                n = 0


class DirStore(BackupStore):
    """Objects as files under ``root``; ``data/<id>`` lives in ``data/<id[:2]>/<id>``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    def _path(self, name: str) -> Path:
        if ".." in name.split("/") or name.startswith("/"):
            raise StoreError(f"invalid object name {name!r}")
        for prefix in _SHARDED:
            if name.startswith(prefix):
                oid = name[len(prefix) :]
                return self.root / prefix / oid[:2] / oid
        return self.root / name

    def local_path(self, name: str) -> str | None:
        return str(self._path(name))

    def _write_tmp(self, path: Path, parts: Sequence[bytes | memoryview]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{_TMP_PREFIX}{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, parts)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return tmp

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def put(self, name: str, data: bytes, *, retain: bool = True) -> None:
        self.put_parts(name, [data], retain=retain)

    def put_parts(self, name: str, parts: Sequence[bytes | memoryview], *, retain: bool = True) -> None:
        path = self._path(name)
        try:
            tmp = self._write_tmp(path, parts)
            os.replace(tmp, path)
            self._fsync_dir(path.parent)
        except OSError as e:
            raise StoreError(f"cannot write {name} in {self.location}: {e.strerror}") from e

    def put_new(self, name: str, data: bytes) -> None:
        path = self._path(name)
        try:
            tmp = self._write_tmp(path, [data])
            try:
                os.link(tmp, path)  # atomic create-if-absent
            finally:
                tmp.unlink(missing_ok=True)
            self._fsync_dir(path.parent)
        except FileExistsError as e:
            raise ObjectExists(f"{name} already exists in {self.location}") from e
        except OSError as e:
            raise StoreError(f"cannot write {name} in {self.location}: {e.strerror}") from e

    def get(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError as e:
            raise ObjectNotFound(f"{name} not found in {self.location}") from e
        except OSError as e:
            raise StoreError(f"cannot read {name} in {self.location}: {e.strerror}") from e

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        try:
            with open(self._path(name), "rb") as f:
                return os.pread(f.fileno(), length, offset)
        except FileNotFoundError as e:
            raise ObjectNotFound(f"{name} not found in {self.location}") from e
        except OSError as e:
            raise StoreError(f"cannot read {name} in {self.location}: {e.strerror}") from e

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        top = prefix.split("/", 1)[0] if "/" in prefix else ""
        base = self.root / top if top else self.root
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for fn in sorted(filenames):
                if fn.startswith(_TMP_PREFIX):
                    continue
                name = fn if not top else f"{top}/{fn}"
                if not name.startswith(prefix):
                    continue
                try:
                    st = os.stat(os.path.join(dirpath, fn))
                except FileNotFoundError:
                    continue
                yield ObjectInfo(name, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))
            if not top:
                break  # bare names live at the top level only

    def delete(self, name: str) -> None:
        try:
            self._path(name).unlink(missing_ok=True)
        except OSError as e:
            raise StoreError(f"cannot delete {name} in {self.location}: {e.strerror}") from e

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def cleanup_incomplete(self, older_than_s: float) -> int:
        removed = 0
        cutoff = time.time() - older_than_s
        for tmp in self.root.rglob(f"{_TMP_PREFIX}*"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise StoreError(f"cannot remove {tmp}: {e.strerror}") from e
        return removed
