"""Drill scenarios as data: hypothesis, fault, detection, recovery, verification, cleanup, objectives.

One YAML file per scenario under ``runbooks/drills/``. A scenario names *roles*
(primary, standby, db, ...), never hosts: the same scenario runs on every
customer whose system has hosts of those roles. Its steps and probes are the one
``Step`` model of ``opskeeper.config.step``; their ``on`` names a role
(``primary`` or ``role:NAME``) and defaults to the primary.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from opskeeper.config.step import ROLE_SELECTOR, Probe, Step
from opskeeper.config.types import Duration, Language
from opskeeper.i18n import Localized, Translations

ScenarioName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
STEP_PHASES = ("fault", "recovery", "cleanup")
DEFAULT_ROLE = "primary"  # a scenario step or probe without 'on' runs on the primary


S = TypeVar("S", bound=Step)


def _with_role(item: Any) -> Any:
    if not isinstance(item, dict) or "on" in item or "role" in item:
        return item
    return {**item, "on": DEFAULT_ROLE}


def _names_role(step: S) -> S:
    if not ROLE_SELECTOR.match(step.on):
        raise ValueError(f"a scenario names roles, never hosts: expected 'on: primary' or 'on: role:NAME', "
                         f"got {step.on!r}")  # fmt: skip
    return step


# A step or probe of a scenario: the one Step model, on a role (the primary unless it says otherwise).
RoleStep = Annotated[Step, BeforeValidator(_with_role), AfterValidator(_names_role)]
RoleProbe = Annotated[Probe, BeforeValidator(_with_role), AfterValidator(_names_role)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Detection(_Model):
    """How the fault is noticed: probes polled until one of them deviates from its tolerance."""

    probes: list[RoleProbe] = Field(min_length=1)
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
    hypothesis: list[RoleProbe] = Field(min_length=1)
    fault: list[RoleStep] = Field(min_length=1)
    detection: Detection | None = None  # default: the hypothesis probes
    recovery: list[RoleStep] = Field(min_length=1)
    verification: list[RoleProbe] = Field(default_factory=list)
    cleanup: list[RoleStep] = Field(default_factory=list)
    objectives: Objectives = Field(default_factory=Objectives)
    safety: Safety = Field(default_factory=Safety)
    audience: Audience = Audience.ANNOUNCED
    owner: str = "operations"  # who owns the action items this scenario's findings open
    requires: list[str] = Field(default_factory=list)  # roles the system must have, checked in preflight

    @model_validator(mode="after")
    def _unique_names(self) -> Scenario:
        for phase in STEP_PHASES:
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
        return sorted({role_of(s) for s in self.fault})

    def roles_needing_approval(self) -> list[str]:
        return [r for r in self.fault_roles() if r not in self.safety.fault_roles]

    def detection_probes(self) -> list[Probe]:
        return self.detection.probes if self.detection else self.hypothesis

    def all_roles(self) -> list[str]:
        steps: list[Step] = [*self.hypothesis, *self.verification, *self.detection_probes()]
        steps += [*self.fault, *self.recovery, *self.cleanup]
        return sorted({role_of(s) for s in steps} | set(self.requires))

    def all_steps(self) -> list[tuple[tuple[str | int, ...], Step]]:
        """Every step and probe with its place in the file, in phase order."""
        out: list[tuple[tuple[str | int, ...], Step]] = []
        for phase in ("hypothesis", "fault", "recovery", "verification", "cleanup"):
            out += [((phase, i), s) for i, s in enumerate(getattr(self, phase))]
        if self.detection:
            out += [(("detection", "probes", i), p) for i, p in enumerate(self.detection.probes)]
        return out



def role_of(step: Step) -> str:
    """The role a scenario's step or probe runs on (validated: its ``on`` names one)."""
    return step.role or DEFAULT_ROLE
