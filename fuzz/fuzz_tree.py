"""Fuzz snapshot file lists (tree blobs).

RAW: ``type(1) id(32) raw_len(u32) envelope`` of a tree blob, decoded then parsed; PLAIN: the JSON lines
straight to ``decode_entries``; SEALED: those bytes sealed as a tree blob with the test key, decoded, parsed.
"""

from __future__ import annotations

import struct
import sys

import atheris

with atheris.instrument_imports(include=["opskeeper"]):
    from fuzz.harness import PLAIN, RAW, TEST_KEYS, clean, split
    from opskeeper.backup.format import BlobType, Compression
    from opskeeper.backup.pack import BlobCodec, blob_aad
    from opskeeper.backup.tree import decode_entries

_CODEC = BlobCodec(TEST_KEYS, Compression.ZSTD, 3)
_ID = bytes(32)


def _chunk_id_of(sha256_hex: str) -> str:
    return TEST_KEYS.blob_id_of_digest(bytes.fromhex(sha256_hex)).hex()


def test_one_input(data: bytes) -> None:
    mode, payload = split(data)

    def read() -> None:
        if mode == PLAIN:
            plain = payload
        elif mode == RAW:
            if len(payload) < 37:
                return
            (raw_len,) = struct.unpack_from("<I", payload, 33)
            plain = _CODEC.decode(BlobType.TREE, payload[1:33], memoryview(payload)[37:], raw_len)
        else:
            env = TEST_KEYS.seal(payload, blob_aad(BlobType.TREE, _ID))
            plain = _CODEC.decode(BlobType.TREE, _ID, env, len(payload))
        for e in decode_entries(plain, _chunk_id_of):
            _ = [bytes.fromhex(c) for c in e.chunks], e.path.split("/")  # what restore does next

    clean(read)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
