"""Blobs, packs and index objects.

A blob is one chunk (or one piece of a tree), compressed then sealed with its
type and id as associated data. A pack is ``PACK_HEADER`` + sealed blobs + a sealed
trailer listing them + the trailer length (4 bytes, little endian). A pack's name
is the SHA-256 of its bytes, so corruption is detectable without the key.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

import zstandard

from opskeeper.backup.crypto import MasterKeys
from opskeeper.backup.errors import IntegrityError
from opskeeper.backup.format import PACK_HEADER, BlobType, Compression

_INCOMPRESSIBLE = 0.97  # keep raw when zstd saves less than 3 %
_SAMPLE = 16 * 1024
_MIN_SAMPLED = 8 * 1024
_TRAILER_ENTRY = struct.Struct("<32scII")  # id, type, envelope length, plaintext length


@dataclass(frozen=True)
class BlobRef:
    """Where a blob lives: pack, byte range of its sealed envelope, plaintext length."""

    pack: str
    type: BlobType
    offset: int
    length: int
    raw_len: int


def blob_aad(btype: BlobType, blob_id: bytes) -> bytes:
    return b"blob/" + btype.value.encode() + b"/" + blob_id


class BlobCodec:
    """Compress + seal, open + decompress; one per thread (zstd contexts are not shareable)."""

    def __init__(self, keys: MasterKeys, compression: Compression, level: int) -> None:
        self.keys = keys
        self._zc = zstandard.ZstdCompressor(level=level) if compression is Compression.ZSTD else None
        self._zd = zstandard.ZstdDecompressor()

    def encode(self, btype: BlobType, blob_id: bytes, data: bytes | memoryview) -> bytes:
        """Seal zstd(data) when that is smaller by 3 % or more, else data itself. No flag is needed:
        a blob is compressed exactly when its payload is shorter than its plaintext length."""
        payload: bytes | memoryview = data
        if self._zc is not None and len(data) > 64 and not self._looks_incompressible(data):
            packed = self._zc.compress(data)
            if len(packed) < len(data) * _INCOMPRESSIBLE:
                payload = packed
        return self.keys.seal(payload, blob_aad(btype, blob_id))

    def _looks_incompressible(self, data: bytes | memoryview) -> bool:
        """Random or already-compressed data: a sample (1/4 of the chunk, at most 16 KiB) decides,
        instead of compressing the whole chunk for nothing."""
        if len(data) < _MIN_SAMPLED or self._zc is None:
            return False
        n = min(_SAMPLE, len(data) // 4)
        return len(self._zc.compress(data[:n])) > n * _INCOMPRESSIBLE

    def decode(self, btype: BlobType, blob_id: bytes, envelope: bytes | memoryview, raw_len: int) -> bytes:
        payload = self.keys.open(envelope, blob_aad(btype, blob_id), f"blob {blob_id.hex()[:16]}")
        if len(payload) < raw_len:
            return self._zd.decompress(payload, max_output_size=raw_len)
        return payload


class PackBuilder:
    """Accumulates sealed blobs; ``finish`` returns (pack id, pieces). The envelopes are kept as given:
    no copy, the store writes the pieces in order."""

    def __init__(self) -> None:
        self.parts: list[bytes | memoryview] = [PACK_HEADER]
        self.size = len(PACK_HEADER)
        self.entries: list[tuple[bytes, BlobType, int, int, int]] = []

    def __len__(self) -> int:
        return self.size

    def add(self, btype: BlobType, blob_id: bytes, envelope: bytes | memoryview, raw_len: int) -> None:
        n = len(envelope)
        self.entries.append((blob_id, btype, self.size, n, raw_len))
        self.parts.append(envelope)
        self.size += n

    def finish(self, keys: MasterKeys) -> tuple[str, list[bytes | memoryview]]:
        """Close the pack with its sealed binary trailer (offsets follow from the lengths, in order).
        Returns its id and its bytes as the pieces to write one after the other (never joined)."""
        table = b"".join(_TRAILER_ENTRY.pack(bid, bt.value.encode(), ln, raw) for bid, bt, _, ln, raw in self.entries)
        trailer = keys.seal(table, b"pack-trailer")
        parts, self.parts = [*self.parts, trailer, struct.pack("<I", len(trailer))], []
        sha = hashlib.sha256()
        for part in parts:
            sha.update(part)
        return sha.hexdigest(), parts


def check_pack_bytes(pack_id: str, data: bytes) -> None:
    """A pack's name is its SHA-256: any flipped byte is caught here, no key needed."""
    if hashlib.sha256(data).hexdigest() != pack_id:
        raise IntegrityError(f"pack {pack_id}: content does not match its name (corrupted)")
    if not data.startswith(PACK_HEADER[:4]):
        raise IntegrityError(f"pack {pack_id}: bad magic")


_ZSTD_INDEX = b"\x01"  # index plaintext = this flag + zstd(JSON); hex ids compress to about half


def encode_index(packs: dict[str, list[tuple[bytes, BlobRef]]]) -> bytes:
    """Index object plaintext: for each pack, its blobs as [id, type, offset, length, raw_len]."""
    out = {"version": 1, "packs": [
        {"id": pid, "blobs": [[bid.hex(), r.type.value, r.offset, r.length, r.raw_len] for bid, r in blobs]}
        for pid, blobs in packs.items()
    ]}
    return _ZSTD_INDEX + zstandard.ZstdCompressor(level=3).compress(json.dumps(out, separators=(",", ":")).encode())


def _index_json(raw: bytes) -> Any:
    if raw[:1] != _ZSTD_INDEX:
        raise IntegrityError("index object: unknown encoding")
    return json.loads(zstandard.ZstdDecompressor().decompressobj().decompress(raw[1:]))


def decode_index(raw: bytes) -> list[tuple[bytes, BlobRef]]:
    d = _index_json(raw)
    out: list[tuple[bytes, BlobRef]] = []
    for p in d["packs"]:
        pid = p["id"]
        for bid, bt, off, ln, rl in p["blobs"]:
            out.append((bytes.fromhex(bid), BlobRef(pid, BlobType(bt), off, ln, rl)))
    return out

