"""Fuzz blob envelopes: the envelope parser before authentication and the blob plaintext after it.

RAW: ``type(1) id(32) raw_len(u32) envelope`` through ``BlobCodec.decode`` as a restore reads a blob;
PLAIN: ``raw_len(u32) plaintext`` straight to ``BlobCodec.inflate`` (zstd or stored);
SEALED: the same plaintext sealed with the test key, then ``decode`` (authenticates, then inflates).
"""

from __future__ import annotations

import struct
import sys

import atheris

with atheris.instrument_imports(include=["opskeeper"]):
    from fuzz.harness import PLAIN, RAW, TEST_KEYS, clean, split
    from opskeeper.backup.format import BlobType, Compression
    from opskeeper.backup.pack import BlobCodec, blob_aad

_CODEC = BlobCodec(TEST_KEYS, Compression.ZSTD, 3)
_ID = bytes(32)


def test_one_input(data: bytes) -> None:
    mode, payload = split(data)

    def read() -> None:
        if mode == RAW:
            if len(payload) < 37:
                return
            btype = BlobType.TREE if payload[:1] == b"t" else BlobType.DATA
            (raw_len,) = struct.unpack_from("<I", payload, 33)
            _CODEC.decode(btype, payload[1:33], memoryview(payload)[37:], raw_len)
            return
        if len(payload) < 4:
            return
        (raw_len,) = struct.unpack_from("<I", payload, 0)
        if mode == PLAIN:
            _CODEC.inflate(payload[4:], raw_len, "fuzz")
        else:
            env = TEST_KEYS.seal(payload[4:], blob_aad(BlobType.DATA, _ID))
            _CODEC.decode(BlobType.DATA, _ID, env, raw_len)

    clean(read)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
