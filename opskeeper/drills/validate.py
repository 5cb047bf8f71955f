"""``opskeeper validate`` for drills: scenario files, and the scenarios the estate's systems list.

For each scenario a system lists: the roles its steps run on are roles of the system's hosts, and
the names its steps' parameters give literally (a service, a data set, a backup target, a host) exist
there, so that a drill does not stop halfway on a typo. Templated names (``{{ dataset }}``) are
derived from the system, or given by the request, when the drill runs.
"""

from __future__ import annotations

from collections.abc import Callable

from opskeeper.config.drills import Scenario
from opskeeper.config.estate import Estate, System, near_hint
from opskeeper.config.loader import ConfigError, Problem, format_path
from opskeeper.drills.scenarios import find_scenario, validate_all
from opskeeper.runbook import actions

ESTATE_FILE = "(estate)"  # the validate command puts these back at their line in the estate file

# A step parameter that names something of the system (or the estate): what it names, and the names.
NAMED: dict[str, tuple[str, Callable[[Estate, System], list[str]]]] = {
    "service": ("service", lambda e, s: [v.name for v in s.services]),
    "dataset": ("data set", lambda e, s: [d.name for d in s.datasets]),
    "target": ("backup target", lambda e, s: list(e.backup_targets)),
    "on_host": ("host", lambda e, s: [h.name for h in s.hosts]),
}


def validate(estate: Estate) -> list[Problem]:
    known = actions.names()
    problems = validate_all(estate.runbooks_dir, known)
    for i, c in enumerate(estate.customers):
        for j, s in enumerate(c.systems):
            roles = sorted({h.role for h in s.hosts})
            for k, name in enumerate(s.drills):
                field = f"customers[{i}].systems[{j}].drills[{k}]"
                try:
                    scenario = find_scenario(name, estate.runbooks_dir, known)
                except ConfigError as e:
                    if not any(p in problems for p in e.problems):
                        problems.append(Problem(ESTATE_FILE, None, field, f"drill scenario {name!r}: "
                                                + "; ".join(p.message for p in e.problems)))  # fmt: skip
                    continue
                missing = [r for r in scenario.all_roles() if r not in roles]
                if missing:
                    hint = near_hint(missing[0], roles) if len(missing) == 1 else ""
                    problems.append(Problem(ESTATE_FILE, None, field,
                                            f"scenario {name!r} needs hosts of role(s) {', '.join(missing)}; "
                                            f"system {s.id} has {', '.join(roles)}{hint}"))  # fmt: skip
                problems += [Problem(ESTATE_FILE, None, field, why) for why in _unknown_names(estate, s, scenario)]
    return problems


def _unknown_names(estate: Estate, system: System, scenario: Scenario) -> list[str]:
    out = []
    for at, step in scenario.all_steps():
        for param, (what, names_of) in NAMED.items():
            value = step.params.get(param)
            if not isinstance(value, str) or not value or "{" in value:  # unset, or a template
                continue
            names = names_of(estate, system)
            if value not in names:
                out.append(f"scenario {scenario.name!r}, {format_path(at)} (step {step.name!r}): no {what} "
                           f"{value!r} for system {system.id}; known: {', '.join(names) or 'none'}"
                           + near_hint(value, names))  # fmt: skip
    return out
