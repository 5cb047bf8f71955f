"""The host side of a remote restore: a staging directory beside the data, checked, then moved into place.

Needs only sh, tar, sha256sum and python3 on the host. ``tar -x`` writes into
``ROOT/.opskeeper-restore-<snapshot>``, ROOT being the deepest directory above
everything restored, so that the staging directory is on the data's file system
(renames, not copies); ``sha256sum -c`` checks every file there; only then
``place_files.py`` renames each one over its destination. ``place_files.py`` also makes ROOT
and the staging directory, never following a symlink planted in the target. Until then no file
of the target has changed. A marker in the target says the restore is under
way, then (after a failure, once the staging directory is removed) why it
stopped; a successful run removes both.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opskeeper.errors import OpskeeperError

if TYPE_CHECKING:  # the executor seam loads the estate models; a plain restore does not need them
    from opskeeper.remote.interface import CommandResult, CommandStream, Executor

PLACE_SOURCE = Path(__file__).with_name("place_files.py").read_text()
STAGE_PREFIX = ".opskeeper-restore-"
_TAR_EXIT_S = 600.0  # tar has all input: only what it still writes remains
_CHECK_S = 3600.0  # sha256sum over everything, or copies across a mount point: long for big restores

# mark DIR...: writes $msg as file $name in the first directory that takes it (the target, else ROOT);
# whatever has that name goes first, so a symlink planted there is replaced, not written through.
_MARK = ('mark() { for d in "$@"; do { rm -f -- "$d/$name" && (set -C; printf "%s\\n" "$msg" > "$d/$name"); } '
         '2>/dev/null && return 0; done; return 1; }\n')
_PREPARE = _MARK + (
    'src=$1 target=$2 base=$3 stage=$4 name=$5 msg=$6; shift 6\n'
    'command -v python3 >/dev/null 2>&1 || { echo "python3 not found: it moves restored files into place" >&2; exit 3; }\n'
    'python3 -I -S -c "$src" prepare "$target" "$base" "$stage" || exit 1\n'
    'mark "$@"; exit 0\n'  # best effort: a read-only target can still be restored into below
)
_ABANDON = _MARK + (
    'stage=$1 name=$2 msg=$3; shift 3\n'
    'chmod -R u+w -- "$stage" 2>/dev/null; rm -rf -- "$stage"\n'
    'mark "$@"\n'
)
_FINISH = (
    'stage=$1 name=$2; shift 2\n'
    'chmod -R u+w -- "$stage" 2>/dev/null; rm -rf -- "$stage" || exit 1\n'
    'for d in "$@"; do rm -f -- "$d/$name" || exit 1; done\n'
)


class StagingFailed(Exception):
    """A step on the host exited non-zero; ``reason`` is what it said, "disk full" first when it was."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def failure_reason(res: CommandResult) -> str:
    lines = [ln.strip() for ln in (res.stderr or res.stdout).splitlines() if ln.strip()]
    if not lines:
        return f"exit code {res.exit_code}"
    for needle, what in (("No space left on device", "disk full"), ("Disk quota exceeded", "disk quota exceeded")):
        hit = next((ln for ln in lines if needle in ln), None)
        if hit:
            return f"{what} ({hit[:300]})"
    return lines[0][:300]


