"""Judge a probe's value against its tolerance: exact, range, regex or a registered custom check.

A value that does not match is data (``ok=False`` with the reason), never an
exception: only a broken custom check or a wrong value type explains itself in
the reason too, so a hypothesis check can never crash a drill.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, assert_never

from opskeeper.config.drills import (
    CustomTolerance,
    ExactTolerance,
    ParamValue,
    RangeTolerance,
    RegexTolerance,
)

Tolerance = ExactTolerance | RangeTolerance | RegexTolerance | CustomTolerance
CustomCheck = Callable[[Any, Mapping[str, ParamValue]], tuple[bool, str]]
CUSTOM_CHECKS: dict[str, CustomCheck] = {}


def custom_check(name: str) -> Callable[[CustomCheck], CustomCheck]:
    """Register ``fn(value, args) -> (ok, reason)`` as the custom tolerance ``name``."""

    def deco(fn: CustomCheck) -> CustomCheck:
        CUSTOM_CHECKS[name] = fn
        return fn

    return deco


@dataclass(frozen=True)
class Judgement:
    ok: bool
    reason: str


def judge(tolerance: Tolerance, value: Any) -> Judgement:
    if isinstance(tolerance, ExactTolerance):
        ok = _same(value, tolerance.value)
        return Judgement(ok, f"{value!r} {'=' if ok else '!='} {tolerance.value!r}")
    if isinstance(tolerance, RangeTolerance):
        return _in_range(tolerance, value)
    if isinstance(tolerance, RegexTolerance):
        ok = re.search(tolerance.pattern, "" if value is None else str(value)) is not None
        return Judgement(ok, f"{_short(value)} {'matches' if ok else 'does not match'} /{tolerance.pattern}/")
    if isinstance(tolerance, CustomTolerance):
        return _custom(tolerance, value)
    assert_never(tolerance)


def _same(value: Any, expected: str | int | float | bool) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return value is expected or str(value).lower() == str(expected).lower()
    if isinstance(expected, int | float):
        try:
            return float(value) == float(expected)
        except (TypeError, ValueError):
            return False
    return str(value).strip() == expected


def _in_range(tolerance: RangeTolerance, value: Any) -> Judgement:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return Judgement(False, f"{_short(value)} is not a number")
    low_ok = tolerance.min is None or number >= tolerance.min
    high_ok = tolerance.max is None or number <= tolerance.max
    ok = low_ok and high_ok
    return Judgement(ok, f"{number:g} {'within' if ok else 'outside'} {tolerance.describe().removeprefix('in ')}")


def _custom(tolerance: CustomTolerance, value: Any) -> Judgement:
    fn = CUSTOM_CHECKS.get(tolerance.check)
    if fn is None:
        return Judgement(False, f"unknown custom check {tolerance.check!r}")
    try:
        ok, reason = fn(value, tolerance.args)
    except Exception as e:  # a broken check is a failed check, not a crashed drill
        return Judgement(False, f"custom check {tolerance.check!r} raised {e.__class__.__name__}: {e}")
    return Judgement(bool(ok), reason)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@custom_check("empty")
def _empty(value: Any, args: Mapping[str, ParamValue]) -> tuple[bool, str]:
    """Passes when the value is an empty list/string/None (e.g. no mismatched files)."""
    if not value:
        return True, "nothing reported"
    shown = ", ".join(map(str, value[:5])) if isinstance(value, list) else _short(value)
    return False, f"reported: {shown}"


@custom_check("at_least")
def _at_least(value: Any, args: Mapping[str, ParamValue]) -> tuple[bool, str]:
    """Passes when a count is at least ``args.count`` (default 1)."""
    want = float(args.get("count", 1) or 1)  # type: ignore[arg-type]
    n = len(value) if isinstance(value, list | tuple | dict) else float(value)
    return n >= want, f"{n:g} (at least {want:g})"
