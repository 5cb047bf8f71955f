"""Fuzz packs: the header and trailer reader (before and after the trailer authenticates), then each blob.

RAW: a whole pack as stored: ``check_pack_bytes`` (named by its SHA-256) and ``read_pack_trailer``;
PLAIN/SEALED: ``table_len(u16) table body``: the trailer table is sealed with the test key and the pack
assembled around it, so the fuzzed table reaches the trailer parser authenticated.
Every blob the trailer lists is then decoded (at most 32 per input).
"""

from __future__ import annotations

import functools
import hashlib
import struct
import sys

import atheris

with atheris.instrument_imports(include=["opskeeper"]):
    from fuzz.harness import RAW, TEST_KEYS, clean, split
    from opskeeper.backup.format import PACK_HEADER, Compression
    from opskeeper.backup.pack import BlobCodec, check_pack_bytes, read_pack_trailer

_CODEC = BlobCodec(TEST_KEYS, Compression.ZSTD, 3)


def _assemble(payload: bytes) -> bytes:
    if len(payload) < 2:
        return PACK_HEADER
    (n,) = struct.unpack_from("<H", payload)
    table, body = payload[2:2 + n], payload[2 + n:]
    trailer = TEST_KEYS.seal(table, b"pack-trailer")
    return PACK_HEADER + body + trailer + struct.pack("<I", len(trailer))


def test_one_input(data: bytes) -> None:
    mode, payload = split(data)
    pack = payload if mode == RAW else _assemble(payload)
    pid = hashlib.sha256(pack).hexdigest()

    def read() -> None:
        check_pack_bytes(pid, pack)
        for bid, ref in read_pack_trailer(pid, pack, TEST_KEYS)[:32]:
            clean(functools.partial(_CODEC.decode, ref.type, bid,
                                    memoryview(pack)[ref.offset:ref.offset + ref.length], ref.raw_len))

    clean(read)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
