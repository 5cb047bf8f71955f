"""Runbooks as data: ordered steps (the one ``Step`` model of ``config.step``), includes, file:line errors."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from opskeeper.config.loader import ConfigError, Problem, YamlDoc, read_yaml, validate_doc
from opskeeper.config.step import Step

__all__ = ["Runbook", "RunbookSet", "load_runbooks"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


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
