"""Hostile bytes in a repository end in a named error, never in a Python exception from the parser.

Each case is an input that crashed a reader before (found by the fuzzers in ``fuzz/`` or by reading the
reader), with the named error and message it gets now. The plaintext readers are called directly and,
where a key guards them, also through a real repository whose objects are sealed with its own key.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest
import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opskeeper.backup.crypto import KdfParams, MasterKeys, read_key_object, unwrap_keys, wrap_keys
from opskeeper.backup.errors import (
    FormatError,
    IntegrityError,
    RepositoryNotFound,
    UnsupportedFormat,
    WrongPassphrase,
)
from opskeeper.backup.format import PACK_HEADER, BlobType, ChunkerParams, Compression, RepoConfig
from opskeeper.backup.pack import (
    BlobCodec,
    BlobRef,
    PackBuilder,
    blob_aad,
    check_pack_bytes,
    decode_index,
    encode_index,
    read_pack_trailer,
)
from opskeeper.backup.repo import Repository, decode_state
from opskeeper.backup.store.dir import DirStore
from opskeeper.backup.tree import SnapshotManifest, decode_entries

KEYS = MasterKeys(bytes(range(32)), bytes(range(32, 64)), 12345)
CODEC = BlobCodec(KEYS, Compression.ZSTD, 3)
CHEAP_KDF = KdfParams(salt=bytes(16), n=2**10)
HEX = "ab" * 32
CONFIG = json.loads(RepoConfig(id="1" * 64, created="2026-12-01T00:00:00+00:00", chunker=ChunkerParams()).to_bytes())


def _config(**change: object) -> bytes:
    d = json.loads(json.dumps(CONFIG))
    for k, v in change.items():
        if v is None:
            del d[k]
        else:
            d[k] = v
    return json.dumps(d).encode()


@pytest.mark.parametrize(("raw", "error", "match"), [
    (b"3", RepositoryNotFound, "not an opskeeper backup repository"),
    (b'{"magic":"opskeeper-backup-repository","version":{}}', UnsupportedFormat, "version {} is not supported"),
    (_config(compression=None), FormatError, "KeyError: 'compression'"),
    (_config(zstd_levEl=3), FormatError, "unexpected keyword argument 'zstd_levEl'"),
    (_config(chunker={**CONFIG["chunker"], "nqrmalization": 1}), FormatError, "nqrmalization"),
    (_config(compression="zrtd"), FormatError, "'zrtd' is not a valid Compression"),
    (_config(chunker={**CONFIG["chunker"], "min_size": 1}), FormatError, "value out of range"),
    (_config(pack_size="16M"), FormatError, "value out of range"),
    (b"[" * 100_000, RepositoryNotFound, "config is not a repository config"),
])
def test_config(raw: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        RepoConfig.from_bytes(raw, "target")


def _key_object(**kdf: object) -> bytes:
    d = json.loads(wrap_keys(KEYS, "pw", "k", CHEAP_KDF))
    d["kdf"].update(kdf)
    return json.dumps(d).encode()


def _sealed_keys(plain: bytes) -> bytes:
    """A key object whose sealed master keys are ``plain``: it authenticates with passphrase "pw"."""
    nonce = bytes(12)
    sealed = AESGCM(CHEAP_KDF.derive("pw")).encrypt(nonce, plain, b"keys/k")
    d = json.loads(wrap_keys(KEYS, "pw", "k", CHEAP_KDF))
    d.update(nonce=base64.b64encode(nonce).decode(), sealed=base64.b64encode(sealed).decode())
    return json.dumps(d).encode()


@pytest.mark.parametrize(("raw", "match"), [
    (b"", "malformed key object"),
    (b"k1", "malformed key object"),
    (b"[]", "malformed key object"),
    (_key_object(n=2**40), r"scrypt parameters out of range \(n=1099511627776"),  # was a scrypt ValueError
    (_key_object(n=1000), "scrypt parameters out of range"),
    (_key_object(r=True), "scrypt parameters out of range"),
    (_key_object(salt="not base64!"), "malformed key object"),
    (_sealed_keys(b""), "malformed master keys"),
    (_sealed_keys(b'{"id_key": "00"}'), "malformed master keys"),
    (_sealed_keys(json.dumps({"enc_key": "zz", "id_key": "00", "chunker_seed": 1}).encode()), "malformed"),
    (_sealed_keys(b'{"enc_key": "\xc9"}'), "malformed master keys"),
    (_sealed_keys(json.dumps({"enc_key": "00", "id_key": "00", "chunker_seed": 1}).encode()), "wrong size"),
])
def test_keys(raw: bytes, match: str) -> None:
    with pytest.raises(FormatError, match=match):
        unwrap_keys(raw, "pw", "k")


def test_keys_version_and_round_trip() -> None:
    with pytest.raises(UnsupportedFormat, match="unsupported key format"):
        read_key_object(json.dumps({"version": 2, "kdf": {"name": "scrypt"}}).encode(), "k")
    assert unwrap_keys(wrap_keys(KEYS, "pw", "k", CHEAP_KDF), "pw", "k") == KEYS


def _zstd(data: bytes, *, size: bool = True) -> bytes:
    return zstandard.ZstdCompressor(write_content_size=size).compress(data)


_DAMAGED = _zstd(b"hello, world; " * 80)[:-4]  # truncated: 1120 bytes declared


def _frame_declaring(size: int) -> bytes:
    """A zstd frame header that declares ``size`` content bytes (8-byte field), with no data after it."""
    return b"\x28\xb5\x2f\xfd" + bytes([0xC0 | 0x20]) + struct.pack("<Q", size)


@pytest.mark.parametrize(("payload", "raw_len", "match"), [
    (b"garbage, not zstd", 4096, "compressed data is damaged"),  # was zstd's ZstdError
    (_frame_declaring(1 << 40), 4096, "declares 1099511627776 bytes"),  # was a 1 TiB allocation
    (_zstd(b"a" * 1000), 500, "declares 1000 bytes, the index 500"),  # was 1000 bytes for a 500-byte blob
    (_zstd(b"a" * 1000, size=False), 5000, "decompressed to 1000 bytes, the index says 5000"),
    (_DAMAGED, 1120, "compressed data is damaged"),
    (b"abc", 2, "3 bytes where the index says 2"),
])
def test_blob_plaintext(payload: bytes, raw_len: int, match: str) -> None:
    with pytest.raises(FormatError, match=match):
        CODEC.inflate(payload, raw_len, "blob")
    env = KEYS.seal(payload, blob_aad(BlobType.DATA, bytes(32)))  # the same, authenticated
    with pytest.raises(FormatError, match=match):
        CODEC.decode(BlobType.DATA, bytes(32), env, raw_len)


def test_blob_envelope_before_authentication() -> None:
    with pytest.raises(IntegrityError, match="envelope too short"):
        CODEC.decode(BlobType.DATA, bytes(32), b"\x01abc", 3)
    with pytest.raises(UnsupportedFormat, match="envelope version 2"):
        CODEC.decode(BlobType.DATA, bytes(32), b"\x02" + bytes(40), 3)
    with pytest.raises(IntegrityError, match="authentication failed"):
        CODEC.decode(BlobType.DATA, bytes(32), b"\x01" + bytes(40), 3)


def _pack(*blobs: bytes) -> tuple[str, bytes]:
    b = PackBuilder()
    for i, data in enumerate(blobs):
        bid = bytes([i]) * 32
        b.add(BlobType.DATA, bid, CODEC.encode(BlobType.DATA, bid, data), len(data))
    pid, parts = b.finish(KEYS)
    return pid, b"".join(parts)


def test_pack_reads_back_and_refuses_damage() -> None:
    pid, pack = _pack(b"one" * 100, b"two")
    refs = read_pack_trailer(pid, pack, KEYS)
    assert [CODEC.decode(r.type, bid, pack[r.offset:r.offset + r.length], r.raw_len) for bid, r in refs] == [
        b"one" * 100, b"two"]
    check_pack_bytes(pid, pack)
    cases: list[tuple[bytes, type[Exception], str]] = [
        (b"XXPK" + pack[4:], IntegrityError, "bad magic"),
        (PACK_HEADER[:4] + b"\x02" + pack[5:], UnsupportedFormat, "version 02"),
        (PACK_HEADER + b"\x01", FormatError, "too short for a trailer"),
        (pack[:-4] + struct.pack("<I", 1 << 31), FormatError, "trailer length 2147483648 exceeds the pack"),
        (pack[:8] + b"junk" + pack[8:], FormatError, "its blobs end at"),
    ]
    table = KEYS.seal(b"x" * 40, b"pack-trailer")
    cases.append((PACK_HEADER + table + struct.pack("<I", len(table)), FormatError, "not whole entries"))
    table = KEYS.seal(bytes(32) + b"q" + struct.pack("<II", 40, 3), b"pack-trailer")
    cases.append((PACK_HEADER + bytes(40) + table + struct.pack("<I", len(table)), FormatError, "entry 0"))
    for data, error, match in cases:
        with pytest.raises(error, match=match):
            read_pack_trailer(pid, data, KEYS)


def _index(obj: object) -> bytes:
    return b"\x01" + _zstd(json.dumps(obj).encode())


def _blob_row(*row: object) -> bytes:
    return _index({"version": 1, "packs": [{"id": HEX, "blobs": [list(row)]}]})


@pytest.mark.parametrize(("raw", "error", "match"), [
    (b"", UnsupportedFormat, r"unknown encoding \(empty\)"),
    (b"\x01" + _zstd(b"\xa5"), FormatError, "UnicodeDecodeError"),
    (b"\x01" + _DAMAGED, FormatError, "compressed data is damaged"),
    (b"\x01" + _frame_declaring(1 << 33) + bytes(64), FormatError, "declares 8589934592 bytes for"),  # a bomb
    (b"\x01" + _zstd(b"{}", size=False), FormatError, "declares -1 bytes"),
    (_index(7), FormatError, "TypeError"),
    (b"\x01" + _zstd(b"[" * 5000), FormatError, "RecursionError"),
    (b"\x01" + _zstd(b"[" * 100_000), FormatError, "declares 100000 bytes for"),
    (_index({"version": 1}), FormatError, "KeyError: 'packs'"),
    (_index({"version": 2, "packs": []}), UnsupportedFormat, "index version 2"),
    (_index({"version": 1, "packs": [{"blobs": []}]}), FormatError, "KeyError: 'id'"),
    (_index({"version": 1, "packs": [{"id": "../../etc", "blobs": []}]}), FormatError, "is not a SHA-256"),
    (_blob_row(HEX, "d", 8, 100), FormatError, "not enough values to unpack"),
    (_blob_row("xy" * 32, "d", 8, 100, 50), FormatError, "non-hexadecimal"),
    (_blob_row(HEX, "q", 8, 100, 50), FormatError, "KeyError: 'q'"),
    (_blob_row(HEX, "d", -5, 100, 50), FormatError, "is malformed"),
    (_blob_row(HEX, "d", 8, 100, 1 << 40), FormatError, "is malformed"),
    (_blob_row(HEX, "d", 8.0, 100, 50), FormatError, "is malformed"),
    (_blob_row("ab " * 21 + " ", "d", 8, 100, 50), FormatError, "is malformed"),  # 21 bytes
])
def test_index(raw: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        decode_index(raw, "index/x")


def test_index_round_trip() -> None:
    ref = BlobRef(HEX, BlobType.TREE, 8, 100, 50)
    assert decode_index(encode_index({HEX: [(bytes(32), ref)]})) == [(bytes(32), ref)]


def _manifest(**change: object) -> bytes:
    d: dict[str, object] = {"id": "s1", "time": "2026-12-01T00:00:00+00:00", "host": "h", "source_kind": "dir", "source": "/srv",
         "tree": [HEX], "stats": {"files": 1}, "tags": ["files"]}
    d.update(change)
    return json.dumps(d).encode()


@pytest.mark.parametrize(("raw", "error", "match"), [
    (b"", FormatError, "not valid JSON"),
    (b'{"id": "\xa1"}', FormatError, "UnicodeDecodeError"),
    (b"00\n", FormatError, "not valid JSON"),
    (b"12", FormatError, "AttributeError"),
    (_manifest(time="last tuesday"), FormatError, "Invalid isoformat string"),
    (_manifest(tree=["not hex"]), FormatError, "wrong type"),
    (_manifest(tree=5), FormatError, "TypeError"),
    (_manifest(host=["a"]), FormatError, "wrong type"),
    (_manifest(stats={"files": "1"}), FormatError, "wrong type"),
    (_manifest(colour="red"), FormatError, "unexpected keyword argument 'colour'"),
    (_manifest(version=2), UnsupportedFormat, "snapshot version 2"),
])
def test_snapshot_manifest(raw: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        SnapshotManifest.from_json(raw, "snapshots/x")


def _chunk_id_of(sha: str) -> str:
    return KEYS.blob_id_of_digest(bytes.fromhex(sha)).hex()


def _line(**e: object) -> bytes:
    d: dict[str, object] = {"p": "srv/a", "k": "file", "m": 0o644, "t": 1, "s": 3, "h": HEX}
    d.update(e)
    return json.dumps({k: v for k, v in d.items() if v is not None}).encode() + b"\n"


@pytest.mark.parametrize(("payload", "match"), [
    (b"{\xf3\n", "UnicodeDecodeError"),
    (_line()[:-3] + b"\n", "not valid JSON"),
    (_line(k="dir.conf"), "KeyError: 'dir.conf'"),
    (_line(h="zz" * 32), "non-hexadecimal"),
    (_line(t=None), "KeyError: 't'"),
    (b"79\n", "TypeError"),
    (_line(h=None), "KeyError: 'h'"),
    (_line(c=5), "TypeError"),
    (_line(c=["xyz"]), "wrong type or out of range"),
    (_line(p="srv/\u0000evil"), "wrong type or out of range"),
    (_line(p=7), "wrong type or out of range"),
    (_line(m=1 << 70), "wrong type or out of range"),
    (_line(t=1 << 64), "wrong type or out of range"),
    (_line(s=-1), "wrong type or out of range"),
    (_line(k="symlink", l=["x"]), "wrong type or out of range"),
    (b"[" * 100_000 + b"\n", "RecursionError"),
])
def test_tree(payload: bytes, match: str) -> None:
    with pytest.raises(FormatError, match=match):
        decode_entries(payload, _chunk_id_of)


@pytest.mark.parametrize("raw", [b"[1]", b"", b'"cursor"', b"\xff"])
def test_state(raw: bytes) -> None:
    with pytest.raises(FormatError, match="state/verify"):
        decode_state(raw, "state/verify")


def test_a_repository_names_the_malformed_object(tmp_path: Path) -> None:
    """Objects sealed with the repository's own key (they authenticate) but malformed: the error names them."""
    store = DirStore(tmp_path / "repo")
    repo = Repository.init(store, "pw")
    store.put("snapshots/" + "5" * 64, repo.keys.seal(_manifest(tree=["no"]), ("snapshots/" + "5" * 64).encode()))
    with pytest.raises(FormatError, match=f"snapshots/{'5' * 64}: manifest has a field of the wrong type"):
        list(repo.snapshots())
    store.put("index/" + "6" * 64, repo.keys.seal(_blob_row(HEX, "d", 8, 100), ("index/" + "6" * 64).encode()))
    with pytest.raises(FormatError, match=f"index/{'6' * 64}: malformed"):
        repo.load_index()
    store.put("config", _config(zstd_level=99))
    with pytest.raises(FormatError, match="value out of range"):
        Repository.open(store, "pw")


