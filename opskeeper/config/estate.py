"""The estate: provider, tiers (SLA), customers, systems, hosts, backup targets, emergency plan.

One YAML file (``opskeeper.yaml``) validated by these pydantic models. Area
models live beside this module: backup.py, notify.py, security.py, drills.py.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from opskeeper.config.audit import AuditSettings
from opskeeper.config.backup import BackupPolicy, BackupTarget, DataSet
from opskeeper.config.catch_up import CatchUp
from opskeeper.config.notify import EmailEndpoint, EmergencyPlan, Endpoint, WebhookEndpoint, WebhookFormat
from opskeeper.config.secrets import SecretRef
from opskeeper.config.security import SecurityPolicy
from opskeeper.config.ssh import SSHSettings
from opskeeper.config.types import (
    Cadence,
    Duration,
    Language,
    Severity,
    TimeOfDay,
    TimeZoneName,
    WeekdayName,
)

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class SupportHours(Model):
    """When people answer: weekdays and hours, in the zone of whoever owns them."""

    days: list[WeekdayName] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])  # type: ignore[arg-type]
    start: TimeOfDay = "09:00"  # type: ignore[assignment]
    end: TimeOfDay = "18:00"  # type: ignore[assignment]

    @model_validator(mode="after")
    def _order(self) -> SupportHours:
        if self.end <= self.start:
            raise ValueError("support hours: 'end' must be after 'start' on the same day")
        return self


class Provider(Model):
    name: str
    timezone: TimeZoneName
    support_hours: SupportHours = Field(default_factory=SupportHours)
    holidays: list[date] = Field(default_factory=list)
    oncall_email: str | None = None
    oncall_webhook: str | None = None


class Tier(Model):
    """A service level: deadlines, objectives, cadences and notice periods."""

    title: str = ""
    response: dict[Severity, Duration]
    coverage: dict[Severity, Literal["24x7", "support-hours"]] = Field(default_factory=dict)
    rto: Duration
    rpo: Duration
    cadences: list[Cadence] = Field(default_factory=lambda: list(Cadence))
    drill_every: Duration = timedelta(days=182)
    maintenance_notice: Duration = timedelta(hours=72)
    catch_up: CatchUp = Field(default_factory=CatchUp)  # notice after downtime: see config/catch_up.py
    remediation: dict[str, Duration] = Field(
        default_factory=lambda: {
            "critical": timedelta(days=7),
            "high": timedelta(days=30),
            "medium": timedelta(days=90),
            "low": timedelta(days=180),
        }
    )

    def coverage_for(self, severity: Severity) -> str:
        return self.coverage.get(severity, "24x7" if severity is Severity.EMERGENCY else "support-hours")


class Contact(Model):
    """Someone the emergency plan may tell, reached at ``endpoints`` (config/notify.py: Endpoint).

    ``email``, ``webhook`` and ``webhook_kind`` are the short form of an e-mail and a webhook
    endpoint; they are moved into ``endpoints`` (first, in that order) when the file is read.
    """

    name: str
    role: str  # e.g. it-manager, cto, duty-engineer
    escalation_level: int = Field(default=1, ge=1, le=9)
    endpoints: list[Endpoint] = Field(default_factory=list)
    email: str | None = None
    webhook: str | None = None
    webhook_kind: WebhookFormat = "json"
    language: Language | None = None  # defaults to the customer's

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        short: list[Endpoint] = [EmailEndpoint(address=self.email)] if self.email else []
        if self.webhook:
            short.append(WebhookEndpoint(address=self.webhook, format=self.webhook_kind))
        self.endpoints = [*short, *self.endpoints]
        self.email = self.webhook = None  # one place to read: endpoints
        if not self.endpoints:
            raise ValueError(f"contact {self.name!r} needs an 'email', a 'webhook' or 'endpoints'")
        return self


class MaintenanceWindow(Model):
    """Weekly window in the customer's zone; may cross midnight."""

    days: list[WeekdayName] = Field(min_length=1)
    start: TimeOfDay
    duration: Duration

    @model_validator(mode="after")
    def _length(self) -> MaintenanceWindow:
        if not timedelta(minutes=15) <= self.duration <= timedelta(hours=24):
            raise ValueError("maintenance window 'duration' must be between 15m and 24h")
        return self