@dataclass(frozen=True)
class HostStaging:
    """One restore's staging directory ``ROOT/.opskeeper-restore-<snapshot>``, ROOT = ``target/base``."""

    executor: Executor
    target: str
    base: str
    snapshot: str
    marker: str

    @property
    def root(self) -> str:
        return posixpath.join(self.target, self.base) if self.base else self.target

    @property
    def stage(self) -> str:
        return posixpath.join(self.root, STAGE_PREFIX + self.snapshot[:12])

    def _marker_dirs(self) -> list[str]:
        return [self.target] if self.root == self.target else [self.target, self.root]

    def _sh(self, script: str, *args: str, stdin: bytes | None = None, timeout: float = 300.0) -> CommandResult:
        return self.executor.run(["sh", "-c", script, "sh", *args], stdin=stdin, timeout=timeout)

    def prepare(self, note: str) -> None:
        """An empty staging directory (a stale one of the same snapshot is removed), and the marker ``note``."""
        res = self._sh(_PREPARE, PLACE_SOURCE, self.target, self.base, posixpath.basename(self.stage), self.marker,
                       note, *self._marker_dirs())
        if not res.ok:
            raise StagingFailed(failure_reason(res))

    def receive(self, archive: Iterable[bytes]) -> None:
        """Stream a tar archive into ``tar -x`` in the staging directory.

        An error of ``archive`` (the repository) stops tar and propagates. When sending fails, tar's
        exit status tells a stopped tar (disk full) from a lost connection.
        """
        stream = self.executor.open_stream(["tar", "-xf", "-", "-C", self.stage])
        pieces = iter(archive)
        while True:
            try:
                piece = next(pieces, None)
            except BaseException:
                _end_quietly(stream)
                raise
            if piece is None:
                break
            try:
                stream.write_stdin(piece)
            except (OpskeeperError, OSError) as err:
                res = _end_quietly(stream)
                if res is not None and not res.ok:
                    raise StagingFailed(failure_reason(res)) from err
                raise
            except BaseException:  # Ctrl-C mid-write: tar must stop before its directory is removed
                _end_quietly(stream)
                raise
        stream.close_stdin()
        res = stream.wait(timeout=_TAR_EXIT_S)
        if not res.ok:
            raise StagingFailed(failure_reason(res))

    def verify(self, sums: bytes) -> None:
        """``sha256sum -c`` of ``sums`` (lines of ``SHA256  PATH`` below ROOT) in the staging directory."""
        if not sums:
            return
        res = self._sh('cd -- "$1" && sha256sum --quiet -c -', self.stage, stdin=sums, timeout=_CHECK_S)
        if not res.ok:
            raise StagingFailed(f"checksum mismatch: {res.stdout.strip()[:500] or failure_reason(res)}")

    def place(self, records: bytes) -> int:
        """Move everything staged into place (see ``place_files.py``); the number of files and links moved."""
        res = self.executor.run(["python3", "-I", "-S", "-c", PLACE_SOURCE, "place", self.stage, self.target, self.base],
                                stdin=records, timeout=_CHECK_S)
        if not res.ok:
            raise StagingFailed(failure_reason(res))
        return int(res.stdout.strip() or 0)

    def finish(self) -> None:
        """Remove the (now empty) staging directory and the marker."""
        res = self._sh(_FINISH, self.stage, self.marker, *self._marker_dirs())
        if not res.ok:
            raise StagingFailed(f"cannot remove the staging directory or the marker: {failure_reason(res)}")

    def abandon(self, message: str) -> bool:
        """Best effort after a failure: remove the staging directory, leave ``message`` as the marker."""
        with contextlib.suppress(OpskeeperError, OSError):
            return self._sh(_ABANDON, self.stage, self.marker, message, *self._marker_dirs(), timeout=60.0).ok
        return False


def _end_quietly(stream: CommandStream) -> CommandResult | None:
    """Close tar's input (an archive cut short makes it exit) and collect its result, if the host still answers."""
    with contextlib.suppress(OpskeeperError, OSError):
        stream.close_stdin()
    try:
        return stream.wait(timeout=60.0)
    except (OpskeeperError, OSError):
        return None


def common_base(paths: Iterable[str]) -> str:
    """The deepest directory above every path ('' when they share none): where the staging directory goes."""
    return "/".join(posixpath.commonprefix([p.split("/")[:-1] for p in paths]))


def sum_line(sha256: str, path: str) -> str:
    """A ``sha256sum -c`` line; names with a backslash or newline are escaped as GNU sha256sum does."""
    if "\\" in path or "\n" in path:
        return f"\\{sha256}  " + path.replace("\\", "\\\\").replace("\n", "\\n") + "\n"
    return f"{sha256}  {path}\n"
