"""Load YAML config into pydantic models, reporting every problem as file:line: field: what was expected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from opskeeper.config.estate import Estate
from opskeeper.config.yaml_input import InputRefused, compose, read_config_text, text_position
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
    column: int | None = None  # where a character matters (bad bytes, a parser's refusal)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        where += f":{self.column}" if self.line and self.column else ""
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
    """Parse ``path``; oversized, non-UTF-8, hostile (alias bomb, deep nesting) and malformed input raise
    ConfigError with the line (yaml_input.py holds the limits)."""
    name = str(path)
    try:
        text = read_config_text(path)
        node = compose(text)
    except InputRefused as e:
        r = e.refusal
        raise ConfigError([Problem(name, r.line, "", r.message, r.column)]) from e
    except FileNotFoundError as e:
        raise ConfigError([Problem(name, None, "", "file not found")]) from e
    except OSError as e:
        raise ConfigError([Problem(name, None, "", f"cannot read: {e.strerror or e}")]) from e
    except yaml.reader.ReaderError as e:
        at, column = text_position(text, e.position)
        what = f"U+{e.character:04X}" if isinstance(e.character, int) else repr(e.character)
        raise ConfigError([Problem(name, at, "", f"character {what} is not allowed in YAML ({e.reason})",
                                   column)]) from e  # fmt: skip
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        # Where the unfinished construct began is often where the typo is (a missing '}' or quote).
        began = e.context_mark.line + 1 if e.context_mark else None
        context = f" ({e.context} started on line {began})" if e.context and began and began != line else ""
        raise ConfigError([Problem(name, line, "", f"YAML syntax error: {e.problem}{context}")]) from e
    if node is None:
        raise ConfigError([Problem(name, 1, "", "the file is empty; expected a mapping")])
    lines: dict[Path_, int] = {(): node.start_mark.line + 1}
    builder = _Builder(name, lines)
    data = builder.construct(node, ())
    if builder.problems:
        raise ConfigError(builder.problems)
    return YamlDoc(name, data, lines)


_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_MERGE, _BOOL, _TIMESTAMP = "tag:yaml.org,2002:merge", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"
_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_SCALAR_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "binary", "timestamp", "str"))


def _tag_refused(tag: str) -> str:
    shown = tag.replace("tag:yaml.org,2002:", "!!", 1)
    return f"tag {shown!r} is not allowed: the configuration is plain YAML (no tags that build objects)"


class _Builder:
    """Plain data (dicts, lists, scalars) from the composed nodes, recording the line of every key and item.

    Only plain YAML is built: a tag that would construct anything else (``!!python/...``, ``!!set``, a custom
    tag) is refused at its line; so is a key that is not a scalar. ``<<`` merge keys are honoured.
    """

    def __init__(self, name: str, lines: dict[Path_, int]) -> None:
        self.name, self.lines = name, lines
        self.problems: list[Problem] = []
        self._scalars = yaml.SafeLoader("")  # SafeConstructor's scalar constructors, one instance per file

    def _problem(self, node: yaml.Node, path: Path_, message: str) -> None:
        self.problems.append(Problem(self.name, node.start_mark.line + 1, format_path(path), message))

    def construct(self, node: yaml.Node, path: Path_) -> Any:
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in (_MAP, _SEQ):
            self._problem(node, path, _tag_refused(node.tag))
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                self.lines[(*path, i)] = item.start_mark.line + 1
                items.append(self.construct(item, (*path, i)))
            return items
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        # Merged keys first, so that the mapping's own keys (which win) also keep their own lines.
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged = {**self._merge(value_node, path), **merged}  # an earlier merge wins, as YAML says
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "mapping" if isinstance(key_node, yaml.MappingNode) else "list"
                self._problem(key_node, path, f"a key must be a plain value (a name or a number), not a {kind}")
                continue
            # YAML 1.1 reads the keys on/off/yes/no as booleans; a step's `on:` must stay a name.
            key = key_node.value if key_node.tag == _BOOL else self._scalar(key_node, path)
            child = (*path, key)
            if key in out:
                self._problem(key_node, child, "duplicate key")
            self.lines[child] = key_node.start_mark.line + 1
            out[key] = self.construct(value_node, child)
        return {**merged, **out}

    def _merge(self, node: yaml.Node, path: Path_) -> dict[Any, Any]:
        """``<<: *base`` or ``<<: [*a, *b]``: the mappings' keys (the first one given wins)."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self._problem(node, path, "'<<' merges mappings only (an alias of a mapping, or a list of them)")
                continue
            merged = {**self._mapping(source, path), **merged}
        return merged

    def _scalar(self, node: yaml.Node, path: Path_) -> Any:
        if node.tag not in _SCALAR_TAGS:
            self._problem(node, path, _tag_refused(node.tag))
            return None
        if node.tag in (_INT, _FLOAT) and ":" in node.value:
            # YAML 1.1 reads 22:00 as the base-60 number 1320: a time of day must stay what was written.
            return node.value
        try:
            value = self._scalars.construct_object(node, deep=True)
        except (ValueError, OverflowError) as e:
            if node.tag == _TIMESTAMP:
                # An impossible date (2027-02-30): read it as the text it is, so the field's own check says
                # what it says of the quoted form.
                return node.value
            shown = node.value if len(node.value) <= 24 else node.value[:20] + "..."
            self._problem(node, path, f"cannot read {shown!r} ({len(node.value)} characters): {str(e).split(';')[0]}")
            return None
        except yaml.YAMLError as e:
            self._problem(node, path, f"cannot read this value: {getattr(e, 'problem', e)}")
            return None
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
    return read_estate(path)[0]


def read_estate(path: str | Path) -> tuple[Estate, YamlDoc]:
    """The estate and the document it was read from (for the lines of later checks)."""
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
    return estate, doc
