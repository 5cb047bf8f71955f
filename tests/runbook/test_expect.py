"""The one judge: every expectation kind on command output and on action values (pure, no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from opskeeper.config.step import Expectation
from opskeeper.runbook.expect import Observed, judge

EXPECTATION: TypeAdapter[Expectation] = TypeAdapter(Expectation)


def e(**fields: Any) -> Expectation:
    return EXPECTATION.validate_python(fields)


@pytest.mark.parametrize(
    ("expectation", "value", "ok"),
    [
        (e(type="exact", value=200), 200, True),
        (e(type="exact", value=200), "200", True),
        (e(type="exact", value=200), "unreachable", False),
        (e(type="exact", value=True), True, True),
        (e(type="exact", value="stopped"), "stopped\n", True),
        (e(type="range", min=1), 0, False),
        (e(type="range", min=1, max=5), 3, True),
        (e(type="range", max=5), "x", False),
        (e(type="regex", pattern=r"^ok"), "ok\n", True),
        (e(type="regex", pattern=r"^ok", absent=True), "ok\n", False),
        (e(type="regex", pattern=r"^ok"), None, False),
        (e(type="custom", check="empty"), [], True),
        (e(type="custom", check="empty"), ["/a"], False),
        (e(type="custom", check="nope"), [], False),
        (e(type="custom", check="at_least", args={"count": 2}), ["a", "b"], True),
        (e(type="exit_code", codes=[0]), None, False),  # an action's value has no exit code
    ],
)
def test_action_values(expectation: Expectation, value: object, ok: bool) -> None:
    assert judge([expectation], Observed(value)).ok is ok


def test_values_name_themselves_in_the_reason() -> None:
    assert judge([e(type="exact", value=200)], Observed(404)).reason == "404 != 200"
    assert judge([e(type="range", min=1)], Observed(0)).reason == "value 0 below minimum 1"
    assert judge([e(type="range", min=1, max=5)], Observed(3)).reason == "value 3 within [1, 5]"
    assert judge([e(type="custom", check="at_least")], Observed(None)).reason.startswith(
        "custom check 'at_least' raised TypeError"
    )


def output(stdout: str, exit_code: int = 0) -> Observed:
    return Observed(stdout, exit_code, is_output=True)


def test_a_command_must_exit_0_unless_an_exit_code_expectation_says_otherwise() -> None:
    assert judge([], output("", 3)).reason == "exit code 3, expected 0"
    assert judge([e(type="regex", pattern="x")], output("x", 1)).reason == "exit code 1, expected 0"
    assert judge([e(type="exit_code", codes=[0, 3])], output("", 3)).ok


def test_all_expectations_must_hold_the_first_failing_one_is_the_reason() -> None:
    both = [e(type="range", pattern=r"load ([\d.]+)", max=5), e(type="regex", pattern="FAILED", absent=True)]
    assert judge(both, output("load 2\n")).ok and judge(both, output("load 2\n")).value == 2.0
    verdict = judge(both, output("load 2\ndisk FAILED\n"))
    assert (verdict.ok, verdict.reason, verdict.value) == (False, "output matches forbidden /FAILED/", 2.0)
    assert judge(both, output("load 9")).reason == "value 9 above maximum 5"


def test_a_range_pattern_reads_the_number_from_the_output() -> None:
    found = e(type="range", pattern=r"^(\d+) files removed")  # no bounds: the number must be there
    assert judge([found], output("12 files removed")).value == 12.0
    assert judge([found], output("nothing")).reason == r"no value found by /^(\d+) files removed/"
    assert judge([e(type="range", pattern=r"v=(\S+)", min=0)], output("v=x")).reason == "value 'x' is not a number"
