"""Secret references: the core resolves env: and file:, the edge installs the resolver for prefect:."""

from __future__ import annotations

from pathlib import Path

import pytest

from opskeeper.config import secrets
from opskeeper.config.secrets import SecretError, SecretRef, SecretSource, install_resolver, redact


@pytest.fixture
def resolvers(monkeypatch: pytest.MonkeyPatch) -> dict[SecretSource, secrets.SecretResolver]:
    """This test's own resolver table: what it installs is gone afterwards."""
    table = {k: v for k, v in secrets._RESOLVERS.items() if k is not SecretSource.PREFECT}
    monkeypatch.setattr(secrets, "_RESOLVERS", table)
    return table


def test_env_and_file_references_resolve_and_are_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resolvers: dict
) -> None:
    monkeypatch.setenv("OPSKEEPER_TEST_SECRET", "env-secret-value-1")
    (tmp_path / "key").write_text("file-secret-value-2\n")
    assert SecretRef.model_validate("env:OPSKEEPER_TEST_SECRET").resolve() == "env-secret-value-1"
    assert SecretRef.model_validate(f"file:{tmp_path / 'key'}").resolve() == "file-secret-value-2"
    assert redact("a env-secret-value-1 b file-secret-value-2") == "a *** b ***"


def test_missing_env_and_file_name_the_reference(resolvers: dict) -> None:
    with pytest.raises(SecretError, match="secret env:OPSKEEPER_NOT_SET: environment variable"):
        SecretRef.model_validate("env:OPSKEEPER_NOT_SET").resolve()
    with pytest.raises(SecretError, match="secret file:/nonexistent/key: cannot read"):
        SecretRef.model_validate("file:/nonexistent/key").resolve()


def test_a_prefect_reference_without_the_edges_resolver_says_what_is_missing(resolvers: dict) -> None:
    ref = SecretRef.model_validate("prefect:smtp-password")  # the form is valid without any resolver
    with pytest.raises(SecretError, match="secret prefect:smtp-password: no resolver for 'prefect'"):
        ref.resolve()


def test_an_installed_resolver_is_used_and_its_values_redacted(resolvers: dict) -> None:
    asked: list[str] = []

    def fake_blocks(name: str) -> str:
        asked.append(name)
        return f"value-of-{name}"

    install_resolver(SecretSource.PREFECT, fake_blocks)
    assert SecretRef.model_validate("prefect:smtp-password").resolve() == "value-of-smtp-password"
    assert asked == ["smtp-password"]
    assert redact("pw=value-of-smtp-password") == "pw=***"
