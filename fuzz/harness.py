"""What every fuzzer shares: the test keys, the input modes, and the rule that only named errors are clean.

An input's first byte picks the mode; the rest is the bytes under test:

- ``RAW``: the bytes as they would be read from the store (parsed before authentication, then opened);
- ``PLAIN``: the bytes as an authenticated plaintext, handed straight to the plaintext parser;
- ``SEALED``: the bytes sealed with the test key first, so they pass authentication and reach the parser
  the way a key holder's object would.

Any exception that is not one of the backup package's named errors escapes ``TestOneInput`` and
atheris reports it as a crash (with the input saved under the artifact prefix).
"""

from __future__ import annotations

from collections.abc import Callable

from opskeeper.backup.crypto import KdfParams, MasterKeys
from opskeeper.backup.errors import IntegrityError, RepositoryNotFound, UnsupportedFormat, WrongPassphrase

RAW, PLAIN, SEALED = 0, 1, 2
MODES = 3

TEST_KEYS = MasterKeys(enc_key=bytes(range(32)), id_key=bytes(range(32, 64)), chunker_seed=0x2F5B_1D3C_0A4E_6971)
TEST_PASSPHRASE = "fuzz: correct horse"
TEST_KEY_ID = "0" * 64
TEST_KDF = KdfParams(salt=bytes(range(16)), n=2**10)  # cheap, so the keys fuzzer runs fast

# FormatError is an IntegrityError: it need not be listed.
NAMED: tuple[type[Exception], ...] = (IntegrityError, UnsupportedFormat, RepositoryNotFound, WrongPassphrase)


def split(data: bytes) -> tuple[int, bytes]:
    """(mode, payload) of a fuzzer input."""
    return (data[0] % MODES, data[1:]) if data else (RAW, b"")


def seed(mode: int, payload: bytes) -> bytes:
    return bytes([mode]) + payload


def clean(fn: Callable[[], object]) -> None:
    """Run one reader call; a named error is a clean refusal, anything else escapes (a crash)."""
    try:
        fn()
    except NAMED:
        pass


def take_name(payload: bytes, default: str) -> tuple[str, bytes]:
    """A raw object is stored as ``name NUL bytes`` so the reader gets the associated data it would use."""
    name, sep, rest = payload.partition(b"\0")
    if not sep:
        return default, payload
    return name.decode("ascii", "replace"), rest
