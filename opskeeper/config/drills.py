"""Drill scenarios as data: hypothesis, fault, detection, recovery, verification, cleanup, objectives.

One YAML file per scenario under ``runbooks/drills/``. A scenario names *roles*
(primary, standby, db, ...), never hosts: the same scenario runs on every
customer whose system has hosts of those roles.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opskeeper.config.types import Duration, Language
from opskeeper.i18n import Localized, Translations

ScenarioName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
ParamValue = str | int | float | bool | list[str] | list[int] | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# -- tolerances: how a probe's value is judged (chaostoolkit's idea, as a discriminated union) ---------


class ExactTolerance(_Model):
    type: Literal["exact"]
    value: str | int | float | bool

    def describe(self) -> str:
        return f"= {self.value!r}"


class RangeTolerance(_Model):
    type: Literal["range"]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> RangeTolerance:
        if self.min is None and self.max is None:
            raise ValueError("a range tolerance needs 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError("range tolerance: 'max' is below 'min'")
        return self

    def describe(self) -> str:
        lo = "-inf" if self.min is None else f"{self.min:g}"
        hi = "+inf" if self.max is None else f"{self.max:g}"
        return f"in [{lo}, {hi}]"


class RegexTolerance(_Model):
    type: Literal["regex"]
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as e:
            raise ValueError(f"invalid regular expression {value!r}: {e}") from e
        return value

    def describe(self) -> str:
        return f"~ /{self.pattern}/"


class CustomTolerance(_Model):
    """A named check registered in ``opskeeper.drills.tolerance.CUSTOM_CHECKS``."""

    type: Literal["custom"]
    check: str
    args: dict[str, ParamValue] = Field(default_factory=dict)

    def describe(self) -> str:
        return f"custom:{self.check}"


Tolerance = Annotated[
    ExactTolerance | RangeTolerance | RegexTolerance | CustomTolerance, Field(discriminator="type")
]


# -- probes and steps ---------------------------------------------------------------------------------


class Probe(_Model):
    """A check that yields a value, judged by a tolerance: steady state, detection, verification."""

    name: str
    action: str
    role: str = "primary"
    with_: dict[str, ParamValue] = Field(default_factory=dict, alias="with")
    tolerance: Tolerance
    timeout: Duration = timedelta(seconds=60)
    wait: Duration = timedelta(0)  # keep probing until it passes, up to this long (a service starting)
    # steady-state probes: checked before the fault, after recovery, or both (after a fail-over the
    # old primary is not expected back until cleanup)
    at: list[Literal["before", "after"]] = Field(default_factory=lambda: ["before", "after"], min_length=1)  # type: ignore[arg-type]


class OnFailure(StrEnum):
    ABORT = "abort"
    CONTINUE = "continue"


class Mark(StrEnum):
    """Timeline events a step may mark when it succeeds (otherwise the phase boundaries mark them)."""

    FAULT_INJECTED = "fault_injected"
    SERVICE_RESTORED = "service_restored"


class DrillStep(_Model):
    """One step of a fault, recovery or cleanup runbook: a built-in action or a command."""

    name: str
    action: str | None = None
    command: str | None = None
    role: str = "primary"
    with_: dict[str, ParamValue] = Field(default_factory=dict, alias="with")
    timeout: Duration = timedelta(minutes=5)
    retries: int = Field(default=0, ge=0, le=10)
    retry_delay: Duration = timedelta(seconds=0.25)
    on_failure: OnFailure = OnFailure.ABORT
    marks: Mark | None = None
    sudo: bool = False
    destructive: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> DrillStep:
        if (self.action is None) == (self.command is None):
            raise ValueError(f"step {self.name!r}: give exactly one of 'action' or 'command'")
        return self


class Detection(_Model):
    """How the fault is noticed: probes polled until one of them deviates from its tolerance."""

    probes: list[Probe] = Field(min_length=1)
    within: Duration = timedelta(minutes=5)
    interval: Duration = timedelta(seconds=1)


class Objectives(_Model):
    """Overrides of the tier's objectives for this scenario (tighter, never silently looser)."""

    rto: Duration | None = None
    rpo: Duration | None = None


class Safety(_Model):
    """Roles whose hosts may be faulted without a named approver."""

    fault_roles: list[str] = Field(default_factory=list)


class Audience(StrEnum):
    ANNOUNCED = "announced"  # the customer's contacts of the plan's drill roles
    INTERNAL = "internal"  # provider only
    SILENT = "silent"  # nobody before; the report after


class Scenario(_Model):
    name: ScenarioName
    title: str  # English; what engineers read and what customers get without a translation
    title_i18n: Translations = Field(default_factory=dict)  # {zh-CN: ..., ru: ...}, shown to customers
    description: str = ""
    hypothesis: list[Probe] = Field(min_length=1)
    fault: list[DrillStep] = Field(min_length=1)
    detection: Detection | None = None  # default: the hypothesis probes
    recovery: list[DrillStep] = Field(min_length=1)
    verification: list[Probe] = Field(default_factory=list)
    cleanup: list[DrillStep] = Field(default_factory=list)
    objectives: Objectives = Field(default_factory=Objectives)
    safety: Safety = Field(default_factory=Safety)
    audience: Audience = Audience.ANNOUNCED
    owner: str = "operations"  # who owns the action items this scenario's findings open
    requires: list[str] = Field(default_factory=list)  # roles the system must have, checked in preflight

    @model_validator(mode="after")
    def _unique_names(self) -> Scenario:
        for phase in ("fault", "recovery", "cleanup"):
            names = [s.name for s in getattr(self, phase)]
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"{phase}: duplicate step name(s) {', '.join(sorted(dup))}")
        return self

    def localized_title(self) -> Localized:
        """The title in every language it is written in (the notification picks the customer's)."""
        return Localized.of(self.title, self.title_i18n)

    def title_in(self, lang: Language | str) -> str:
        return self.localized_title().in_(lang)

    def fault_roles(self) -> list[str]:
        return sorted({s.role for s in self.fault})

    def roles_needing_approval(self) -> list[str]:
        return [r for r in self.fault_roles() if r not in self.safety.fault_roles]

    def detection_probes(self) -> list[Probe]:
        return self.detection.probes if self.detection else self.hypothesis

    def all_roles(self) -> list[str]:
        roles = {p.role for p in self.hypothesis + self.verification + self.detection_probes()}
        roles |= {s.role for s in self.fault + self.recovery + self.cleanup}
        return sorted(roles | set(self.requires))
