"""Sources streamed through the Executor seam: nothing is staged on disk on either side.

``RemoteDirSource``: ``tar -cf - -C / PATH...`` on the host, parsed on the fly.
``PostgresSource``: ``pg_dump --format=custom --compress=0`` (uncompressed, so it deduplicates).
"""

from __future__ import annotations

import os
import tarfile
import time
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from opskeeper.backup.errors import SourceError
from opskeeper.backup.sources import SourceItem
from opskeeper.backup.tree import EntryKind
from opskeeper.remote.interface import CommandStream, Executor, ExecutorError


class _StreamSource:
    """Shared part of the Executor-streamed sources: start, read, check the exit code."""

    ok_exit_codes: frozenset[int] = frozenset({0})

    def __init__(self, executor: Executor, argv: Sequence[str], sudo: bool = False) -> None:
        self.executor = executor
        self.argv = list(argv)
        self.sudo = sudo
        self._stream: CommandStream | None = None

    def _open(self) -> BinaryIO:
        try:
            self._stream = self.executor.open_stream(self.argv, sudo=self.sudo)
        except ExecutorError as e:
            raise SourceError(f"cannot start {self.argv[0]} on {self.executor.host.name}: {e}") from e
        return self._stream.stdout

    def finish(self) -> None:
        if self._stream is None:
            return
        try:
            result = self._stream.wait(timeout=300)
        except ExecutorError as e:
            raise SourceError(f"{self.argv[0]} on {self.executor.host.name}: {e}") from e
        if result.exit_code not in self.ok_exit_codes:
            raise SourceError(
                f"{self.argv[0]} on {self.executor.host.name} exited {result.exit_code}: {result.stderr.strip()[-500:]}"
            )


class RemoteDirSource(_StreamSource):
    """Directories on a host: ``tar -cf - -C / PATH...`` streamed through the Executor, parsed on the fly.

    Paths are stored like a local DirSource stores them (``/srv/app`` -> ``srv/app``).
    """

    kind = "remote-dir"
    # GNU tar exits 1 for "file changed as we read it": live directories (logs) always do that; the
    # archive is still complete and consistent per file, so the snapshot is kept. 2 is fatal.
    ok_exit_codes = frozenset({0, 1})

    def __init__(self, executor: Executor, paths: str | Sequence[str], excludes: Sequence[str] = (),
                 sudo: bool = False) -> None:
        self.paths = [paths] if isinstance(paths, str) else list(paths)
        rel = [p.strip("/") or "." for p in self.paths]
        argv = ["tar", "-cf", "-", "--numeric-owner", *[f"--exclude={p}" for p in excludes]]
        super().__init__(executor, [*argv, "-C", "/", "--", *rel], sudo)
        self.label = f"{executor.host.name}:" + ",".join(self.paths)

    def items(self) -> Iterator[SourceItem]:
        try:
            with tarfile.open(fileobj=self._open(), mode="r|") as tf:
                for m in tf:
                    path = os.path.normpath(m.name).lstrip("/")
                    if path.startswith(".."):
                        raise SourceError(f"tar stream from {self.label} has an unsafe path {m.name!r}")
                    mtime_ns = int(m.mtime * 1_000_000_000)
                    if m.isdir():
                        yield SourceItem(path, EntryKind.DIR, m.mode, mtime_ns)
                    elif m.issym():
                        yield SourceItem(path, EntryKind.SYMLINK, m.mode, mtime_ns, target=m.linkname)
                    elif m.isreg():
                        yield SourceItem(path, EntryKind.FILE, m.mode, mtime_ns, m.size,
                                         open=lambda m=m: tf.extractfile(m))  # type: ignore[misc,arg-type]
        except tarfile.TarError as e:
            raise SourceError(f"tar stream from {self.label} is malformed: {e}") from e


class PostgresSource(_StreamSource):
    """One database: ``pg_dump --format=custom --compress=0`` (uncompressed, so it deduplicates)."""

    kind = "postgres"

    def __init__(self, executor: Executor, dbname: str, host: str | None = None, port: int | None = None,
                 user: str | None = None) -> None:
        argv = ["pg_dump", "--format=custom", "--compress=0", "--no-password"]
        if host:
            argv += ["--host", host]
        if port:
            argv += ["--port", str(port)]
        if user:
            argv += ["--username", user]
        super().__init__(executor, [*argv, "--dbname", dbname])
        self.dbname = dbname
        self.label = f"{executor.host.name}:{dbname}"

    def items(self) -> Iterator[SourceItem]:
        stream = self._open()
        yield SourceItem(f"{self.dbname}.pgdump", EntryKind.FILE, 0o600, time.time_ns(), -1, open=lambda: stream)
