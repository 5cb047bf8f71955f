"""Fuzz index objects.

RAW: ``name NUL envelope`` as stored: opened (pre-authentication parse) and decoded;
PLAIN: an index plaintext (``0x01 || zstd(JSON)``) straight to ``decode_index``;
SEALED: the bytes as the JSON inside a valid zstd frame, sealed with the test key, opened and decoded.
"""

from __future__ import annotations

import sys

import atheris
import zstandard

with atheris.instrument_imports(include=["opskeeper"]):
    from fuzz.harness import PLAIN, RAW, TEST_KEYS, clean, split, take_name
    from opskeeper.backup.pack import decode_index

_ZC = zstandard.ZstdCompressor(level=1)
_NAME = "index/" + "0" * 64


def test_one_input(data: bytes) -> None:
    mode, payload = split(data)

    def read() -> None:
        if mode == RAW:
            name, env = take_name(payload, _NAME)
        elif mode == PLAIN:
            decode_index(payload, _NAME)
            return
        else:
            name, env = _NAME, TEST_KEYS.seal(b"\x01" + _ZC.compress(payload), _NAME.encode())
        for bid, ref in decode_index(TEST_KEYS.open(env, name.encode(), name), name):
            assert len(bid) == 32 and len(bytes.fromhex(ref.pack)) == 32  # what load_index and verify rely on

    clean(read)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
