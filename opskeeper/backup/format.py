"""Format constants and the plain ``config`` object: what a reader checks before anything else."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum

from opskeeper.backup.errors import RepositoryNotFound, UnsupportedFormat

REPO_MAGIC = "opskeeper-backup-repository"
REPO_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
PACK_MAGIC = b"OKPK"
PACK_VERSION = 1
PACK_HEADER = PACK_MAGIC + bytes([PACK_VERSION, 0, 0, 0])
PACK_TARGET_SIZE = 16 * 1024 * 1024


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
        except ValueError as e:
            raise RepositoryNotFound(f"{location}: config is not a repository config") from e
        if d.get("magic") != REPO_MAGIC:
            raise RepositoryNotFound(f"{location}: not an opskeeper backup repository")
        if d.get("version") not in SUPPORTED_VERSIONS:
            raise UnsupportedFormat(
                f"{location}: repository format version {d.get('version')} is not supported "
                f"(supported: {sorted(SUPPORTED_VERSIONS)})"
            )
        d["chunker"] = ChunkerParams(**d["chunker"])
        d["compression"] = Compression(d["compression"])
        return cls(**d)
