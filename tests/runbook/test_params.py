"""Declared action parameters: every action has a declaration, the shipped runbooks and scenarios match
them, actions see their parameters only through it, and `opskeeper actions` lists them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import Field
from typer.testing import CliRunner

from cli.main import app
from opskeeper.clock import SYSTEM
from opskeeper.config.loader import YamlDoc, load_estate
from opskeeper.config.runbook import load_runbooks
from opskeeper.config.step import Step
from opskeeper.drills import scenarios
from opskeeper.ledger.core import StepStatus
from opskeeper.paths import RUNBOOKS_DIR
from opskeeper.remote.local import LocalExecutor
from opskeeper.runbook import actions, params
from opskeeper.runbook.engine import Gate, HostRun, HostTarget
from opskeeper.runbook.params import ActionParams, BadParams
from opskeeper.validate import check_runbooks

REPO = Path(__file__).resolve().parent.parent.parent
ESTATE = REPO / "tests" / "data" / "bad" / "good.yaml"
BUILTIN_MODULES = ("opskeeper.runbook.", "opskeeper.drills.")


class ProbeParams(ActionParams):
    dataset: str = Field(description="a data set")
    count: int = Field(2, ge=1, description="how many")
    mode: Literal["fast", "slow"] = Field("fast", description="how")
    paths: list[str] = Field(default_factory=list, description="where")


SEEN: list[tuple[dict[str, Any], ActionParams]] = []


@actions.register("test.params", ProbeParams)
def _probe(ctx: actions.ActionContext) -> actions.ActionOutcome:
    SEEN.append((ctx.params, ProbeParams.of(ctx)))
    return actions.ActionOutcome(True, "ran")


def test_every_builtin_action_declares_and_describes_its_parameters() -> None:
    builtin = [s for s in actions.specs() if s.fn.__module__.startswith(BUILTIN_MODULES)]
    assert len(builtin) >= 20
    for spec in builtin:
        assert issubclass(spec.params, ActionParams), spec.name
        assert spec.params.model_config.get("extra") == "forbid", spec.name
        assert spec.summary, f"{spec.name}: no docstring"
        for p in params.describe(spec.params):
            assert p.description, f"{spec.name}.{p.name}: no description"
            assert "typing" not in p.type and "[" not in p.type, f"{spec.name}.{p.name}: type {p.type!r}"


def test_shipped_runbooks_and_scenarios_validate_clean() -> None:
    assert check_runbooks(load_runbooks(RUNBOOKS_DIR)) == []
    assert scenarios.validate_all(known_actions=actions.names()) == []
    result = CliRunner().invoke(app, ["-c", str(REPO / "examples" / "opskeeper.yaml"), "validate"])
    assert result.exit_code == 0, result.stderr


def _check(given: dict[str, Any], templates: bool = True) -> list[str]:
    doc = YamlDoc("f.yaml", {"steps": [{"with": given}]}, {("steps", 0): 3, ("steps", 0, "with"): 4})
    return [str(p) for p in params.check(doc, ("steps", 0), "test.params", ProbeParams, given, templates)]


def test_templates_stand_for_any_type_where_they_are_rendered() -> None:
    given = {"dataset": "{{ ds }}", "count": "{{ n }}", "mode": "{% if x %}fast{% endif %}", "paths": "{{ p }}"}
    assert _check(given) == []
    assert _check({"dataset": "d", "paths": ["/a", "{{ p }}"]}) == []


def test_templates_do_not_hide_unknown_or_missing_parameters() -> None:
    assert _check({"datset": "{{ ds }}"}) == [
        "f.yaml:4: steps[0].with.datset: unknown parameter of test.params; did you mean 'dataset'?",
        "f.yaml:4: steps[0].with.dataset: required parameter of test.params is missing; expected a string: "
        "a data set",
    ]


def test_where_templates_are_not_rendered_they_are_reported() -> None:
    assert _check({"dataset": "d", "paths": ["/a", "{{ p }}"], "count": "{{ n }}"}, templates=False) == [
        "f.yaml:4: steps[0].with.paths[1]: templates are not rendered in this step's 'with:' (only drill "
        "scenarios render them); give the value itself",
        "f.yaml:4: steps[0].with.count: templates are not rendered in this step's 'with:' (only drill "
        "scenarios render them); give the value itself",
    ]


def test_unknown_parameter_without_a_close_name_lists_the_known_ones() -> None:
    assert _check({"dataset": "d", "zzz": 1}) == [
        "f.yaml:4: steps[0].with.zzz: unknown parameter of test.params; expected one of: dataset, count, mode, paths"
    ]


def _ctx(given: dict[str, Any]) -> actions.ActionContext:
    estate = load_estate(ESTATE)
    customer = estate.customers[0]
    system = customer.systems[0]
    return actions.ActionContext(LocalExecutor("acme-app-1"), estate, customer, system, system.hosts[0], given,
                                 timeout=10, sudo=False, now=SYSTEM.now())  # fmt: skip


def test_actions_read_parameters_through_the_declaration() -> None:
    """Rendered values (strings) are coerced to the declared type; the action sees no undeclared key."""
    SEEN.clear()
    state = object()
    outcome = actions.get("test.params")(_ctx({"dataset": "d", "count": "3", "_drill": state}))
    assert outcome.ok
    [(raw, args)] = SEEN
    assert raw == {"_drill": state}  # the engine's internal keys only: parameters come from the declaration
    assert args == ProbeParams(dataset="d", count=3, mode="fast", paths=[])


def test_bad_parameters_at_run_time_stop_the_action_before_it_runs() -> None:
    SEEN.clear()
    with pytest.raises(BadParams, match=r"action test.params: count: Input should be greater than or equal to 1; "
                                        r"got 0; mode: Input should be 'fast' or 'slow'; got 'medium'"):  # fmt: skip
        actions.get("test.params")(_ctx({"dataset": "d", "count": 0, "mode": "medium"}))
    assert SEEN == []


def test_bad_parameters_are_a_recorded_step_error() -> None:
    """What validate would have refused, the engine records as the step's error without running it."""
    SEEN.clear()
    estate = load_estate(ESTATE)
    customer = estate.customers[0]
    system = customer.systems[0]
    target = HostTarget(estate, customer, system, system.hosts[0], LocalExecutor("acme-app-1"), SYSTEM.now())
    step = Step.model_validate({"name": "p", "action": "test.params", "with": {"dataset": "d", "cuont": 3}})
    [rec] = HostRun(target, Gate(window_open=True), lambda r: None).run([("test", step)])
    assert rec.status is StepStatus.ERROR
    assert rec.error == "BadParams: action test.params: cuont: unknown parameter of test.params; did you mean 'count'?"
    assert SEEN == []


