"""Fuzz ``state/<name>`` objects (the verify cursor): RAW ``name NUL envelope``; PLAIN the JSON; SEALED sealed JSON."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["opskeeper.backup"]):
    from fuzz.harness import PLAIN, RAW, TEST_KEYS, clean, split, take_name
    from opskeeper.backup.repo import decode_state

_NAME = "state/verify"


def test_one_input(data: bytes) -> None:
    mode, payload = split(data)

    def read() -> None:
        if mode == PLAIN:
            decode_state(payload, _NAME)
            return
        name, env = take_name(payload, _NAME) if mode == RAW else (_NAME, TEST_KEYS.seal(payload, _NAME.encode()))
        decode_state(TEST_KEYS.open(env, name.encode(), name), name)

    clean(read)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
