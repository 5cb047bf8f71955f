"""Errors of the backup repository. Each names the thing it concerns; only the CLI exits."""

from __future__ import annotations

from opskeeper.errors import OpskeeperError


class BackupError(OpskeeperError):
    """Base error of the backup area."""

    exit_code = 1


class RepositoryNotFound(BackupError):
    """No repository at the target (no ``config`` object)."""

    exit_code = 2


class RepositoryExists(BackupError):
    """``init`` on a target that already holds a repository."""

    exit_code = 2


class UnsupportedFormat(BackupError):
    """The repository was written by a format version this code cannot read."""


class WrongPassphrase(BackupError):
    """The passphrase does not open any key of the repository."""

    exit_code = 2


class IntegrityError(BackupError):
    """Data read back does not authenticate or does not match its checksum."""


class RepositoryLocked(BackupError):
    """Another live process holds a conflicting lock."""


class SnapshotNotFound(BackupError):
    """No snapshot matches the given id or prefix."""

    exit_code = 2


class SourceError(BackupError):
    """A backup source (directory, pg_dump, remote tar) failed."""


class RestoreFailed(BackupError):
    """A restore could not complete (disk full, permission, checksum)."""


class FormatError(IntegrityError):
    """An object's bytes authenticate (or need no key) but do not follow the format: a field is
    missing, of the wrong type or out of range, a length points past the end, a JSON text is broken."""