class Blackout(Model):
    """No maintenance: a date range, or a recurrence (RFC 5545 RRULE) with a duration."""

    reason: str
    start: date | None = None
    end: date | None = None  # inclusive
    rrule: str | None = None
    duration: Duration | None = None

    @model_validator(mode="after")
    def _shape(self) -> Blackout:
        if self.rrule:
            if self.duration is None:
                raise ValueError("a blackout with 'rrule' needs a 'duration' (e.g. '3d')")
            _check_rrule(self.rrule)
        elif self.start is None or self.end is None:
            raise ValueError("a blackout needs 'start' and 'end' dates, or an 'rrule' and a 'duration'")
        elif self.end < self.start:
            raise ValueError("blackout 'end' is before 'start'")
        return self


def _check_rrule(rule: str) -> None:
    from dateutil.rrule import rrulestr  # dateutil is light; kept local to this validator

    try:
        rrulestr(rule, dtstart=None)
    except (ValueError, TypeError) as e:
        raise ValueError(f"invalid rrule {rule!r}: {e}") from e


class Host(Model):
    name: Ident
    address: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str | None = None
    key: SecretRef | None = None
    key_passphrase: SecretRef | None = None
    host_key: str | None = None  # pinned public key line: "ssh-ed25519 AAAA..."
    known_hosts: str | None = None  # or a known_hosts file that pins it
    role: str = "primary"
    labels: list[str] = Field(default_factory=list)
    sudo: bool = False
    jump: str | None = None  # name of another host to jump through
    local: bool = False  # run on this machine without SSH

    @model_validator(mode="after")
    def _transport(self) -> Host:
        if self.local:
            return self
        if not self.user:
            raise ValueError(f"host {self.name!r}: 'user' is required for SSH (or set local: true)")
        if not self.key:
            raise ValueError(f"host {self.name!r}: 'key' (a secret reference) is required for SSH")
        if not self.host_key and not self.known_hosts:
            raise ValueError(
                f"host {self.name!r}: pin its SSH host key with 'host_key' or 'known_hosts' "
                "(unknown keys are refused)"
            )
        return self


class Service(Model):
    """Something to health-check: a process, a TCP port, an HTTP URL."""

    name: Ident
    process: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    http: str | None = None
    expect_status: int = 200
    hosts: list[str] = Field(default_factory=list)  # empty: hosts of the role 'primary'


class Optimisation(Model):
    """What the monthly optimisation may clean on this system."""

    log_dirs: list[str] = Field(default_factory=list)
    compress_logs_older_than: Duration = timedelta(days=7)
    temp_dirs: list[str] = Field(default_factory=list)
    temp_max_age: Duration = timedelta(days=14)
    sqlite_databases: list[str] = Field(default_factory=list)
    postgres_databases: list[str] = Field(default_factory=list)


class System(Model):
    id: Ident
    name: str = ""
    hosts: list[Host] = Field(min_length=1)
    services: list[Service] = Field(default_factory=list)
    datasets: list[DataSet] = Field(default_factory=list)
    backup: BackupPolicy | None = None
    drills: list[str] = Field(default_factory=list)
    security: SecurityPolicy = Field(default_factory=SecurityPolicy)
    optimisation: Optimisation = Field(default_factory=Optimisation)
    private: list[str] = Field(default_factory=list)  # strings never shown to customers

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def hosts_with_role(self, role: str) -> list[Host]:
        return [h for h in self.hosts if h.role == role]


class Customer(Model):
    id: Ident
    name: str
    language: Language = Language.EN
    fallback_language: Language = Language.EN
    timezone: TimeZoneName
    tier: str
    contacts: list[Contact] = Field(min_length=1)
    maintenance_window: MaintenanceWindow
    blackouts: list[Blackout] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    support_hours: SupportHours | None = None  # default: the provider's hours, in the customer's zone
    systems: list[System] = Field(min_length=1)

    def system(self, system_id: str) -> System:
        for s in self.systems:
            if s.id == system_id:
                return s
        raise KeyError(system_id)


