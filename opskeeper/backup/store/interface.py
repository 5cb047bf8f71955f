"""The BackupStore seam: named immutable objects (ids and bytes), nothing about their meaning.

Names are ``<kind>/<id>`` (``data/<pack id>``, ``index/<id>``, ``snapshots/<id>``,
``locks/<id>``) or a bare ``config``/``verify-cursor``. A store never interprets
content; encryption and integrity live in the layers above. Implementations:
``dir.py`` (local path, fsync + rename) and ``s3.py`` (boto3).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from opskeeper.backup.errors import BackupError


class StoreError(BackupError):
    """The store could not do an operation; the message names the object and the target."""


class ObjectNotFound(StoreError):
    """The named object does not exist."""


class ObjectExists(StoreError):
    """``put_new`` found the name already taken (used for locks)."""


class ObjectRetained(StoreError):
    """The object is under a retention (S3 Object Lock) and cannot be deleted yet."""


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object."""

    name: str
    size: int
    modified: datetime | None = None


class BackupStore(abc.ABC):
    """Named objects: atomic whole-object writes, reads, ranged reads, listing, deletion."""

    #: Human-readable location for messages (path or s3://bucket/prefix).
    location: str

    @abc.abstractmethod
    def put(self, name: str, data: bytes, *, retain: bool = True) -> None:
        """Write ``data`` under ``name`` atomically: readers see all of it or nothing.

        ``retain`` asks for the target's retention (Object Lock) where it has one;
        locks and caches pass False because they must be removable.
        """

    def put_parts(self, name: str, parts: Sequence[bytes | memoryview], *, retain: bool = True) -> None:
        """``put`` of the pieces' concatenation (a store that can write them in turn need not join them)."""
        self.put(name, b"".join(parts), retain=retain)

    @abc.abstractmethod
    def put_new(self, name: str, data: bytes) -> None:
        """Write only if ``name`` does not exist (raise ObjectExists); atomic."""

    @abc.abstractmethod
    def get(self, name: str) -> bytes:
        """Read a whole object (raise ObjectNotFound)."""

    @abc.abstractmethod
    def get_range(self, name: str, offset: int, length: int) -> bytes:
        """Read ``length`` bytes at ``offset`` of an object."""

    @abc.abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Objects whose name starts with ``prefix`` (e.g. ``"data/"``)."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Remove an object; missing is fine; raise ObjectRetained if retention forbids it."""

    @abc.abstractmethod
    def exists(self, name: str) -> bool:
        """True when the object exists."""

    def local_path(self, name: str) -> str | None:
        """The object's file when the store is a local directory (other processes may read it
        there); None for any other store (default)."""
        return None

    def retained_until(self, name: str) -> datetime | None:
        """When the object's retention ends, or None when it has none (default: no retention)."""
        return None

    def cleanup_incomplete(self, older_than_s: float) -> int:
        """Remove abandoned partial writes older than ``older_than_s``; returns how many."""
        return 0

    def close(self) -> None:
        """Release connections (default: nothing to release)."""
        return None
