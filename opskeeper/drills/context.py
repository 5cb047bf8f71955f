"""Resolve a drill request against the estate: customer, tier, system, scenario, hosts, template vars."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opskeeper.config.backup import DirDataSet, PostgresDataSet
from opskeeper.config.drills import Scenario
from opskeeper.config.estate import Customer, Estate, Host, System, Tier
from opskeeper.config.loader import ConfigError
from opskeeper.drills.errors import DrillRefused
from opskeeper.drills.scenarios import find_scenario
from opskeeper.paths import state_path
from opskeeper.remote.interface import Executor
from opskeeper.runbook import actions
from opskeeper.runbook.templating import TemplateError, render_command

ExecutorFactory = Callable[[Host], Executor]


@dataclass(frozen=True)
class DrillRequest:
    """What an engineer (or the tick) asked for."""

    scenario: str
    customer: str
    approve: str | None = None  # who approves faulting roles outside the scenario's safety list
    force_window: bool = False  # run even inside a blackout (recorded in the audit trail)
    triggered_by: str = "cli"
    system: str | None = None
    vars: Mapping[str, str] = field(default_factory=dict)  # overrides of the derived template vars


@dataclass
class DrillTarget:
    estate: Estate
    customer: Customer
    tier: Tier
    system: System
    scenario: Scenario
    vars: dict[str, Any]

    def hosts(self, role: str) -> list[Host]:
        return self.system.hosts_with_role(role)


def resolve(estate: Estate, request: DrillRequest) -> DrillTarget:
    """Everything the drill needs from the config; DrillRefused (exit 2) when it does not fit."""
    try:
        customer = estate.customer(request.customer)
    except KeyError:
        known = ", ".join(c.id for c in estate.customers)
        raise DrillRefused(f"unknown customer {request.customer!r}; known: {known}") from None
    try:
        scenario = find_scenario(request.scenario, estate.runbooks_dir, actions.names())
    except ConfigError as e:
        raise DrillRefused(str(e)) from e
    system = _system(customer, request)
    missing = [r for r in scenario.all_roles() if not system.hosts_with_role(r)]
    if missing:
        raise DrillRefused(
            f"scenario {scenario.name} needs hosts of role(s) {', '.join(missing)}; system {system.id} has "
            f"{', '.join(sorted({h.role for h in system.hosts}))}"
        )
    target = DrillTarget(estate, customer, estate.tier_of(customer), system, scenario, {})
    target.vars = {**derived_vars(target), **request.vars}
    return target


def _system(customer: Customer, request: DrillRequest) -> System:
    if request.system:
        try:
            return customer.system(request.system)
        except KeyError:
            raise DrillRefused(f"customer {customer.id} has no system {request.system!r}") from None
    for system in customer.systems:
        if request.scenario in system.drills:
            return system
    raise DrillRefused(
        f"no system of customer {customer.id} lists the drill scenario {request.scenario!r} "
        f"(add it to a system's 'drills')"
    )


def derived_vars(t: DrillTarget) -> dict[str, Any]:
    """Names the scenario files use, derived from the system (overridable per request)."""
    s = t.system
    dirs = [d.name for d in s.datasets if isinstance(d, DirDataSet)]
    pgs = [d.name for d in s.datasets if isinstance(d, PostgresDataSet)]
    targets = list(s.backup.targets) if s.backup else []
    standby = next((h.address for h in s.hosts_with_role("standby")), "")
    root, port = f"/tmp/opskeeper-drill-{t.customer.id}-{s.id}", 8081
    return {
        "dataset": dirs[0] if dirs else "",
        "pg_dataset": pgs[0] if pgs else "",
        "primary_service": _service_of(s, "primary"),
        "standby_service": _service_of(s, "standby"),
        "primary_target": targets[0] if targets else "",
        "target_count": len(targets),
        "scratch": str(state_path("drills", t.customer.id, t.scenario.name, "restore")),
        "standby_root": root,
        "standby_address": standby,
        "failover_port": port,
        # How the standby serves the restored data; a real site overrides these with its service manager.
        "failover_start": f"setsid -f python3 -m http.server {port} --bind {standby} --directory {root} "
        "</dev/null >/dev/null 2>&1",
        # "[h]ttp": the pattern must not match the shell that runs pkill itself
        "failover_stop": f"pkill -u \"$(id -u)\" -f '[h]ttp.server {port} --bind {standby}' || true",
        "failover_url": f"http://{standby}:{port}/",
    }


def _service_of(system: System, role: str) -> str:
    hosts = {h.name for h in system.hosts_with_role(role)}
    for svc in system.services:
        if (svc.hosts and hosts & set(svc.hosts)) or (not svc.hosts and role == "primary"):
            return svc.name
    return ""


def render_params(params: Mapping[str, Any], variables: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Render string parameters as Jinja2 templates (StrictUndefined: a typo fails the step, loudly)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str) and "{" in value:
            out[key] = render_command(value, dict(variables), f"{where}, parameter {key!r}")
        else:
            out[key] = value
    return out


__all__ = ["DrillRequest", "DrillTarget", "TemplateError", "render_params", "resolve"]
