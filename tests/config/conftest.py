"""The bad-input estates back up with ``passphrase: env:ACME_PASSPHRASE``: `validate` checks it resolves."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def acme_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_PASSPHRASE", "acme test passphrase")
