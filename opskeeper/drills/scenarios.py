"""Load and validate scenario files (``runbooks/drills/<name>.yaml``) with file:line errors."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from opskeeper.config.drills import Scenario
from opskeeper.config.loader import (
    ConfigError,
    Path_,
    Problem,
    YamlDoc,
    format_path,
    read_yaml,
    validate_doc,
)
from opskeeper.paths import RUNBOOKS_DIR
from opskeeper.runbook import actions, params
from opskeeper.runbook.templating import template_problems

DRILLS_SUBDIR = "drills"


def drills_dir(runbooks_dir: str | Path | None = None) -> Path:
    return Path(runbooks_dir or RUNBOOKS_DIR) / DRILLS_SUBDIR


def load_scenario(path: str | Path, known_actions: Collection[str] | None = None) -> Scenario:
    """Read one scenario; every problem (schema, name, unknown action) is reported as file:line: field."""
    path = Path(path)
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError([Problem(doc.file, 1, "", "expected a mapping at the top of the scenario file")])
    scenario = validate_doc(doc, Scenario)
    problems: list[Problem] = []
    if scenario.name != path.stem:
        problems.append(_problem(doc, ("name",), f"name {scenario.name!r} must match the file name {path.stem!r}"))
    problems += [p for at, step in scenario.all_steps() for p in template_problems(doc, at, step)]
    if known_actions is not None:
        problems += _action_problems(doc, scenario, known_actions)
    if problems:
        raise ConfigError(problems)
    return scenario


def _problem(doc: YamlDoc, at: Path_, message: str) -> Problem:
    return Problem(doc.file, doc.line_of(at), format_path(at), message)


def _action_problems(doc: YamlDoc, scenario: Scenario, known: Collection[str]) -> list[Problem]:
    """Unknown actions, and parameters that do not match the action's declaration."""
    problems = []
    for at, item in scenario.all_steps():
        if item.action is None:
            continue
        if item.action not in known:
            known_list = ", ".join(sorted(known))
            problems.append(_problem(doc, (*at, "action"), f"unknown action {item.action!r}; known: {known_list}"))
            continue
        # The drill renders string parameters (Jinja2) just before the step: a template may stand for any type.
        spec = actions.get(item.action)
        problems += params.check(doc, at, spec.name, spec.params, item.params, templates=True)
    return problems


def scenario_path(name: str, runbooks_dir: str | Path | None = None) -> Path:
    return drills_dir(runbooks_dir) / f"{name}.yaml"


def find_scenario(
    name: str, runbooks_dir: str | Path | None = None, known_actions: Collection[str] | None = None
) -> Scenario:
    """The scenario ``name`` from the estate's runbooks dir (falling back to the bundled ones)."""
    for base in (runbooks_dir, None):
        path = scenario_path(name, base)
        if path.exists():
            return load_scenario(path, known_actions)
    available = ", ".join(list_names(runbooks_dir)) or "none"
    raise ConfigError([Problem(str(scenario_path(name, runbooks_dir)), None, "",
                               f"no drill scenario {name!r}; available: {available}")])


def list_names(runbooks_dir: str | Path | None = None) -> list[str]:
    names: set[str] = set()
    for base in (runbooks_dir, None):
        d = drills_dir(base)
        if d.is_dir():
            names |= {p.stem for p in d.glob("*.yaml")}
    return sorted(names)


def validate_all(
    runbooks_dir: str | Path | None = None, known_actions: Collection[str] | None = None
) -> list[Problem]:
    """Every scenario file, for ``opskeeper validate``: the problems of all of them, not just the first."""
    problems: list[Problem] = []
    d = drills_dir(runbooks_dir)
    for path in sorted(d.glob("*.yaml")) if d.is_dir() else []:
        try:
            load_scenario(path, known_actions)
        except ConfigError as e:
            problems += e.problems
    return problems
