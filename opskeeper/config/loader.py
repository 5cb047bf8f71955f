"""Load YAML config into pydantic models, reporting every problem as file:line: field: what was expected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from opskeeper.config.estate import Estate
from opskeeper.errors import InputError
from opskeeper.paths import home_dir

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(InputError):
    """The configuration is invalid; nothing was run."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class YamlDoc:
    """Parsed YAML with the line of every mapping key and sequence item."""

    file: str
    data: Any
    lines: dict[Path_, int]

    def line_of(self, path: Path_) -> int | None:
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_yaml(path: Path) -> YamlDoc:
    """Parse ``path``; YAML syntax errors and duplicate keys raise ConfigError with the line."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError([Problem(name, None, "", "file not found")]) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([Problem(name, None, "", f"cannot read: {e}")]) from e
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        # Where the unfinished construct began is often where the typo is (a missing '}' or quote).
        began = e.context_mark.line + 1 if e.context_mark else None
        context = f" ({e.context} started on line {began})" if e.context and began and began != line else ""
        raise ConfigError([Problem(name, line, "", f"YAML syntax error: {e.problem}{context}")]) from e
    if node is None:
        raise ConfigError([Problem(name, 1, "", "the file is empty; expected a mapping")])
    lines: dict[Path_, int] = {(): node.start_mark.line + 1}
    problems: list[Problem] = []
    data = _construct(node, (), lines, problems, name)
    if problems:
        raise ConfigError(problems)
    return YamlDoc(name, data, lines)


def _construct(
    node: yaml.Node, path: Path_, lines: dict[Path_, int], problems: list[Problem], name: str
) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            # YAML 1.1 reads the keys on/off/yes/no as booleans; a step's `on:` must stay a name.
            is_bool = isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:bool"
            key = key_node.value if is_bool else _scalar(key_node)
            child = (*path, key)
            if key in out:
                problems.append(
                    Problem(name, key_node.start_mark.line + 1, format_path(child), "duplicate key")
                )
            lines[child] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, child, lines, problems, name)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            items.append(_construct(item, (*path, i), lines, problems, name))
        return items
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        value = loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
    if isinstance(value, str) and "${OPSKEEPER_HOME}" in value:
        # State paths in the example estate follow $OPSKEEPER_HOME (default ./var).
        value = value.replace("${OPSKEEPER_HOME}", str(home_dir()))
    return value


def _data_path(data: Any, loc: Sequence[str | int]) -> Path_:
    """Map a pydantic error location onto the file's structure (dropping union tags)."""
    path: list[str | int] = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:  # noqa: SIM114 - separate so mypy sees each index type
            cur = cur[part]
            path.append(part)
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
            path.append(part)
        elif (
            isinstance(cur, dict)
            and isinstance(part, str)
            and not part.startswith(("function-", "["))
            and part == loc[-1]
        ):
            # A missing field or a union tag: kept only when it is the last part, for the message.
            path.append(part)
        # other parts are pydantic-internal (tags, validator names): skip
    return tuple(path)


def _describe(err: Any) -> str:
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] == "extra_forbidden":
        return "unknown field (not part of the schema; check the spelling)"
    if err["type"].endswith("_type") or err["type"].endswith("_parsing") or err["type"] == "literal_error":
        value = err.get("input")
        shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
        return f"{msg}; got {shown}"
    return msg


def validate_doc(doc: YamlDoc, model: type[M], base: Path_ = ()) -> M:
    """Validate the YAML document against ``model``; ConfigError lists every problem."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            path = (*base, *_data_path(doc.data, err["loc"]))
            problems.append(Problem(doc.file, doc.line_of(path), format_path(path), _describe(err)))
        raise ConfigError(_unique(problems)) from e


def _unique(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if (p.line, p.field, p.message) not in seen:
            seen.add((p.line, p.field, p.message))
            out.append(p)
    return out


def load_estate(path: str | Path) -> Estate:
    """Read, validate and cross-check an estate file."""
    doc = read_yaml(Path(path))
    if not isinstance(doc.data, dict):
        raise ConfigError([Problem(doc.file, 1, "", "expected a mapping at the top of the file")])
    estate = validate_doc(doc, Estate)
    problems = [
        Problem(doc.file, doc.line_of(p), format_path(p), msg) for p, msg in estate.reference_errors()
    ]
    if problems:
        raise ConfigError(problems)
    estate_dir = Path(path).resolve().parent
    runbooks = Path(estate.runbooks_dir)
    if not runbooks.is_absolute():
        estate.runbooks_dir = str(estate_dir / runbooks)
    return estate