def test_builtin_action_coerces_rendered_values(tmp_path: Path) -> None:
    outcome = actions.get("certs.expiry")(_ctx({"paths": [str(tmp_path)], "warn_days": "30"}))
    assert outcome.ok and outcome.output.startswith("0 certificates found, 0 expire within 30 days")


def _actions_cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["actions", *args], env={"COLUMNS": "200"})


def test_actions_command_lists_parameters() -> None:
    result = _actions_cli()
    assert result.exit_code == 0, result.stderr
    for text in ("files.verify", "against", "one of: snapshot, baseline", 'default "snapshot"', "required",
                 "service.check", "(no parameters)"):  # fmt: skip
        assert text in result.stdout
    data = json.loads(_actions_cli("files.corrupt", "--json").stdout)
    assert data == [{
        "action": "files.corrupt",
        "summary": actions.get("files.corrupt").summary,
        "params": [
            {"name": "dataset", "type": "string", "required": True, "default": None,
             "description": "a data set of the system, by name (datasets[].name)"},
            {"name": "count", "type": "integer", "required": False, "default": 2,
             "description": "how many files to corrupt (the first ones in path order)"},
        ],
    }]  # fmt: skip
    unknown = _actions_cli("files.verfy")
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("error: unknown action 'files.verfy'; known: ")
