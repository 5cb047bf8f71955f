"""``opskeeper validate``: config, runbooks and templates checked together, every problem with file:line.

Besides each file's own schema, everything a run would otherwise discover halfway is checked here:
cross-references (tiers, targets, hosts, scenarios, actions and their parameters), selectors that
match no host, and, for the ``validate`` command itself, the machine's side: secret references that
do not resolve and files the estate names that cannot be read. The list is in ``docs/validate.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from opskeeper.config.estate import Estate, near_hint
from opskeeper.config.loader import ConfigError, Problem, YamlDoc, format_path, read_estate
from opskeeper.config.runbook import RunbookSet, load_runbooks
from opskeeper.config.secrets import references
from opskeeper.drills import validate as drills_validate
from opskeeper.notify import validate as notify_validate
from opskeeper.runbook import actions, params
from opskeeper.runbook.engine import selects
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


def check_selectors(estate: Estate, runbooks: RunbookSet) -> list[Problem]:
    """A step whose ``on`` picks no host of the estate would be skipped everywhere: a typo, said now."""
    hosts = [h for _, _, h in estate.all_hosts()]
    known = {"role": sorted({h.role for h in hosts}), "host": sorted(h.name for h in hosts),
             "label": sorted({label for h in hosts for label in h.labels})}  # fmt: skip
    problems = []
    for name, book in runbooks.runbooks.items():
        for i, step in enumerate(book.steps):
            if any(selects(step.on, h) for h in hosts):
                continue
            kind, _, value = step.on.partition(":")
            kind, value = (kind, value) if value else ("role", "primary")  # 'primary' is the role primary
            names = known[kind]
            why = (f"{step.on!r} matches no host of the estate; {kind}s: {', '.join(names) or 'none'}"
                   + near_hint(value, names, f"{kind}:"))  # fmt: skip
            at = ("steps", i, "on")
            problems.append(Problem(runbooks.files[name], runbooks.docs[name].line_of(at), format_path(at), why))
    return problems


def check_cadences(estate: Estate, doc: YamlDoc, runbooks: RunbookSet) -> list[Problem]:
    """A cadence a tier lists in the file needs its runbook (``monthly.yaml`` ...): the tick would find out.

    Only cadences written in the file: a tier that leaves ``cadences`` out takes all of them by default,
    and an estate may deliberately run only some.
    """
    problems = []
    for name, tier in estate.tiers.items():
        at = ("tiers", name, "cadences")
        if at not in doc.lines:
            continue
        for i, cadence in enumerate(tier.cadences):
            if cadence.value not in runbooks:
                known = ", ".join(sorted(runbooks.runbooks)) or "none"
                problems.append(Problem(doc.file, doc.line_of((*at, i)), format_path((*at, i)),
                                        f"no runbook named {cadence.value!r} in {estate.runbooks_dir} "
                                        f"(runbooks: {known})"))  # fmt: skip
    return problems


def check_environment(estate: Estate, doc: YamlDoc, *, offline: bool) -> list[Problem]:
    """What the estate names on this machine: secret references resolve, pinned files can be read.

    ``offline`` skips what needs the network or a Prefect server (``prefect:`` Secret blocks).
    """
    found: list[tuple[tuple[str | int, ...], str]] = []
    for at, ref in references(estate):
        why = ref.unresolvable(offline=offline)
        found += [(at, why)] if why else []
    for i, c in enumerate(estate.customers):
        for j, s in enumerate(c.systems):
            for k, h in enumerate(s.hosts):
                found += _unreadable(("customers", i, "systems", j, "hosts", k, "known_hosts"), h.known_hosts)
    smtp = estate.emergency_plan.smtp
    found += _unreadable(("emergency_plan", "smtp", "ca_file"), smtp.ca_file if smtp else None)
    return [Problem(doc.file, doc.line_of(at), format_path(at), why) for at, why in found]


def _unreadable(at: tuple[str | int, ...], name: str | None) -> list[tuple[tuple[str | int, ...], str]]:
    if name is None:
        return []
    path = Path(name).expanduser()
    try:
        with path.open("rb"):
            return []
    except OSError as e:
        return [(at, f"cannot read {path}: {e.strerror}")]


ESTATE_FILE = "(estate)"  # what area validators, which see only the Estate, give as the file
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _locate(problems: list[Problem], doc: YamlDoc) -> list[Problem]:
    """Put area validators' problems back in the estate file, at the line of their field when it is there."""
    out = []
    for p in problems:
        if p.file != ESTATE_FILE:
            out.append(p)
            continue
        path = tuple(int(i) if i else k for k, i in _PATH_PART.findall(p.field))
        line = doc.line_of(path) if path[:1] in doc.lines else None  # a default, not written in the file
        out.append(Problem(doc.file, line, p.field, p.message))
    return out


def validate_all(config: Path, *, offline: bool | None = None) -> tuple[Estate, RunbookSet, list[Problem]]:
    """Load everything; raise ConfigError listing all problems, or return what was loaded.

    ``offline`` is given by ``opskeeper validate``, which also checks this machine's side
    (:func:`check_environment`); ``offline=False`` adds the checks that need the network or a Prefect
    server. A run's own validation (``offline=None``) checks the files only: the run resolves its
    secrets when it needs them, and a customer's missing key must not stop another's run.
    """
    estate, doc = read_estate(config)
    problems: list[Problem] = []
    runbooks = RunbookSet({}, {}, {})
    try:
        runbooks = load_runbooks(estate.runbooks_dir)
    except ConfigError as e:
        problems.extend(e.problems)
    problems += check_runbooks(runbooks)
    problems += check_selectors(estate, runbooks)
    problems += check_cadences(estate, doc, runbooks) if runbooks.runbooks else []
    for fn in AREA_VALIDATORS:
        problems += _locate(fn(estate), doc)
    if offline is not None:
        problems += check_environment(estate, doc, offline=offline)
    if problems:
        raise ConfigError(problems)
    return estate, runbooks, problems
