"""Built-in step actions: a registry of small functions that receive a context and return an outcome."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opskeeper.checks.health import Sample
from opskeeper.config.estate import Customer, Estate, Host, System
from opskeeper.errors import InputError
from opskeeper.ledger import Ledger
from opskeeper.remote.interface import Executor


class UnknownAction(InputError):
    """A runbook names an action that is not registered."""


@dataclass
class ActionContext:
    """Everything an action may use. Actions do their I/O through ``executor`` (the step's host)."""

    executor: Executor
    estate: Estate
    customer: Customer
    system: System
    host: Host
    params: dict[str, Any]
    timeout: float
    sudo: bool
    now: datetime
    ledger: Ledger | None = None
    run_id: int | None = None


@dataclass(frozen=True)
class ActionOutcome:
    ok: bool
    output: str = ""
    detail: dict[str, Any] | None = None
    exit_code: int | None = None
    samples: tuple[Sample, ...] = field(default_factory=tuple)


Action = Callable[[ActionContext], ActionOutcome]
_REGISTRY: dict[str, Action] = {}


def register(name: str) -> Callable[[Action], Action]:
    """Decorator: make ``fn`` available to runbooks as ``action: name``."""

    def deco(fn: Action) -> Action:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"action {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def get(name: str) -> Action:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownAction(f"unknown action {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


_BUILTIN_MODULES = (
    "opskeeper.runbook.builtin",
    "opskeeper.runbook.builtin_deep",
    "opskeeper.drills.actions",
)
_loaded = False


def _load_builtins() -> None:
    """Import the modules that register actions (areas register theirs on import).

    At first use, not at import: the drill actions import this module to register themselves.
    """
    global _loaded
    if _loaded:
        return
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    _loaded = True
