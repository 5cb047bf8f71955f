"""Fuzz the ``keys/<id>`` reader: the key object (JSON, scrypt parameters) and the master keys inside.

RAW: a key object as stored (parsed, then opened with the test passphrase when its scrypt cost is small);
PLAIN: the master keys' JSON straight to ``MasterKeys.from_json``; SEALED: that JSON sealed under the
test passphrase's key, so the full ``unwrap_keys`` path reaches the plaintext parser.
"""

from __future__ import annotations

import base64
import json
import sys

import atheris

with atheris.instrument_imports(include=["opskeeper"]):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from fuzz.harness import PLAIN, RAW, TEST_KDF, TEST_KEY_ID, TEST_PASSPHRASE, clean, split
    from opskeeper.backup.crypto import MasterKeys, read_key_object, unwrap_keys

_KEK = TEST_KDF.derive(TEST_PASSPHRASE)
_NONCE = bytes(12)
_AAD = f"keys/{TEST_KEY_ID}".encode()
_CHEAP = 2**14  # scrypt work (n * r * p) a fuzzer input may cost: more is valid but slow, not a bug


def _sealed_object(plain: bytes) -> bytes:
    k = {"name": "scrypt", "salt": base64.b64encode(TEST_KDF.salt).decode(), "n": TEST_KDF.n, "r": TEST_KDF.r,
         "p": TEST_KDF.p}
    return json.dumps({"version": 1, "kdf": k, "nonce": base64.b64encode(_NONCE).decode(),
                       "sealed": base64.b64encode(AESGCM(_KEK).encrypt(_NONCE, plain, _AAD)).decode()}).encode()


def test_one_input(data: bytes) -> None:
    mode, payload = split(data)

    def read() -> None:
        if mode == RAW:
            obj = read_key_object(payload, TEST_KEY_ID)
            if obj.kdf.n * obj.kdf.r * obj.kdf.p <= _CHEAP:
                unwrap_keys(payload, TEST_PASSPHRASE, TEST_KEY_ID)
        elif mode == PLAIN:
            MasterKeys.from_json(payload).blob_id(b"x")
        else:
            unwrap_keys(_sealed_object(payload), TEST_PASSPHRASE, TEST_KEY_ID).seal(b"x", b"aad")

    clean(read)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
