"""Limits on configuration input, checked before the YAML is built: size, encoding, aliases, depth.

Every configuration file (the estate, runbooks, drill scenarios) is read through here by
``loader.read_yaml``. A file is refused, with ``file[:line[:column]]: message``, when

- it is larger than :data:`MAX_FILE_BYTES` (``$OPSKEEPER_MAX_CONFIG_BYTES``), checked before reading;
- it is not UTF-8 (the line and column of the first bad byte);
- its aliases expand past :data:`MAX_NODES` nodes (a "billion laughs" alias bomb: a 1 KB file
  whose aliases stand for a billion nodes), or an alias stands for the node that contains it;
- it nests deeper than :data:`MAX_DEPTH` levels (``[[[[...``, which would exhaust the stack).

The alias and depth limits are checked on the parser's events (libyaml's parser when PyYAML has
it), before any node is built, so a hostile file costs milliseconds, never memory. Documented in
``docs/validate.md``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from opskeeper.errors import InputError

MAX_FILE_BYTES = 4 * 1024 * 1024  # a large estate is ~100 KB; a file 40 times that is a mistake or an attack
MAX_FILE_BYTES_ENV = "OPSKEEPER_MAX_CONFIG_BYTES"
MAX_NODES = 100_000  # YAML nodes of one file once every alias is expanded (the example estate: ~600)
MAX_DEPTH = 100  # nesting of mappings and sequences (an estate nests ~10 deep)

_DEEP = f"nested deeper than {MAX_DEPTH} levels (the limit)"

# libyaml's parser (C) when PyYAML was built with it: the limits are then checked at C speed.
_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Refusal:
    """Why a file was refused, and where (1-based line and column when known)."""

    message: str
    line: int | None = None
    column: int | None = None


class InputRefused(InputError):
    """A configuration file breaks a limit of this module; ``loader`` turns it into a Problem."""

    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal
        super().__init__(refusal.message)


def max_file_bytes() -> int:
    """The size limit: ``$OPSKEEPER_MAX_CONFIG_BYTES`` when set (a positive number of bytes), else the default."""
    raw = os.environ.get(MAX_FILE_BYTES_ENV)
    if raw is None or not raw.strip():
        return MAX_FILE_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise InputError(f"${MAX_FILE_BYTES_ENV}: expected a positive number of bytes, got {raw!r}")
    return value


def read_config_text(path: Path) -> str:
    """The file's text: its size checked before reading, its bytes decoded as UTF-8 with a located error.

    OSError (not found, a directory, no permission) is left to the caller, which names the file.
    """
    limit = max_file_bytes()
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise InputRefused(Refusal(_too_big(f"{size} bytes", limit)))
        data = fh.read(limit + 1)  # a pipe or /dev/zero has no size: read one byte past the limit at most
    if len(data) > limit:
        raise InputRefused(Refusal(_too_big(f"more than {limit} bytes", limit)))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line, column = _line_column(data, e.start)
        bad = data[e.start : e.end].hex(" ")
        raise InputRefused(
            Refusal(f"not valid UTF-8: byte(s) {bad}; save the file as UTF-8", line, column)
        ) from e


def _too_big(size: str, limit: int) -> str:
    return f"{size}, the limit is {limit} bytes (${MAX_FILE_BYTES_ENV} raises it)"


def _line_column(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of the byte at ``offset``."""
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def text_position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of the character at ``index`` of ``text``."""
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


@dataclass
class _Collection:
    anchor: str | None
    size: int = 1  # this node and everything below it, aliases expanded


@dataclass
class _Expansion:
    """Counts the nodes a document stands for, aliases expanded, from the parser's events alone."""

    total: int = 0
    open: list[_Collection] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # anchor -> expanded size of its node

    def event(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.AliasEvent):
            size = self._alias_size(event)
            self._count(size, event)
            self._to_parent(size)
        elif isinstance(event, yaml.ScalarEvent):
            self._count(1, event)
            self._to_parent(1)
            if event.anchor:
                self.sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            self._count(1, event)
            if len(self.open) >= MAX_DEPTH:
                raise InputRefused(_at(event, _DEEP))
            self.open.append(_Collection(event.anchor))
        elif isinstance(event, yaml.CollectionEndEvent) and self.open:
            done = self.open.pop()
            if done.anchor:
                self.sizes[done.anchor] = done.size
            self._to_parent(done.size)

    def _alias_size(self, event: yaml.AliasEvent) -> int:
        if any(c.anchor == event.anchor for c in self.open):
            raise InputRefused(
                _at(event, f"alias *{event.anchor} stands for a node that contains it (a cycle)")
            )
        size = self.sizes.get(event.anchor or "", 1)  # an undefined alias: the composer names it
        if self.total + size > MAX_NODES:
            raise InputRefused(_at(event, f"alias *{event.anchor} expands the file past {MAX_NODES} YAML nodes "
                                          "(the limit; an alias bomb?)"))  # fmt: skip
        return size

    def _count(self, size: int, event: yaml.Event) -> None:
        self.total += size
        if self.total > MAX_NODES:
            raise InputRefused(_at(event, f"more than {MAX_NODES} YAML nodes (the limit)"))

    def _to_parent(self, size: int) -> None:
        if self.open:
            self.open[-1].size += size


def _at(event: yaml.Event, message: str) -> Refusal:
    mark = event.start_mark
    return Refusal(message, mark.line + 1, mark.column + 1) if mark else Refusal(message)


def check_expansion(text: str) -> None:
    """Refuse alias bombs, alias cycles and deep nesting before any node is built.

    YAML errors are raised as they are; the fast parser's are re-raised by PyYAML's own parser, whose
    messages (and marks) are the ones ``read_yaml`` reports.
    """
    try:
        _count(text, _FAST_LOADER)
    except yaml.YAMLError as e:
        if (
            isinstance(e, yaml.MarkedYAMLError)
            and "maximum nesting depth" in str(e.problem)
            and e.problem_mark
        ):
            # libyaml stops at 1000 levels (flow collections, before emitting them): ours is lower; the
            # pure-Python parser would take quadratic time to get there.
            where = e.problem_mark
            raise InputRefused(Refusal(_DEEP, where.line + 1, where.column + 1)) from e
        if _FAST_LOADER is yaml.SafeLoader:
            raise
        # Same limits, and the error as the pure-Python parser words and places it (libyaml counts bytes).
        _count(text, yaml.SafeLoader)


def _count(text: str, loader: Callable[[str], yaml.SafeLoader]) -> None:
    expansion = _Expansion()
    for event in yaml.parse(text, Loader=loader):  # type: ignore[arg-type]
        expansion.event(event)


def compose(text: str) -> yaml.Node | None:
    """The document's node graph, within the limits above (libyaml's composer when PyYAML has it).

    Errors are worded by PyYAML's own parser and composer, as they always were (libyaml's leave out the
    anchor's name); only the error path pays for the slower pure-Python run.
    """
    check_expansion(text)
    if _FAST_LOADER is yaml.SafeLoader:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    try:
        return yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        return yaml.compose(text, Loader=yaml.SafeLoader)
