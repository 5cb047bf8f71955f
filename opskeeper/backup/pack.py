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

from opskeeper.backup.crypto import ENVELOPE_OVERHEAD, MasterKeys
from opskeeper.backup.errors import FormatError, IntegrityError, UnsupportedFormat
from opskeeper.backup.format import MAX_BLOB_SIZE, PACK_HEADER, BlobType, Compression, load_json

_INCOMPRESSIBLE = 0.97  # keep raw when zstd saves less than 3 %
_SAMPLE = 16 * 1024
_MIN_SAMPLED = 8 * 1024
_TRAILER_ENTRY = struct.Struct("<32scII")  # id, type, envelope length, plaintext length
_TRAILER_LEN = struct.Struct("<I")
_BLOB_TYPES = {t.value.encode(): t for t in BlobType}


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
        what = f"blob {blob_id.hex()[:16]}"
        return self.inflate(self.keys.open(envelope, blob_aad(btype, blob_id), what), raw_len, what)

    def inflate(self, payload: bytes, raw_len: int, what: str) -> bytes:
        """An opened blob's plaintext: zstd when shorter than ``raw_len`` (never more than ``raw_len``
        bytes: a frame that declares or yields another size is refused before anything is allocated)."""
        if len(payload) >= raw_len:
            if len(payload) != raw_len:
                raise FormatError(f"{what}: {len(payload)} bytes where the index says {raw_len}")
            return payload
        try:
            declared = zstandard.frame_content_size(payload)
            if declared not in (raw_len, -1):
                raise FormatError(f"{what}: compressed frame declares {declared} bytes, the index {raw_len}")
            out = self._zd.decompress(payload, max_output_size=raw_len)
        except zstandard.ZstdError as e:
            raise FormatError(f"{what}: compressed data is damaged ({e})") from e
        if len(out) != raw_len:
            raise FormatError(f"{what}: decompressed to {len(out)} bytes, the index says {raw_len}")
        return out


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
    _check_pack_header(pack_id, data)


def _check_pack_header(pack_id: str, data: bytes | memoryview) -> None:
    head = bytes(data[: len(PACK_HEADER)])
    if head[:4] != PACK_HEADER[:4]:
        raise IntegrityError(f"pack {pack_id}: bad magic")
    if head != PACK_HEADER:
        raise UnsupportedFormat(f"pack {pack_id}: pack header {head[4:].hex()} (version {head[4:5].hex()}) "
                                f"is not supported")


def read_pack_trailer(pack_id: str, data: bytes | memoryview, keys: MasterKeys) -> list[tuple[bytes, BlobRef]]:
    """The blobs a pack holds, from the pack alone (its header and sealed trailer): what an index lists."""
    _check_pack_header(pack_id, data)
    end = len(data) - _TRAILER_LEN.size
    if end < len(PACK_HEADER):
        raise FormatError(f"pack {pack_id}: too short for a trailer ({len(data)} bytes)")
    (tlen,) = _TRAILER_LEN.unpack_from(data, end)
    start = end - tlen
    if start < len(PACK_HEADER):
        raise FormatError(f"pack {pack_id}: trailer length {tlen} exceeds the pack ({len(data)} bytes)")
    table = keys.open(memoryview(data)[start:end], b"pack-trailer", f"pack {pack_id} trailer")
    if len(table) % _TRAILER_ENTRY.size:
        raise FormatError(f"pack {pack_id}: trailer of {len(table)} bytes is not whole entries")
    out: list[tuple[bytes, BlobRef]] = []
    offset = len(PACK_HEADER)
    for bid, bt, length, raw_len in _TRAILER_ENTRY.iter_unpack(table):
        btype = _BLOB_TYPES.get(bt)
        if btype is None or length < ENVELOPE_OVERHEAD or raw_len > MAX_BLOB_SIZE:
            raise FormatError(f"pack {pack_id}: trailer entry {len(out)} is malformed")
        out.append((bid, BlobRef(pack_id, btype, offset, length, raw_len)))
        offset += length
    if offset != start:
        raise FormatError(f"pack {pack_id}: its blobs end at {offset}, its trailer starts at {start}")
    return out


_ZSTD_INDEX = b"\x01"  # index plaintext = this flag + zstd(JSON); hex ids compress to about half


def encode_index(packs: dict[str, list[tuple[bytes, BlobRef]]]) -> bytes:
    """Index object plaintext: for each pack, its blobs as [id, type, offset, length, raw_len]."""
    out = {"version": 1, "packs": [
        {"id": pid, "blobs": [[bid.hex(), r.type.value, r.offset, r.length, r.raw_len] for bid, r in blobs]}
        for pid, blobs in packs.items()
    ]}
    return _ZSTD_INDEX + zstandard.ZstdCompressor(level=3).compress(json.dumps(out, separators=(",", ":")).encode())


_INDEX_RATIO = 64  # a real index compresses about 2:1; a frame that claims far more is a bomb


def _index_json(raw: bytes, what: str) -> Any:
    if raw[:1] != _ZSTD_INDEX:
        raise UnsupportedFormat(f"{what}: unknown encoding {raw[:1].hex() or '(empty)'}")
    frame = raw[1:]
    try:
        size = zstandard.frame_content_size(frame)
        if size < 0 or size > _INDEX_RATIO * len(frame) + 4096:
            raise FormatError(f"{what}: compressed frame declares {size} bytes for {len(frame)}")
        text = zstandard.ZstdDecompressor().decompress(frame, max_output_size=size)
    except zstandard.ZstdError as e:
        raise FormatError(f"{what}: compressed data is damaged ({e})") from e
    return load_json(text, what)


def decode_index(raw: bytes, what: str = "index object") -> list[tuple[bytes, BlobRef]]:
    """The blobs an index object lists; FormatError names the object when any field is off."""
    d = _index_json(raw, what)
    out: list[tuple[bytes, BlobRef]] = []
    types = _BLOB_TYPES_STR
    try:
        if d["version"] != 1:
            raise UnsupportedFormat(f"{what}: index version {d['version']!r} is not supported")
        for p in d["packs"]:
            pid = p["id"]
            if type(pid) is not str or len(pid) != 64 or not _HEX.issuperset(pid):
                raise FormatError(f"{what}: pack id {pid!r} is not a SHA-256")
            for bid, bt, off, ln, rl in p["blobs"]:
                blob_id = bytes.fromhex(bid)
                # type() is: a bool or a float is not an offset
                if not (type(off) is type(ln) is type(rl) is int and off >= len(PACK_HEADER)
                        and ln >= ENVELOPE_OVERHEAD and 0 <= rl <= MAX_BLOB_SIZE and len(blob_id) == 32):
                    raise FormatError(f"{what}: pack {pid[:12]}: blob entry {[bid, bt, off, ln, rl]!r} is malformed")
                out.append((blob_id, BlobRef(pid, types[bt], off, ln, rl)))
    except (KeyError, TypeError, ValueError) as e:  # missing member, wrong shape, not hex, unknown type
        raise FormatError(f"{what}: malformed ({type(e).__name__}: {e})") from e
    return out


_BLOB_TYPES_STR = {t.value: t for t in BlobType}
_HEX = frozenset("0123456789abcdef")

