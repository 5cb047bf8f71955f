"""Keys and authenticated envelopes.

A passphrase derives (scrypt) a key-encryption key that opens the ``keys/<id>``
object holding the random master keys. Every other object is sealed with
AES-256-GCM under the master encryption key, with the object's type and id as
associated data, so a blob cannot be swapped for another without detection.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opskeeper.backup.errors import FormatError, IntegrityError, UnsupportedFormat, WrongPassphrase

ENVELOPE_VERSION = 1
NONCE_LEN = 12
TAG_LEN = 16
ENVELOPE_OVERHEAD = 1 + NONCE_LEN + TAG_LEN
_KDF_MAX_MEMORY = 1 << 30  # scrypt needs 128 * n * r bytes; a key object may not ask for more than 1 GiB


@dataclass(frozen=True)
class KdfParams:
    """scrypt cost: n=2**15, r=8 costs ~32 MiB and ~0.1 s; enough against offline guessing of a passphrase."""

    salt: bytes
    n: int = 2**15
    r: int = 8
    p: int = 1

    def derive(self, passphrase: str) -> bytes:
        return hashlib.scrypt(
            passphrase.encode(),
            salt=self.salt,
            n=self.n,
            r=self.r,
            p=self.p,
            maxmem=min(256 * self.n * self.r + (1 << 20), 2**31 - 1),  # hashlib's ceiling is INT_MAX
            dklen=32,
        )


_NONCES = threading.local()
_NONCE_BATCH = 256


def _random_nonce() -> bytes:
    """A fresh random 96-bit nonce; drawn from the OS in batches (one syscall per 256 blobs)."""
    pool: list[bytes] | None = getattr(_NONCES, "pool", None)
    if not pool:
        raw = os.urandom(NONCE_LEN * _NONCE_BATCH)
        pool = _NONCES.pool = [raw[i:i + NONCE_LEN] for i in range(0, len(raw), NONCE_LEN)]
    return pool.pop()


# A forked child must never reuse the parent's unused nonces.
os.register_at_fork(after_in_child=lambda: _NONCES.__dict__.clear())


@dataclass(frozen=True)
class MasterKeys:
    """Random keys of one repository: encryption, chunk-id MAC, and the chunker's secret seed."""

    enc_key: bytes
    id_key: bytes
    chunker_seed: int

    @classmethod
    def generate(cls) -> MasterKeys:
        return cls(secrets.token_bytes(32), secrets.token_bytes(32), secrets.randbits(63) | 1)

    def __reduce__(self) -> tuple[type[MasterKeys], tuple[bytes, bytes, int]]:
        """Pickled (to a worker process of ours) without the cipher object cached on first use."""
        return MasterKeys, (self.enc_key, self.id_key, self.chunker_seed)

    @functools.cached_property
    def _aead(self) -> AESGCM:
        """One cipher object per repository (the key schedule once, not per blob); safe across threads."""
        return AESGCM(self.enc_key)

    def blob_id(self, data: bytes | memoryview) -> bytes:
        """Keyed id of a chunk: HMAC-SHA256 over its SHA-256, so ids reveal nothing without the key.

        Hash-then-MAC lets a one-chunk file's content hash serve as both its checksum and
        the input of its id: the data is hashed once.
        """
        return self.blob_id_of_digest(hashlib.sha256(data).digest())

    def blob_id_of_digest(self, sha256_digest: bytes) -> bytes:
        return hmac.digest(self.id_key, sha256_digest, "sha256")

    def seal(self, plaintext: bytes | memoryview, aad: bytes) -> bytes:
        nonce = _random_nonce()
        return bytes([ENVELOPE_VERSION]) + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, envelope: bytes | memoryview, aad: bytes, what: str) -> bytes:
        env = memoryview(envelope)
        if len(env) < ENVELOPE_OVERHEAD:
            raise IntegrityError(f"{what}: envelope too short ({len(env)} bytes)")
        if env[0] != ENVELOPE_VERSION:
            raise UnsupportedFormat(f"{what}: envelope version {env[0]} is not supported")
        try:
            return self._aead.decrypt(env[1 : 1 + NONCE_LEN], env[1 + NONCE_LEN :], aad)
        except InvalidTag as e:
            raise IntegrityError(f"{what}: authentication failed (corrupted or tampered)") from e

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "enc_key": self.enc_key.hex(),
                "id_key": self.id_key.hex(),
                "chunker_seed": self.chunker_seed,
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes, what: str = "master keys") -> MasterKeys:
        try:
            d = json.loads(raw)
            keys = cls(bytes.fromhex(d["enc_key"]), bytes.fromhex(d["id_key"]), d["chunker_seed"])
        except (ValueError, RecursionError, KeyError, TypeError) as e:
            raise FormatError(f"{what}: malformed master keys ({type(e).__name__})") from e
        if len(keys.enc_key) != 32 or len(keys.id_key) != 32 or type(keys.chunker_seed) is not int \
                or not 0 <= keys.chunker_seed < 1 << 64:
            raise FormatError(f"{what}: master keys of the wrong size")
        return keys


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def wrap_keys(keys: MasterKeys, passphrase: str, key_id: str, kdf: KdfParams | None = None) -> bytes:
    """The ``keys/<id>`` object: scrypt parameters and the master keys sealed under the derived key."""
    kdf = kdf or KdfParams(salt=secrets.token_bytes(16))
    kek = kdf.derive(passphrase)
    nonce = os.urandom(NONCE_LEN)
    sealed = AESGCM(kek).encrypt(nonce, keys.to_json(), f"keys/{key_id}".encode())
    return json.dumps(
        {
            "version": ENVELOPE_VERSION,
            "kdf": {"name": "scrypt", "salt": _b64(kdf.salt), "n": kdf.n, "r": kdf.r, "p": kdf.p},
            "nonce": _b64(nonce),
            "sealed": _b64(sealed),
        },
        indent=1,
    ).encode()


