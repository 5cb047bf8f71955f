"""``opskeeper validate`` for drills: scenario files, and the scenarios the estate's systems list."""

from __future__ import annotations

from opskeeper.config.estate import Estate
from opskeeper.config.loader import ConfigError, Problem
from opskeeper.drills.scenarios import find_scenario, validate_all
from opskeeper.runbook import actions

ESTATE_FILE = "(estate)"  # the validate command puts these back at their line in the estate file


def validate(estate: Estate) -> list[Problem]:
    known = actions.names()
    problems = validate_all(estate.runbooks_dir, known)
    for i, c in enumerate(estate.customers):
        for j, s in enumerate(c.systems):
            roles = {h.role for h in s.hosts}
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
                    problems.append(Problem(ESTATE_FILE, None, field,
                                            f"scenario {name!r} needs hosts of role(s) {', '.join(missing)}; "
                                            f"system {s.id} has {', '.join(sorted(roles))}"))  # fmt: skip
    return problems
