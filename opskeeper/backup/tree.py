"""Snapshot manifests and the file list ("tree") they reference.

The tree is JSON lines, one entry per file/dir/symlink, sorted by path; it is
stored as TREE blobs cut by the same chunker, so unchanged parts of a file list
deduplicate across snapshots. Each file entry carries its SHA-256 (checked on
restore, and comparable with ``sha256sum``) and its chunk ids, except that a
one-chunk file's id is left out: it is HMAC(id_key, SHA-256), derived on reading.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from opskeeper.backup.errors import FormatError, UnsupportedFormat
from opskeeper.backup.format import load_json

MANIFEST_VERSION = 1
_INT64 = 1 << 63
_HEX = frozenset("0123456789abcdef")


class EntryKind(StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"


@dataclass(frozen=True)
class Entry:
    """One item of a snapshot. ``inode``/``ctime_ns`` only serve the change detection of the next run."""

    path: str
    kind: EntryKind
    mode: int = 0o644
    mtime_ns: int = 0
    size: int = 0
    sha256: str = ""
    chunks: tuple[str, ...] = ()
    target: str = ""
    inode: int = 0
    ctime_ns: int = 0

    def to_line(self) -> bytes:
        """One JSON line. A one-chunk file's chunk id is left out: by construction it is
        HMAC(id_key, SHA-256 of the chunk) and the chunk is the whole file, so the reader derives it."""
        # Built by hand (only the path and link target need JSON escaping): this runs once per file.
        head = f'{{"p":{_js(self.path)},"k":"{self.kind.value}","m":{self.mode},"t":{self.mtime_ns}'
        if self.kind is EntryKind.FILE:
            head += f',"s":{self.size},"h":"{self.sha256}","i":{self.inode},"ct":{self.ctime_ns}'
            if len(self.chunks) > 1:
                head += ',"c":[' + ",".join(f'"{c}"' for c in self.chunks) + "]"
        elif self.kind is EntryKind.SYMLINK:
            head += f',"l":{_js(self.target)}'
        return (head + "}\n").encode()

    @classmethod
    def from_dict(cls, d: dict[str, Any], implied: Callable[[str], str]) -> Entry:
        """An entry from its JSON object; KeyError, TypeError or ValueError when it is not a well-formed one."""
        kind = _KINDS[d["k"]]
        size = d.get("s", 0)
        chunks = tuple(d["c"]) if "c" in d else (implied(d["h"]),) if kind is EntryKind.FILE and size else ()
        e = cls(d["p"], kind, d["m"], d["t"], size, d.get("h", ""), chunks, d.get("l", ""), d.get("i", 0),
                d.get("ct", 0))
        # One expression: this runs once per file of a listing. type() is: a bool or a float is not a size.
        if not (type(e.path) is str and e.path and "\0" not in e.path and type(e.mode) is int
                and 0 <= e.mode <= 0o7777 and type(e.mtime_ns) is int and -_INT64 <= e.mtime_ns < _INT64
                and type(e.size) is int and 0 <= e.size < _INT64 and type(e.sha256) is str
                and type(e.target) is str and "\0" not in e.target and type(e.inode) is int
                and type(e.ctime_ns) is int and (kind is not EntryKind.FILE or not size or len(e.sha256) == 64)
                and ("c" not in d or _chunk_ids_ok(chunks))):
            raise ValueError(f"entry {e.path!r} has a field of the wrong type or out of range")
        return e


def _chunk_ids_ok(chunks: tuple[Any, ...]) -> bool:
    return all(type(c) is str and len(c) == 64 for c in chunks) and _HEX.issuperset("".join(chunks))


_KINDS = {k.value: k for k in EntryKind}
_js = json.JSONEncoder().encode  # ASCII-escaped: non-UTF-8 names (surrogates) survive


ChunkIdOf = Callable[[str], str]
"""Chunk id (hex) of a one-chunk file from its SHA-256 (hex): HMAC(id_key, sha256), see crypto.py."""


def encode_entries(entries: list[Entry]) -> bytes:
    return b"".join(e.to_line() for e in sorted(entries, key=lambda e: e.path))


def decode_entries(payload: bytes, chunk_id_of: ChunkIdOf, what: str = "snapshot file list") -> list[Entry]:
    """A file list from its tree blobs' bytes; FormatError (naming ``what`` and the cause) when malformed."""
    # One JSON array instead of one parse per line: the C parser does all of it at once.
    # Safe: JSON strings escape newlines, so every b"\n" ends an entry.
    if not payload.strip():
        return []
    items = load_json(b"[" + payload.rstrip(b"\n").replace(b"\n", b",") + b"]", what)
    try:
        return [Entry.from_dict(d, chunk_id_of) for d in items]
    except (KeyError, TypeError, ValueError, AttributeError) as e:  # a member missing or of the wrong type
        raise FormatError(f"{what}: malformed entry ({type(e).__name__}: {e})") from e


@dataclass(frozen=True)
class SnapshotStats:
    files: int = 0
    dirs: int = 0
    bytes: int = 0
    new_bytes: int = 0
    new_blobs: int = 0
    stored_bytes: int = 0
    reused_files: int = 0


@dataclass(frozen=True)
class SnapshotManifest:
    """What a snapshot is: who, what, when, the tree and the numbers."""

    id: str
    time: str  # ISO 8601 UTC
    host: str
    source_kind: str  # dir | postgres | remote-dir
    source: str  # path, database name or host:path
    system: str = ""
    tree: tuple[str, ...] = ()
    stats: SnapshotStats = field(default_factory=SnapshotStats)
    parent: str = ""
    tags: tuple[str, ...] = ()
    version: int = MANIFEST_VERSION

    @property
    def source_key(self) -> str:
        return f"{self.system}|{self.host}|{self.source_kind}|{self.source}"

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes, what: str = "snapshot") -> SnapshotManifest:
        """A manifest from its (opened) bytes; FormatError or UnsupportedFormat naming ``what``."""
        d = load_json(raw, what)
        try:
            if d.get("version", MANIFEST_VERSION) != MANIFEST_VERSION:
                raise UnsupportedFormat(f"{what}: snapshot version {d['version']!r} is not supported")
            d["tree"] = tuple(d["tree"])
            d["tags"] = tuple(d.get("tags", ()))
            d["stats"] = SnapshotStats(**d["stats"])
            m = cls(**d)
            datetime.fromisoformat(m.time)  # the catalog and "latest" read it
        except (KeyError, TypeError, ValueError, AttributeError) as e:  # member missing, unknown or mistyped
            raise FormatError(f"{what}: malformed manifest ({type(e).__name__}: {e})") from e
        if not (all(type(v) is str for v in (m.id, m.host, m.source_kind, m.source, m.system, m.parent, *m.tags))
                and all(type(t) is str and len(t) == 64 and _HEX.issuperset(t) for t in m.tree)
                and all(type(getattr(m.stats, f.name)) is int for f in fields(m.stats))):
            raise FormatError(f"{what}: manifest has a field of the wrong type")
        return m
