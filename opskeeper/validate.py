"""``opskeeper validate``: config, runbooks and templates checked together, every problem with file:line."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from opskeeper.config.estate import Estate
from opskeeper.config.loader import ConfigError, Problem, load_estate, read_yaml
from opskeeper.config.runbook import RunbookSet, load_runbooks
from opskeeper.drills import validate as drills_validate
from opskeeper.notify import validate as notify_validate
from opskeeper.runbook import actions, params
from opskeeper.runbook.templating import template_problems

# Areas that validate their own data offer ``validate(estate) -> list[Problem]``.
AREA_VALIDATORS: tuple[Callable[[Estate], list[Problem]], ...] = (
    notify_validate.validate,
    drills_validate.validate,
)


def check_runbooks(runbooks: RunbookSet) -> list[Problem]:
    problems = []
    known = set(actions.names())
    for name, book in runbooks.runbooks.items():
        file, doc = runbooks.files[name], runbooks.docs[name]
        for i, step in enumerate(book.steps):
            at = ("steps", i)
            if step.action and step.action not in known:
                problems.append(Problem(file, doc.line_of((*at, "action")), f"steps[{i}].action",
                                        f"unknown action {step.action!r}; known: {', '.join(sorted(known))}"))  # fmt: skip
            elif step.action:
                # The maintenance engine hands `with:` to the action as written: no templates there.
                spec = actions.get(step.action)
                problems += params.check(doc, at, spec.name, spec.params, step.params, templates=False)
            problems += template_problems(doc, at, step)
    return problems


ESTATE_FILE = "(estate)"  # what area validators, which see only the Estate, give as the file
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _locate(problems: list[Problem], config: Path) -> list[Problem]:
    """Put area validators' problems back in the estate file, at the line of their field when it is there."""
    if not any(p.file == ESTATE_FILE for p in problems):
        return problems
    doc = read_yaml(config)
    out = []
    for p in problems:
        if p.file != ESTATE_FILE:
            out.append(p)
            continue
        path = tuple(int(i) if i else k for k, i in _PATH_PART.findall(p.field))
        line = doc.line_of(path) if path[:1] in doc.lines else None  # a default, not written in the file
        out.append(Problem(str(config), line, p.field, p.message))
    return out


def validate_all(config: Path, *, offline: bool = True) -> tuple[Estate, RunbookSet, list[Problem]]:
    """Load everything; raise ConfigError listing all problems, or return what was loaded.

    ``offline=False`` (``opskeeper validate`` without ``--offline``) also runs the checks that need the network or
    a Prefect server; a run's own validation stays offline.
    """
    estate = load_estate(config)
    problems: list[Problem] = []
    runbooks = RunbookSet({}, {}, {})
    try:
        runbooks = load_runbooks(estate.runbooks_dir)
    except ConfigError as e:
        problems.extend(e.problems)
    problems += check_runbooks(runbooks)
    for fn in AREA_VALIDATORS:
        problems += _locate(fn(estate), config)
    if problems:
        raise ConfigError(problems)
    return estate, runbooks, problems
