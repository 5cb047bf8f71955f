"""Jinja2 for step commands: StrictUndefined, and quoting filters so data never becomes shell syntax."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from opskeeper.config.loader import Path_, Problem, YamlDoc, format_path
from opskeeper.config.step import Step
from opskeeper.errors import InputError


class TemplateError(InputError):
    """A step's command or condition could not be rendered."""


def _quote(value: Any) -> str:
    return shlex.quote(str(value))


def _quote_all(values: Iterable[Any]) -> str:
    return " ".join(shlex.quote(str(v)) for v in values)


def environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
    )
    env.filters["quote"] = _quote
    env.filters["quote_all"] = _quote_all
    return env


_ENV = environment()


def render_command(template: str, context: dict[str, Any], where: str) -> str:
    try:
        return _ENV.from_string(template).render(context).strip()
    except jinja2.TemplateError as e:
        raise TemplateError(f"{where}: cannot render command: {e}") from e


def evaluate(expression: str, context: dict[str, Any], where: str) -> bool:
    try:
        return bool(_ENV.compile_expression(expression, undefined_to_none=False)(**context))
    except jinja2.TemplateError as e:
        raise TemplateError(f"{where}: cannot evaluate 'when: {expression}': {e}") from e


def syntax_error(template: str) -> tuple[int, str] | None:
    """(line within the template, message) of a syntax error, or None."""
    try:
        _ENV.parse(template)
    except jinja2.TemplateSyntaxError as e:
        return e.lineno, e.message or str(e)
    return None


def template_problems(doc: YamlDoc, at: Path_, step: Step) -> list[Problem]:
    """Syntax errors in a step's ``run``, ``rollback`` and ``when``, at their line in the step's file."""
    problems = []
    for field in ("run", "rollback", "when"):
        text = getattr(step, field)
        if not text:
            continue
        err = syntax_error(text if field != "when" else "{{ " + text + " }}")
        if err:
            base = doc.line_of((*at, field)) or 0
            # A block scalar starts on the line after its key.
            line = base + err[0] if field != "when" and "\n" in text else base
            problems.append(Problem(doc.file, line, format_path((*at, field)), f"template error: {err[1]}"))
    return problems
