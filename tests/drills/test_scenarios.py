"""Scenario files: the shipped ones validate; bad ones are reported with file:line: field."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from opskeeper.config.loader import ConfigError
from opskeeper.config.step import OnFailure, Probe, Step
from opskeeper.drills.scenarios import list_names, load_scenario, validate_all
from opskeeper.runbook import actions
from tests.drills.conftest import EXAMPLE, REPO

SHIPPED = ["backup-target-lost", "data-corruption", "database-restore", "primary-host-lost"]


def test_shipped_scenarios_validate_with_known_actions() -> None:
    assert list_names() == SHIPPED
    assert validate_all(known_actions=actions.names()) == []


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


GOOD = """\
name: {name}
title: t
hypothesis:
  - name: up
    action: http.status
    with: {{service: web}}
    expect: {{type: exact, value: 200}}
fault:
  - name: stop
    action: service.stop
    with: {{service: web}}
recovery:
  - name: start
    run: "true"
"""


def test_minimal_scenario_loads(tmp_path: Path) -> None:
    s = load_scenario(_write(tmp_path, "x", GOOD.format(name="x")), actions.names())
    assert s.roles_needing_approval() == ["primary"]
    assert s.detection_probes() == s.hypothesis
    assert [st.on for _, st in s.all_steps()] == ["primary"] * 3  # a scenario's default role


def test_scenario_steps_are_the_one_step_model(tmp_path: Path) -> None:
    text = GOOD.format(name="x").replace("name: start\n", "name: start\n    on: role:standby\n    retries: 2\n"
                                         "    on_failure: rollback\n    rollback: 'false'\n")
    s = load_scenario(_write(tmp_path, "x", text), actions.names())
    (step,) = s.recovery
    assert isinstance(step, Step) and isinstance(s.hypothesis[0], Probe)
    assert (step.role, step.retries, step.on_failure, step.rollback) == ("standby", 2, OnFailure.ROLLBACK, "false")
    assert s.all_roles() == ["primary", "standby"]


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ("type: exact, value: 200", "type: range", ":7: hypothesis[0].expect.range: a range expectation needs"),
        ("type: exact, value: 200", "type: fuzzy", ":7: hypothesis[0].expect: Input tag 'fuzzy'"),
        ("{type: exact, value: 200}", "[{type: exact, value: 200}, {type: range, min: 2, max: 1}]",
         ":7: hypothesis[0].expect[1].range: range expectation: 'max' is below 'min'"),
        ("    expect: {type: exact, value: 200}\n", "", ":4: hypothesis[0].expect: required field is missing"),
        # one set of field names: the scenarios' old ones are refused with the new name
        ("    expect: {type", "    tolerance: {type", ":4: hypothesis[0]: renamed: 'tolerance' is now 'expect: {type: ...}'"),
        ("    run: \"true\"", "    command: \"true\"", ":13: recovery[0]: renamed: 'command' is now 'run: COMMAND'"),
        ("name: stop\n", "name: stop\n    role: standby\n", ":9: fault[0]: renamed: 'role' is now 'on: role:NAME"),
        # the same template check as a runbook's steps
        ("    run: \"true\"", "    run: \"echo {{ oops }\"", ":14: recovery[0].run: template error: unexpected '}'"),
        ("name: start\n", "name: start\n    when: \"a ==\"\n", ":14: recovery[0].when: template error"),
        # a scenario names roles, never hosts
        ("name: stop\n", "name: stop\n    on: host:web-1\n", ":9: fault[0]: a scenario names roles, never hosts"),
        ("name: up\n", "name: up\n    on: all\n", ":4: hypothesis[0]: a scenario names roles, never hosts"),
        ("action: service.stop", "action: service.explode", ":10: fault[0].action: unknown action 'service.explode'"),
        ("    run: \"true\"", "    run: \"true\"\n    action: http.status", "give exactly one of"),
        ("title: t\n", "", "title: required field is missing"),
        ("name: start", "name: start\n    marks: finished", ":14: recovery[0].marks"),
        ("type: exact, value: 200", "type: regex, pattern: '('", "invalid regular expression"),
        ("title: t\n", "title: t\ntitle_i18n:\n  ru: т\n  de: t\n",
         ":5: title_i18n.de: unknown language 'de'; supported: zh-CN, ru"),
        ("title: t\n", "title: t\ntitle_i18n:\n  zh-cn: t\n",
         ":4: title_i18n.zh-cn: unknown language 'zh-cn' (did you mean 'zh-CN'?)"),
        ("title: t\n", "title: t\ntitle_i18n: {en: t}\n", ":3: title_i18n.en: 'en' is the English text in the field"),
        ("title: t\n", "title: t\ntitle_i18n: {ru: ''}\n", ":3: title_i18n.ru: empty translation"),
    ],
)
def test_bad_scenarios_name_file_line_and_field(tmp_path: Path, replace: str, by: str, expected: str) -> None:
    text = GOOD.format(name="bad").replace(replace, by)
    path = _write(tmp_path, "bad", text)
    with pytest.raises(ConfigError) as e:
        load_scenario(path, actions.names())
    assert str(path) in str(e.value)
    assert expected in str(e.value)


def test_translated_title_is_picked_by_language(tmp_path: Path) -> None:
    text = GOOD.format(name="x").replace("title: t\n", "title: Lost\ntitle_i18n: {zh-CN: 丢失, ru: Потеря}\n")
    s = load_scenario(_write(tmp_path, "x", text), actions.names())
    assert (s.title_in("zh-CN"), s.title_in("ru"), s.title_in("en")) == ("丢失", "Потеря", "Lost")


def test_validate_command_rejects_an_unknown_language_with_file_and_line(tmp_path: Path) -> None:
    runbooks = tmp_path / "runbooks"
    shutil.copytree(REPO / "runbooks", runbooks)
    scenario = runbooks / "drills" / "data-corruption.yaml"
    text = scenario.read_text().replace("  ru: Повреждение", "  fr: Corruption des données\n  ru: Повреждение")
    scenario.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("  fr:"))
    estate = tmp_path / "estate.yaml"
    estate.write_text(EXAMPLE.read_text().replace("runbooks_dir: ../runbooks", f"runbooks_dir: {runbooks}"))
    res = subprocess.run([sys.executable, "-m", "cli", "validate", "-c", str(estate)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{scenario}:{line}: title_i18n.fr: unknown language 'fr'; supported: zh-CN, ru" in res.stderr


def test_name_must_match_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "other", GOOD.format(name="x"))
    with pytest.raises(ConfigError, match=r"other.yaml:1: name: name 'x' must match the file name 'other'"):
        load_scenario(path)


def test_validate_hook_checks_the_systems_drill_lists(example_estate: object) -> None:
    from opskeeper.drills.validate import validate

    assert validate(example_estate) == []  # type: ignore[arg-type]
    system = example_estate.customer("volga").systems[0]  # type: ignore[attr-defined]
    system.drills += ["primary-host-lost", "no-such-drill"]
    problems = {p.field: p.message for p in validate(example_estate)}  # type: ignore[arg-type]
    assert "needs hosts of role(s) standby" in problems["customers[1].systems[0].drills[1]"]
    assert "no drill scenario 'no-such-drill'" in problems["customers[1].systems[0].drills[2]"]