def test_a_damaged_key_object_does_not_hide_a_good_one(tmp_path: Path) -> None:
    store = DirStore(tmp_path / "repo")
    Repository.init(store, "pw")
    store.put("keys/" + "0" * 64, b"{not json")  # listed first
    assert Repository.open(store, "pw").keys is not None
    with pytest.raises(WrongPassphrase, match=f"wrong passphrase for the repository.*keys/{'0' * 64}: malformed"):
        Repository.open(store, "other")
    for info in store.list("keys/"):
        store.delete(info.name)
    store.put("keys/" + "0" * 64, _key_object(n=2**40))
    with pytest.raises(FormatError, match="scrypt parameters out of range"):
        Repository.open(store, "pw")


@pytest.mark.parametrize("lock", [
    {"pid": "1"},  # a string pid reached os.kill: TypeError
    {"pid": 2**64},  # OverflowError in os.kill
    {"pid": -1},  # os.kill(-1, 0) signals every process we may
    {"heartbeat": "yesterday"},
    {"started": float("nan")},
    {"exclusive": "yes"},
    {"host": None},
    {"extra": 1},
])
def test_a_malformed_lock_object_is_not_a_crash(tmp_path: Path, lock: dict[str, object]) -> None:
    """Lock objects are not encrypted: anyone who can write the store can plant one. It never crashes a run."""
    from opskeeper.backup.locks import RepoLock

    store = DirStore(tmp_path / "repo")
    good = {"host": "elsewhere", "pid": 4242, "started": 1.0, "exclusive": True, "operation": "prune",
            "heartbeat": 1.0}  # fmt: skip
    store.put("locks/" + "f" * 32, json.dumps(good | lock, allow_nan=True).encode(), retain=False)
    with RepoLock(store, exclusive=False, operation="verify") as held:
        assert held.name.startswith("locks/")


@pytest.mark.parametrize("cursor", ["x", None, [0.5], float("inf"), True, 7.25])
def test_a_hostile_verify_cursor_restarts_the_rotation(tmp_path: Path, cursor: object) -> None:
    from opskeeper.backup.verify import verify

    repo = Repository.init(DirStore(tmp_path / "repo"), "pw")
    try:
        repo.put_state("verify", {"cursor": cursor})
        report = verify(repo, read_pct=10)
        assert not report.problems
        assert 0.0 <= repo.get_state("verify")["cursor"] < 1.0
    finally:
        repo.close()