class Estate(Model):
    version: Literal[1] = 1
    provider: Provider
    tiers: dict[str, Tier] = Field(min_length=1)
    customers: list[Customer] = Field(min_length=1)
    backup_targets: dict[str, BackupTarget] = Field(default_factory=dict)
    emergency_plan: EmergencyPlan = Field(default_factory=EmergencyPlan)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    ssh: SSHSettings = Field(default_factory=SSHSettings)  # connect timeout and keepalive of every SSH host
    runbooks_dir: str = "runbooks"  # relative to the estate file unless absolute

    def reference_errors(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Cross-references pydantic cannot check field by field: (path in the file, message)."""
        errors: list[tuple[tuple[str | int, ...], str]] = []
        seen: set[str] = set()
        hosts: dict[str, tuple[str | int, ...]] = {}
        for i, c in enumerate(self.customers):
            at = ("customers", i)
            if c.id in seen:
                errors.append(((*at, "id"), f"duplicate customer id {c.id!r}"))
            seen.add(c.id)
            if c.tier not in self.tiers:
                errors.append(
                    ((*at, "tier"), f"tier {c.tier!r} is not defined; known: {', '.join(self.tiers)}")
                )
            for j, s in enumerate(c.systems):
                sat = (*at, "systems", j)
                errors += self._undefined_targets((*sat, "backup", "targets"), s.backup.targets if s.backup else [])
                errors += _system_references(sat, s)
                for k, h in enumerate(s.hosts):
                    if h.name in hosts:
                        errors.append(((*sat, "hosts", k, "name"), f"duplicate host name {h.name!r}"))
                    hosts[h.name] = (*sat, "hosts", k)
        errors += self._undefined_targets(("audit", "anchor_targets"), self.audit.anchor_targets)
        for path in hosts.values():
            h = self.customers[path[1]].systems[path[3]].hosts[path[5]]  # type: ignore[index]
            if h.jump and h.jump not in hosts:
                errors.append(((*path, "jump"), f"jump host {h.jump!r} is not a host of the estate"
                                                + near_hint(h.jump, hosts)))  # fmt: skip
        return errors

    def _undefined_targets(
        self, at: tuple[str | int, ...], names: list[str]
    ) -> list[tuple[tuple[str | int, ...], str]]:
        known = ", ".join(self.backup_targets) or "none"
        return [((*at, k), f"backup target {t!r} is not defined; known: {known}")
                for k, t in enumerate(names) if t not in self.backup_targets]  # fmt: skip

    def all_hosts(self) -> list[tuple[Customer, System, Host]]:
        return [(c, s, h) for c in self.customers for s in c.systems for h in s.hosts]

    def customer(self, customer_id: str) -> Customer:
        for c in self.customers:
            if c.id == customer_id:
                return c
        raise KeyError(customer_id)

    def tier_of(self, customer: Customer) -> Tier:
        return self.tiers[customer.tier]


def _system_references(at: tuple[str | int, ...], system: System) -> list[tuple[tuple[str | int, ...], str]]:
    """Names inside one system that must name its own hosts and be unique: found now, not by a run halfway."""
    errors: list[tuple[tuple[str | int, ...], str]] = []
    names = [h.name for h in system.hosts]

    def unknown(where: tuple[str | int, ...], name: str, what: str) -> None:
        errors.append((where, f"{what} {name!r} is not a host of system {system.id} (hosts: {', '.join(names)})"
                       + near_hint(name, names)))  # fmt: skip

    for k, svc in enumerate(system.services):
        for m, name in enumerate(svc.hosts):
            if name not in names:
                unknown((*at, "services", k, "hosts", m), name, "host")
    seen: set[str] = set()
    for k, ds in enumerate(system.datasets):
        if ds.name in seen:
            errors.append(((*at, "datasets", k, "name"), f"duplicate data set name {ds.name!r}"))
        seen.add(ds.name)
        if ds.host is not None and ds.host not in names:
            unknown((*at, "datasets", k, "host"), ds.host, "data set host")
    return errors


def near_hint(word: str, known: Iterable[str], prefix: str = "") -> str:
    """`` (did you mean X?)`` when a known name is close to ``word`` (shown after ``prefix``), else empty."""
    near = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {prefix}{near[0]}?)" if near else ""
