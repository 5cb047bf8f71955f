"""Fuzz the ``config`` reader (plain JSON, read before any key): RepoConfig.from_bytes, then its use."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["opskeeper"]):
    from fuzz.harness import TEST_KEYS, clean
    from opskeeper.backup.chunker import Chunker
    from opskeeper.backup.format import RepoConfig


def test_one_input(data: bytes) -> None:
    def read() -> None:
        cfg = RepoConfig.from_bytes(data, "fuzz")
        Chunker(cfg.chunker, TEST_KEYS.chunker_seed)  # a config that opens must be usable

    clean(read)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
