"""Runbooks as data: ordered steps with a command or a built-in action, an expectation and a failure policy."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opskeeper.config.loader import ConfigError, Problem, YamlDoc, read_yaml, validate_doc
from opskeeper.config.types import Duration

SELECTOR = re.compile(r"^(all|primary|(role|host|label):[A-Za-z0-9_.-]+)$")


class OnFailure(StrEnum):
    ABORT = "abort"  # stop this host's remaining steps
    CONTINUE = "continue"  # record and go on
    ROLLBACK = "rollback"  # undo the completed steps (their rollbacks, newest first), then stop


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ValueCheck(_Model):
    """Extract a number from stdout with a regex (first group) and hold it to a range."""

    pattern: str
    min: float | None = None
    max: float | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            if re.compile(v).groups < 1:
                raise ValueError("the pattern needs one capturing group around the number")
        except re.error as e:
            raise ValueError(f"invalid regex: {e}") from e
        return v


class Expectation(_Model):
    exit_codes: list[int] = Field(default_factory=lambda: [0])
    stdout: str | None = None  # regex that must match
    stdout_not: str | None = None  # regex that must not match
    value: ValueCheck | None = None

    @field_validator("stdout", "stdout_not")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"invalid regex: {e}") from e
        return v


class Step(_Model):
    name: str
    on: str = "all"  # all | primary | role:X | host:X | label:X
    run: str | None = None  # Jinja2-templated shell command
    action: str | None = None  # a built-in action, e.g. health.collect
    params: dict[str, Any] = Field(default_factory=dict, alias="with")
    when: str | None = None  # Jinja2 expression; the step is skipped when false
    timeout: Duration = timedelta(minutes=5)
    retries: int = Field(default=0, ge=0, le=10)
    retry_delay: Duration = timedelta(seconds=5)
    expect: Expectation = Field(default_factory=Expectation)
    on_failure: OnFailure = OnFailure.ABORT
    rollback: str | None = None
    sudo: bool = False
    destructive: bool = False
    requires_window: bool = False
    requires_approval: bool = False

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


class Runbook(_Model):
    name: str
    title: str = ""
    description: str = ""
    include: list[str] = Field(default_factory=list)  # runbooks whose steps come first
    steps: list[Step] = Field(default_factory=list)


class RunbookSet:
    """All runbooks of a directory, includes resolved, with the file each came from."""

    def __init__(self, runbooks: dict[str, Runbook], files: dict[str, str], docs: dict[str, YamlDoc]) -> None:
        self.runbooks, self.files, self.docs = runbooks, files, docs

    def __contains__(self, name: str) -> bool:
        return name in self.runbooks

    def get(self, name: str) -> Runbook:
        return self.runbooks[name]

    def expanded_steps(self, name: str) -> list[tuple[str, Step]]:
        """(runbook name, step) in execution order, includes first."""
        out: list[tuple[str, Step]] = []
        self._expand(name, out, set())
        return out

    def _expand(self, name: str, out: list[tuple[str, Step]], done: set[str]) -> None:
        # Each runbook's steps once, even when two includes share it (annual -> quarterly, monthly).
        if name in done:
            return
        done.add(name)
        book = self.runbooks[name]
        for inc in book.include:
            self._expand(inc, out, done)
        out.extend((name, s) for s in book.steps)


def load_runbooks(directory: str | Path) -> RunbookSet:
    """Load ``*.yaml`` in ``directory`` (not subfolders); ConfigError names file, line and field."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError([Problem(str(directory), None, "", "runbook directory not found")])
    runbooks: dict[str, Runbook] = {}
    files: dict[str, str] = {}
    docs: dict[str, YamlDoc] = {}
    problems: list[Problem] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            doc = read_yaml(path)
            book = validate_doc(doc, Runbook)
        except ConfigError as e:
            problems.extend(e.problems)
            continue
        if book.name in runbooks:
            problems.append(
                Problem(
                    str(path),
                    doc.line_of(("name",)),
                    "name",
                    f"runbook {book.name!r} also in {files[book.name]}",
                )
            )
            continue
        runbooks[book.name], files[book.name], docs[book.name] = book, str(path), doc
    for name, book in runbooks.items():
        for i, inc in enumerate(book.include):
            if inc not in runbooks:
                problems.append(
                    Problem(
                        files[name],
                        docs[name].line_of(("include", i)),
                        f"include[{i}]",
                        f"no runbook named {inc!r}",
                    )
                )
    problems.extend(_cycles(runbooks, files, docs))
    if problems:
        raise ConfigError(problems)
    return RunbookSet(runbooks, files, docs)


def _cycles(runbooks: dict[str, Runbook], files: dict[str, str], docs: dict[str, YamlDoc]) -> list[Problem]:
    problems = []
    for start in runbooks:
        stack: list[tuple[str, tuple[str, ...]]] = [(start, (start,))]
        seen: set[str] = set()
        while stack:
            name, path = stack.pop()
            for inc in runbooks[name].include if name in runbooks else []:
                if inc == start:
                    cycle = " -> ".join((*path, inc))
                    problems.append(
                        Problem(
                            files[start],
                            docs[start].line_of(("include",)),
                            "include",
                            f"include cycle: {cycle}",
                        )
                    )
                    stack.clear()
                    break
                if inc not in seen:
                    seen.add(inc)
                    stack.append((inc, (*path, inc)))
    return problems
