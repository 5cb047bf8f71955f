"""Judge a command result against a step's expectation. A non-zero exit code is data, not an error."""

from __future__ import annotations

import re
from dataclasses import dataclass

from opskeeper.config.runbook import Expectation
from opskeeper.remote.interface import CommandResult


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    value: float | None = None


def judge(result: CommandResult, expect: Expectation) -> Verdict:
    if result.exit_code not in expect.exit_codes:
        allowed = ", ".join(str(c) for c in expect.exit_codes)
        return Verdict(False, f"exit code {result.exit_code}, expected {allowed}")
    if expect.stdout and not re.search(expect.stdout, result.stdout, re.MULTILINE):
        return Verdict(False, f"output does not match /{expect.stdout}/")
    if expect.stdout_not and re.search(expect.stdout_not, result.stdout, re.MULTILINE):
        return Verdict(False, f"output matches forbidden /{expect.stdout_not}/")
    if expect.value:
        m = re.search(expect.value.pattern, result.stdout, re.MULTILINE)
        if not m:
            return Verdict(False, f"no value found by /{expect.value.pattern}/")
        try:
            value = float(m.group(1))
        except ValueError:
            return Verdict(False, f"value {m.group(1)!r} is not a number")
        low, high = expect.value.min, expect.value.max
        if low is not None and value < low:
            return Verdict(False, f"value {value:g} below minimum {low:g}", value)
        if high is not None and value > high:
            return Verdict(False, f"value {value:g} above maximum {high:g}", value)
        return Verdict(True, "", value)
    return Verdict(True)
