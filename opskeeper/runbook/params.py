"""Declared parameters of built-in actions: one pydantic model per action, checked before anything runs.

The same model judges a step's ``with:`` twice: ``opskeeper validate`` reports unknown, missing and
mistyped parameters as file:line: field problems, and at run time the action receives its
parameters only through the model, so the declaration cannot drift from the code.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticUndefined

from opskeeper.config.loader import Path_, Problem, YamlDoc, format_path
from opskeeper.errors import InputError

if TYPE_CHECKING:
    from opskeeper.runbook.actions import ActionContext

INTERNAL_PREFIX = "_"  # keys the engine adds (the drill state): not parameters, never written in a file


class BadParams(InputError):
    """A step's parameters do not match its action's declaration."""


class ActionParams(BaseModel):
    """Base of every action's parameters: unknown names are refused, values are read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Descriptions of fields inherited from a model outside this package (health thresholds).
    descriptions: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def of(cls, ctx: ActionContext) -> Self:
        """The step's parameters, as validated against this declaration when the action was called."""
        if not isinstance(ctx.args, cls):
            raise TypeError(f"{cls.__name__}: the action was registered with {type(ctx.args).__name__}")
        return ctx.args


class NoParams(ActionParams):
    """The action takes no parameters."""


@dataclass(frozen=True)
class ParamInfo:
    name: str
    type: str
    required: bool
    default: Any
    description: str


def describe(model: type[ActionParams]) -> list[ParamInfo]:
    """Each parameter: name, type in words, required or its default, what it is for."""
    out = []
    for name, f in model.model_fields.items():
        default = None if f.default is PydanticUndefined else f.default
        if f.default_factory is not None:
            default = f.default_factory()  # type: ignore[call-arg]
        text = f.description or model.descriptions.get(name, "")
        out.append(ParamInfo(name, type_name(f.annotation), f.is_required(), default, text))
    return out


def type_name(tp: Any) -> str:
    """An annotation in the words an estate author uses: 'number', 'list of strings', 'one of: a, b'."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return "one of: " + ", ".join(str(a) for a in args)
    if origin in (Union, types.UnionType):
        names = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(names)
    if origin is list:
        return f"list of {type_name(args[0])}s" if args else "list"
    words = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return words.get(tp, getattr(tp, "__name__", str(tp)))


def is_template(value: object) -> bool:
    """A Jinja2 template, rendered just before the step runs: its type is known only then."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def parse(action: str, model: type[ActionParams], params: Mapping[str, Any]) -> ActionParams:
    """Validate a step's (rendered) parameters at run time; internal keys are left out."""
    given = {k: v for k, v in params.items() if not str(k).startswith(INTERNAL_PREFIX)}
    try:
        return model.model_validate(given)
    except ValidationError as e:
        problems = "; ".join(
            f"{format_path(tuple(err['loc'])) or 'with'}: {_message(action, model, err)}" for err in _ordered(e)
        )
        raise BadParams(f"action {action}: {problems}") from e


def check(
    doc: YamlDoc, at: Path_, action: str, model: type[ActionParams], given: Mapping[str, Any], templates: bool
) -> list[Problem]:
    """Problems of one step's ``with:`` (at ``at`` in ``doc``) against the action's declaration.

    ``templates``: whether the step's parameters are rendered as Jinja2 before the action runs. If so
    a template stands for a value of any type; if not, a template would reach the action as text.
    """
    where = (*at, "with")
    unrendered = (
        "templates are not rendered in this step's 'with:' (only drill scenarios render them); give the value itself"
    )
    problems = [] if templates else [_problem(doc, (*where, *p), unrendered) for p in _templates_in(given, ())]
    try:
        model.model_validate(dict(given))
    except ValidationError as e:
        for err in _ordered(e):
            loc = tuple(err["loc"])
            if err["type"] not in ("missing", "extra_forbidden") and _under_template(given, loc):
                continue  # rendered: the type is known only then; not rendered: reported above
            problems.append(_problem(doc, (*where, *loc), _message(action, model, err)))
    return problems


def _problem(doc: YamlDoc, path: Path_, message: str) -> Problem:
    return Problem(doc.file, doc.line_of(path), format_path(path), message)


def _templates_in(value: Any, path: Path_) -> Iterator[Path_]:
    if is_template(value):
        yield path
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _templates_in(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _templates_in(v, (*path, i))


def _under_template(given: Mapping[str, Any], loc: Sequence[str | int]) -> bool:
    cur: Any = given
    for part in loc:
        if is_template(cur):
            return True
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            return False
    return is_template(cur)


def _ordered(e: ValidationError) -> list[ErrorDetails]:
    """Unknown names first: a misspelt parameter explains the 'missing' one reported after it."""
    rank = {"extra_forbidden": 0, "missing": 1}
    return sorted(e.errors(), key=lambda err: rank.get(err["type"], 2))


def _message(action: str, model: type[ActionParams], err: ErrorDetails) -> str:
    names = list(model.model_fields)
    loc = err["loc"]
    if err["type"] == "extra_forbidden":
        if not names:
            return f"unknown parameter: {action} takes no parameters"
        close = difflib.get_close_matches(str(loc[-1]), names, n=1)
        if close:
            return f"unknown parameter of {action}; did you mean {close[0]!r}?"
        return f"unknown parameter of {action}; expected one of: {', '.join(names)}"
    if err["type"] == "missing" and len(loc) == 1 and loc[0] in model.model_fields:
        info = next(p for p in describe(model) if p.name == loc[0])
        what = f": {info.description}" if info.description else ""
        return f"required parameter of {action} is missing; expected {_a(info.type)}{what}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if loc and "input" in err:  # not a check of the whole 'with:' (e.g. 'url' or 'service')
        value = err["input"]
        shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
        return f"{msg}; got {shown}"
    return msg


def _a(type_words: str) -> str:
    if type_words.startswith("one of"):
        return type_words
    return ("an " if type_words[0] in "aeiou" else "a ") + type_words
