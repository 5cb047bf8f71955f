"""The one step model: maintenance runbooks, drill phases and, next, recovery runbooks and upgrade plans.

A step runs a command (``run``, Jinja2-templated) or a built-in ``action`` on the hosts
its selector picks (``on``), and its ``expect`` list judges what came back: a command's
exit code and output, an action's value. The expectation kinds form one discriminated
union on ``type``, judged by ``opskeeper.runbook.expect.judge``. A ``Probe`` is a step
used as a check (steady state, detection, verification): it must expect something, and
says when to poll it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opskeeper.config.types import Duration

SELECTOR = re.compile(r"^(all|primary|(role|host|label):[A-Za-z0-9_.-]+)$")
ROLE_SELECTOR = re.compile(r"^(primary|role:[A-Za-z0-9_.-]+)$")
ParamValue = str | int | float | bool | list[str] | list[int] | None

# The drill scenarios' old field names: a file still using one is told the new name.
RENAMED = {"command": "run: COMMAND", "role": "on: role:NAME (or on: primary)", "tolerance": "expect: {type: ...}"}
# The runbooks' old expectation keys, likewise.
OLD_EXPECT = {
    "exit_codes": "{type: exit_code, codes: [...]}",
    "stdout": "{type: regex, pattern: ...}",
    "stdout_not": "{type: regex, pattern: ..., absent: true}",
    "value": "{type: range, pattern: ..., min: ..., max: ...}",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _regex(value: str, groups: int = 0) -> str:
    try:
        compiled = re.compile(value)
    except re.error as e:
        raise ValueError(f"invalid regular expression {value!r}: {e}") from e
    if compiled.groups < groups:
        raise ValueError("the pattern needs one capturing group around the number")
    return value


# -- expectations: what a step's result must be (chaostoolkit's tolerances, as one union) ------------


class ExitCode(_Model):
    """The command's exit code is one of ``codes``. Without one, a command must exit 0."""

    type: Literal["exit_code"]
    codes: list[int] = Field(min_length=1)

    def describe(self) -> str:
        return "exit " + ", ".join(str(c) for c in self.codes)


class Exact(_Model):
    """The value equals ``value`` (numbers compared as numbers, booleans case-insensitively)."""

    type: Literal["exact"]
    value: str | int | float | bool

    def describe(self) -> str:
        return f"= {self.value!r}"


class Range(_Model):
    """A number within [min, max]: the value itself, or the first group of ``pattern`` in the output."""

    type: Literal["range"]
    min: float | None = None
    max: float | None = None
    pattern: str | None = None

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, v: str | None) -> str | None:
        return None if v is None else _regex(v, groups=1)

    @model_validator(mode="after")
    def _bounds(self) -> Range:
        if self.min is None and self.max is None and self.pattern is None:
            raise ValueError("a range expectation needs 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError("range expectation: 'max' is below 'min'")
        return self

    def describe(self) -> str:
        lo = "-inf" if self.min is None else f"{self.min:g}"
        hi = "+inf" if self.max is None else f"{self.max:g}"
        return f"in [{lo}, {hi}]"


class Regex(_Model):
    """``pattern`` matches the output or value (multi-line: ``^``/``$`` at each line); ``absent``: it must not."""

    type: Literal["regex"]
    pattern: str
    absent: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        return _regex(v)

    def describe(self) -> str:
        return f"{'!' if self.absent else ''}~ /{self.pattern}/"


class Custom(_Model):
    """A named check registered with ``opskeeper.runbook.expect.custom_check``."""

    type: Literal["custom"]
    check: str
    args: dict[str, ParamValue] = Field(default_factory=dict)

    def describe(self) -> str:
        return f"custom:{self.check}"


Expectation = Annotated[ExitCode | Exact | Range | Regex | Custom, Field(discriminator="type")]


# -- the step -----------------------------------------------------------------------------------------


class OnFailure(StrEnum):
    ABORT = "abort"  # stop this host's remaining steps (a drill: the phase stops)
    CONTINUE = "continue"  # record and go on
    ROLLBACK = "rollback"  # undo the completed steps (their rollbacks, newest first), then stop


class Mark(StrEnum):
    """Timeline events a step may mark when it succeeds (otherwise the phase boundaries mark them)."""

    FAULT_INJECTED = "fault_injected"
    SERVICE_RESTORED = "service_restored"


class Step(_Model):
    name: str
    on: str = "all"  # all | primary | role:X | host:X | label:X (a scenario: a role, default primary)
    run: str | None = None  # Jinja2-templated shell command
    action: str | None = None  # a built-in action, e.g. health.collect
    params: dict[str, Any] = Field(default_factory=dict, alias="with")
    when: str | None = None  # Jinja2 expression; the step is skipped when false
    timeout: Duration = timedelta(minutes=5)
    retries: int = Field(default=0, ge=0, le=10)
    retry_delay: Duration = timedelta(seconds=5)
    # all must hold; a command must also exit 0 unless an exit_code expectation says otherwise
    expect: list[Expectation] = Field(default_factory=list)
    on_failure: OnFailure = OnFailure.ABORT
    rollback: str | None = None
    marks: Mark | None = None
    sudo: bool = False
    destructive: bool = False
    requires_window: bool = False
    requires_approval: bool = False

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict):
            old = [k for k in RENAMED if k in data]
            if old:
                raise ValueError("renamed: " + "; ".join(f"'{k}' is now '{RENAMED[k]}'" for k in old))
        return data

    @field_validator("expect", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        if isinstance(v, dict) and "type" not in v and (old := [k for k in OLD_EXPECT if k in v]):
            raise ValueError("renamed: " + "; ".join(f"'{k}' is now '{OLD_EXPECT[k]}'" for k in old))
        return [v] if isinstance(v, dict) else v  # one expectation need not be written as a list

    @field_validator("on")
    @classmethod
    def _selector(cls, v: str) -> str:
        if not SELECTOR.match(v):
            raise ValueError(
                f"expected 'all', 'primary', 'role:NAME', 'host:NAME' or 'label:NAME', got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _one_body(self) -> Step:
        if (self.run is None) == (self.action is None):
            raise ValueError(f"step {self.name!r}: give exactly one of 'run' (a command) or 'action'")
        return self

    @property
    def gated(self) -> bool:
        """Needs an open maintenance window (or --force-window)."""
        return self.destructive or self.requires_window

    @property
    def role(self) -> str | None:
        """The host role the selector names (``primary`` is the role primary), or None."""
        if self.on == "primary":
            return "primary"
        kind, _, value = self.on.partition(":")
        return value if kind == "role" else None

    def describe_expect(self) -> str:
        return "; ".join(e.describe() for e in self.expect)


class Probe(Step):
    """A step used as a check: it must expect something; ``wait`` and ``at`` say when to poll it."""

    timeout: Duration = timedelta(seconds=60)
    expect: list[Expectation] = Field(min_length=1)
    wait: Duration = timedelta(0)  # keep probing until it passes, up to this long (a service starting)
    # steady-state probes: checked before the fault, after recovery, or both (after a fail-over the
    # old primary is not expected back until cleanup)
    at: list[Literal["before", "after"]] = Field(default_factory=lambda: ["before", "after"], min_length=1)  # type: ignore[arg-type]
