"""Step actions: a registry of small functions that receive a context and return an outcome.

An action registers itself with ``@register(name, Params)`` where it is defined, declaring its
parameters (a model in ``opskeeper.runbook.params``). This module imports nothing above the runbook
layer: the runbook's own built-ins (``opskeeper.runbook.builtin``) load at first use, and a higher
area's actions register when that area's package is imported (``opskeeper.drills`` imports
``opskeeper.drills.actions``), so a step can name them wherever that area is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from opskeeper.checks.health import Sample
from opskeeper.config.estate import Customer, Estate, Host, System
from opskeeper.errors import InputError
from opskeeper.ledger import Ledger
from opskeeper.remote.interface import Executor
from opskeeper.runbook.params import INTERNAL_PREFIX, ActionParams, NoParams, parse


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
    # ``params`` as the action declares them; set when the action is called
    args: ActionParams = field(default_factory=NoParams)


@dataclass(frozen=True)
class ActionOutcome:
    ok: bool
    output: str = ""
    detail: dict[str, Any] | None = None
    exit_code: int | None = None
    samples: tuple[Sample, ...] = field(default_factory=tuple)


Action = Callable[[ActionContext], ActionOutcome]


@dataclass(frozen=True)
class ActionSpec:
    """A registered action and its declared parameters. Calling it checks the parameters first."""

    name: str
    fn: Action
    params: type[ActionParams]

    @property
    def summary(self) -> str:
        return (self.fn.__doc__ or "").strip().split("\n")[0]

    def __call__(self, ctx: ActionContext) -> ActionOutcome:
        args = parse(self.name, self.params, ctx.params)
        # The action sees its parameters only as ``args``; ``params`` keeps the engine's internal keys.
        internal = {k: v for k, v in ctx.params.items() if str(k).startswith(INTERNAL_PREFIX)}
        return self.fn(replace(ctx, params=internal, args=args))


_REGISTRY: dict[str, ActionSpec] = {}


def register(name: str, params: type[ActionParams] = NoParams) -> Callable[[Action], Action]:
    """Decorator: make ``fn`` available to runbooks as ``action: name``, taking ``with:`` as ``params``.

    The action reads its parameters with ``params.of(ctx)``.
    """

    def deco(fn: Action) -> Action:
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"action {name!r} registered twice")
        _REGISTRY[name] = ActionSpec(name, fn, params)
        return fn

    return deco


def get(name: str) -> ActionSpec:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownAction(f"unknown action {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def specs() -> list[ActionSpec]:
    _load_builtins()
    return [_REGISTRY[n] for n in sorted(_REGISTRY)]


_loaded = False


def _load_builtins() -> None:
    """Import the runbook's built-in actions, at first use.

    Not at import: the built-in modules import this one to register (the same shape as the security
    checks' registry and its rules package).
    """
    global _loaded
    if _loaded:
        return
    from opskeeper.runbook import builtin  # noqa: F401  (registers the built-in actions)

    _loaded = True
