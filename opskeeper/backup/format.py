"""Format constants and the plain ``config`` object: what a reader checks before anything else."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

from opskeeper.backup.errors import FormatError, RepositoryNotFound, UnsupportedFormat

REPO_MAGIC = "opskeeper-backup-repository"
REPO_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
PACK_MAGIC = b"OKPK"
PACK_VERSION = 1
PACK_HEADER = PACK_MAGIC + bytes([PACK_VERSION, 0, 0, 0])
PACK_TARGET_SIZE = 16 * 1024 * 1024
MAX_BLOB_SIZE = 16 * 1024 * 1024  # no chunk is larger: FastCDC's largest maximum size


def load_json(raw: bytes | str, what: str) -> Any:
    """JSON from repository bytes; broken text, bad encoding or absurd nesting is a FormatError naming ``what``."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise FormatError(f"{what}: not valid JSON ({type(e).__name__}: {e})") from e


class BlobType(StrEnum):
    DATA = "d"  # file content
    TREE = "t"  # a piece of a snapshot's serialized file list


class Compression(StrEnum):
    NONE = "none"
    ZSTD = "zstd"


@dataclass(frozen=True)
class ChunkerParams:
    """FastCDC 2020 parameters (bytes); the seed is secret and lives in the keys, not here."""

    algorithm: str = "fastcdc2020"
    avg_size: int = 1024 * 1024
    min_size: int = 256 * 1024
    max_size: int = 4 * 1024 * 1024
    normalization: int = 1


@dataclass(frozen=True)
class RepoConfig:
    """The unencrypted ``config`` object: identifies the format and repository; holds no secret."""

    id: str
    created: str
    chunker: ChunkerParams
    pack_size: int = PACK_TARGET_SIZE
    compression: Compression = Compression.ZSTD
    zstd_level: int = 3
    magic: str = REPO_MAGIC
    version: int = REPO_VERSION

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    @classmethod
    def from_bytes(cls, raw: bytes, location: str) -> RepoConfig:
        try:
            d = json.loads(raw)
        except (ValueError, RecursionError) as e:
            raise RepositoryNotFound(f"{location}: config is not a repository config") from e
        if not isinstance(d, dict) or d.get("magic") != REPO_MAGIC:
            raise RepositoryNotFound(f"{location}: not an opskeeper backup repository")
        if type(d.get("version")) is not int or d["version"] not in SUPPORTED_VERSIONS:
            raise UnsupportedFormat(
                f"{location}: repository format version {d.get('version')} is not supported "
                f"(supported: {sorted(SUPPORTED_VERSIONS)})"
            )
        try:
            d["chunker"] = ChunkerParams(**d["chunker"])
            d["compression"] = Compression(d["compression"])
            cfg = cls(**d)
        except (KeyError, TypeError, ValueError) as e:  # a member missing, unknown or of the wrong type
            raise FormatError(f"{location}: malformed repository config ({type(e).__name__}: {e})") from e
        cfg._check(location)
        return cfg

    def _check(self, location: str) -> None:
        """Every value a reader will use is of its type and in range (checked once, on open)."""
        c = self.chunker
        ints = [getattr(c, f.name) for f in fields(c) if f.name != "algorithm"] + [self.pack_size, self.zstd_level]
        ok = (all(type(i) is int for i in ints) and type(self.id) is str and type(self.created) is str
              and c.algorithm == "fastcdc2020" and 0 <= c.normalization <= 3
              and 64 <= c.min_size <= 1 << 20 and 256 <= c.avg_size <= 1 << 22  # FastCDC's bounds
              and 1024 <= c.max_size <= MAX_BLOB_SIZE and c.min_size <= c.avg_size <= c.max_size
              and 0 < self.pack_size <= 1 << 32 and -7 <= self.zstd_level <= 22)
        if not ok:
            raise FormatError(f"{location}: repository config has a value out of range: {self}")
