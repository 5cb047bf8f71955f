"""Fuzz snapshot manifests and what reads them (the ledger's catalog record).

RAW: ``name NUL envelope`` as stored, opened then parsed; PLAIN: the manifest JSON straight to
``SnapshotManifest.from_json``; SEALED: that JSON sealed with the test key, opened, parsed.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["opskeeper.backup"]):
    from fuzz.harness import PLAIN, RAW, TEST_KEYS, clean, split, take_name
    from opskeeper.backup.record import to_record
    from opskeeper.backup.tree import SnapshotManifest

_NAME = "snapshots/" + "0" * 64


def test_one_input(data: bytes) -> None:
    mode, payload = split(data)

    def read() -> None:
        if mode == PLAIN:
            plain = payload
        else:
            name, env = take_name(payload, _NAME) if mode == RAW else (_NAME, TEST_KEYS.seal(payload, _NAME.encode()))
            plain = TEST_KEYS.open(env, name.encode(), name)
        snap = SnapshotManifest.from_json(plain, _NAME)
        to_record(snap, "fuzz-target")
        _ = [bytes.fromhex(t) for t in snap.tree], snap.source_key  # what restore and verify do next

    clean(read)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
