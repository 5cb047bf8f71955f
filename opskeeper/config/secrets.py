"""Secret references: ``env:NAME``, ``file:PATH``, ``prefect:BLOCK``, resolved at run time.

The estate holds references, never values. Every resolved value is registered
with the redactor so that logs, artifacts, reports, notifications and the
ledger can be scrubbed with :func:`redact`.

The seam: each reference source has a :data:`SecretResolver` (name -> value). The core
resolves ``env:`` and ``file:`` itself; ``prefect:`` needs Prefect, which the core never
imports, so its resolver lives at the edge (``tasks/secrets.py``) and the CLI and the flows
install it at start-up with :func:`install_resolver`. Which sources exist is fixed here, so
``validate`` checks a reference's form without any resolver.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from opskeeper.errors import OpskeeperError

REDACTED = "***"
_MIN_SECRET_LEN = 4  # shorter values would redact ordinary words


class SecretError(OpskeeperError):
    """A secret reference could not be resolved."""

    exit_code = 2


class SecretSource(StrEnum):
    ENV = "env"
    FILE = "file"
    PREFECT = "prefect"


class _Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def register(self, value: str) -> None:
        if len(value) < _MIN_SECRET_LEN:
            return
        with self._lock:
            self._values.add(value)
            # A multi-line secret (a private key) is also hidden line by line.
            for line in value.splitlines():
                if len(line.strip()) >= 16:
                    self._values.add(line.strip())

    def redact(self, text: str) -> str:
        if not text:
            return text
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


_REDACTOR = _Redactor()


def redact(text: str) -> str:
    """Replace every secret value resolved so far in this process with ``***``."""
    return _REDACTOR.redact(text)


def redact_data(value: Any) -> Any:
    """``redact`` through JSON-like data (dicts, lists, strings), e.g. a step's parsed detail."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


def register_secret(value: str) -> None:
    """Make ``value`` redacted from outputs (for secrets obtained elsewhere)."""
    _REDACTOR.register(value)


class SecretRef(BaseModel):
    """A reference to a secret: ``{ref: "env:NAME"}`` or the short string form ``"env:NAME"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: str

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"ref": data}
        return data

    @model_validator(mode="after")
    def _check_form(self) -> SecretRef:
        source, sep, name = self.ref.partition(":")
        if not sep or not name or source not in {s.value for s in SecretSource}:
            raise ValueError(
                f"secret reference {self.ref!r} must be 'env:NAME', 'file:PATH' or 'prefect:BLOCK'"
            )
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        # Editors must accept the short string form the estate files use, not only {ref: ...}.
        short = {"type": "string", "pattern": r"^(env|file|prefect):.+$", "examples": ["env:NAME"]}
        return {"anyOf": [short, handler(core_schema)]}

    @property
    def source(self) -> SecretSource:
        return SecretSource(self.ref.partition(":")[0])

    @property
    def name(self) -> str:
        return self.ref.partition(":")[2]

    def __str__(self) -> str:  # never the value
        return self.ref

    def resolve(self) -> str:
        """Fetch the value now; register it for redaction."""
        value = self._fetch()
        _REDACTOR.register(value)
        return value

    def unresolvable(self, *, offline: bool) -> str | None:
        """Why this reference cannot be resolved here and now, or None (``opskeeper validate``).

        ``env:`` and ``file:`` are checked without keeping any value (a file is opened, not read);
        ``prefect:`` needs a Prefect server: skipped ``offline``, and when no Prefect API is configured
        (``$PREFECT_API_URL``) or no resolver is installed, since there is then nothing to ask.
        """
        if self.source is SecretSource.ENV:
            return None if self.name in os.environ else f"secret {self.ref}: environment variable {self.name} is not set"
        if self.source is SecretSource.FILE:
            path = Path(self.name).expanduser()
            try:
                with path.open("rb"):
                    return None
            except OSError as e:
                return f"secret {self.ref}: cannot read {path}: {e.strerror}"
        resolver = _RESOLVERS.get(self.source)
        if offline or resolver is None or not os.environ.get("PREFECT_API_URL"):
            return None
        try:
            resolver(self.name)  # the value is dropped here, never shown
        except SecretError as e:
            return str(e)
        return None

    def _fetch(self) -> str:
        resolver = _RESOLVERS.get(self.source)
        if resolver is None:
            raise SecretError(
                f"secret {self.ref}: no resolver for {self.source.value!r} references is installed in this "
                "process (the opskeeper command and the Prefect flows install the Prefect Secret block "
                "resolver, tasks/secrets.py, at start-up)"
            )
        return resolver(self.name)


SecretResolver = Callable[[str], str]
"""Fetch the value of the secret a reference names (the part after ``source:``).

Raises :class:`SecretError` naming the reference; a resolver translates its library's errors itself.
"""


def _from_env(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise SecretError(f"secret env:{name}: environment variable {name} is not set")
    return value


def _from_file(name: str) -> str:
    path = Path(name).expanduser()
    try:
        return path.read_text().rstrip("\n")
    except OSError as e:
        raise SecretError(f"secret file:{name}: cannot read {path}: {e.strerror}") from e


_RESOLVERS: dict[SecretSource, SecretResolver] = {SecretSource.ENV: _from_env, SecretSource.FILE: _from_file}


def install_resolver(source: SecretSource, resolver: SecretResolver) -> None:
    """Resolve references of ``source`` with ``resolver`` from now on, in this process (idempotent)."""
    _RESOLVERS[source] = resolver



def references(value: Any, at: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], SecretRef]]:
    """Every SecretRef in a model (the estate), with its path: what ``validate`` checks."""
    if isinstance(value, SecretRef):
        return [(at, value)]
    if isinstance(value, BaseModel):
        return [r for name in type(value).model_fields for r in references(getattr(value, name), (*at, name))]
    if isinstance(value, dict):
        return [r for k, v in value.items() for r in references(v, (*at, k))]
    if isinstance(value, list | tuple):
        return [r for i, v in enumerate(value) for r in references(v, (*at, i))]
    return []