@dataclass(frozen=True)
class KeyObject:
    """A parsed ``keys/<id>`` object: checked before any work is done for it (scrypt's cost is bounded)."""

    kdf: KdfParams
    nonce: bytes
    sealed: bytes


def read_key_object(raw: bytes, key_id: str) -> KeyObject:
    """Parse a ``keys/<id>`` object; FormatError or UnsupportedFormat when it is not one we can open."""
    what = f"keys/{key_id}"
    try:
        d = json.loads(raw)
        if d.get("version") != ENVELOPE_VERSION or d["kdf"]["name"] != "scrypt":
            raise UnsupportedFormat(f"{what}: unsupported key format")
        k = d["kdf"]
        kdf = KdfParams(_unb64(k["salt"]), k["n"], k["r"], k["p"])
        obj = KeyObject(kdf, _unb64(d["nonce"]), _unb64(d["sealed"]))
    except (ValueError, RecursionError, KeyError, TypeError, AttributeError) as e:
        raise FormatError(f"{what}: malformed key object ({type(e).__name__})") from e
    n, r, p = kdf.n, kdf.r, kdf.p
    if not (type(n) is type(r) is type(p) is int and n > 1 and n & (n - 1) == 0 and 1 <= r <= 32
            and 1 <= p <= 16 and 128 * n * r <= _KDF_MAX_MEMORY and 8 <= len(kdf.salt) <= 64):
        raise FormatError(f"{what}: scrypt parameters out of range (n={n!r}, r={r!r}, p={p!r})")
    if len(obj.nonce) != NONCE_LEN or len(obj.sealed) < TAG_LEN:
        raise FormatError(f"{what}: sealed keys too short")
    return obj


def _unb64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as e:  # a ValueError: reported by the caller
        raise ValueError(f"not base64: {e}") from e


def unwrap_keys(raw: bytes, passphrase: str, key_id: str) -> MasterKeys:
    """Open a ``keys/<id>`` object; WrongPassphrase when the derived key does not authenticate."""
    obj = read_key_object(raw, key_id)
    kek = obj.kdf.derive(passphrase)
    try:
        plain = AESGCM(kek).decrypt(obj.nonce, obj.sealed, f"keys/{key_id}".encode())
    except InvalidTag as e:
        raise WrongPassphrase(f"wrong passphrase: it does not open key {key_id}") from e
    return MasterKeys.from_json(plain, f"keys/{key_id}")
