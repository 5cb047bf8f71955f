"""Judge what a step observed against its expectations: exit code, exact, range, regex or a custom check.

One judge for every step (maintenance, drill probes, recovery, upgrades). A result that does not
match is data (``ok=False`` with the reason), never an exception: a broken custom check or a
value of the wrong type explains itself in the reason too, so a check can never crash a run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, assert_never

from opskeeper.config.step import Custom, Exact, ExitCode, Expectation, ParamValue, Range, Regex

CustomCheck = Callable[[Any, Mapping[str, ParamValue]], tuple[bool, str]]
CUSTOM_CHECKS: dict[str, CustomCheck] = {}
EXIT_0 = ExitCode(type="exit_code", codes=[0])


def custom_check(name: str) -> Callable[[CustomCheck], CustomCheck]:
    """Register ``fn(value, args) -> (ok, reason)`` as the custom expectation ``name``."""

    def deco(fn: CustomCheck) -> CustomCheck:
        CUSTOM_CHECKS[name] = fn
        return fn

    return deco


@dataclass(frozen=True)
class Observed:
    """What a step saw: a command's output (``is_output``) and exit code, or an action's value."""

    value: Any
    exit_code: int | None = None
    is_output: bool = False

    @property
    def subject(self) -> str:
        """How a reason names the value: a command's output is too long to quote."""
        return "output" if self.is_output else _short(self.value)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    value: float | None = None  # the number a range judged


def judge(expectations: Sequence[Expectation], seen: Observed) -> Verdict:
    """All expectations must hold (the first that fails is the reason); a command must exit 0 unless an
    ``exit_code`` expectation allows other codes."""
    checks = list(expectations)
    if seen.is_output and not any(isinstance(e, ExitCode) for e in checks):
        checks.insert(0, EXIT_0)
    verdict, value = Verdict(True), None
    for expectation in checks:
        verdict = judge_one(expectation, seen)
        value = verdict.value if verdict.value is not None else value
        if not verdict.ok:
            break
    return Verdict(verdict.ok, verdict.reason, value)


def judge_one(expectation: Expectation, seen: Observed) -> Verdict:
    if isinstance(expectation, ExitCode):
        return _exit_code(expectation, seen)
    if isinstance(expectation, Exact):
        ok = _same(seen.value, expectation.value)
        return Verdict(ok, f"{_short(seen.value)} {'=' if ok else '!='} {expectation.value!r}")
    if isinstance(expectation, Range):
        return _in_range(expectation, seen)
    if isinstance(expectation, Regex):
        return _regex(expectation, seen)
    if isinstance(expectation, Custom):
        return _custom(expectation, seen.value)
    assert_never(expectation)


def _exit_code(expectation: ExitCode, seen: Observed) -> Verdict:
    if seen.exit_code in expectation.codes:
        return Verdict(True, f"exit code {seen.exit_code}")
    allowed = ", ".join(str(c) for c in expectation.codes)
    got = "no exit code" if seen.exit_code is None else f"exit code {seen.exit_code}"
    return Verdict(False, f"{got}, expected {allowed}")


def _same(value: Any, expected: str | int | float | bool) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return value is expected or str(value).lower() == str(expected).lower()
    if isinstance(expected, int | float):
        try:
            return float(value) == float(expected)
        except (TypeError, ValueError):
            return False
    return str(value).strip() == expected


def _number(expectation: Range, seen: Observed) -> float | str:
    """The number to hold to the range, or why there is none."""
    raw: Any = seen.value
    if expectation.pattern is not None:
        m = re.search(expectation.pattern, _text(seen.value), re.MULTILINE)
        if not m:
            return f"no value found by /{expectation.pattern}/"
        raw = m.group(1)
    try:
        return float(raw)
    except (TypeError, ValueError):
        return f"value {raw!r} is not a number" if expectation.pattern else f"{_short(raw)} is not a number"


def _in_range(expectation: Range, seen: Observed) -> Verdict:
    number = _number(expectation, seen)
    if isinstance(number, str):
        return Verdict(False, number)
    low, high = expectation.min, expectation.max
    if low is not None and number < low:
        return Verdict(False, f"value {number:g} below minimum {low:g}", number)
    if high is not None and number > high:
        return Verdict(False, f"value {number:g} above maximum {high:g}", number)
    return Verdict(True, f"value {number:g} within {expectation.describe().removeprefix('in ')}", number)


def _regex(expectation: Regex, seen: Observed) -> Verdict:
    found = re.search(expectation.pattern, _text(seen.value), re.MULTILINE) is not None
    if expectation.absent:
        verb = "matches forbidden" if found else "does not match forbidden"
        return Verdict(not found, f"{seen.subject} {verb} /{expectation.pattern}/")
    return Verdict(found, f"{seen.subject} {'matches' if found else 'does not match'} /{expectation.pattern}/")


def _custom(expectation: Custom, value: Any) -> Verdict:
    fn = CUSTOM_CHECKS.get(expectation.check)
    if fn is None:
        return Verdict(False, f"unknown custom check {expectation.check!r}")
    try:
        ok, reason = fn(value, expectation.args)
    except Exception as e:  # noqa: BLE001 - a broken check is a failed check, not a crashed run
        return Verdict(False, f"custom check {expectation.check!r} raised {e.__class__.__name__}: {e}")
    return Verdict(bool(ok), reason)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


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
