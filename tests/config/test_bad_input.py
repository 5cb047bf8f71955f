"""Bad input: `opskeeper validate -c FILE` exits 2 and names the file, the line, the field and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

BAD = Path(__file__).resolve().parent.parent / "data" / "bad"
RUNBOOKS = BAD / "runbooks"

# (estate file, the exact error lines after "error: "); {f} is the estate file, {r} the runbooks directory.
CASES = [
    ("syntax", ["{f}:24: YAML syntax error: expected ',' or '}}', but got ':' (while parsing a flow mapping "
                "started on line 23)"]),
    ("duplicate_key", ["{f}:13: tiers.basic.rto: duplicate key"]),
    ("unknown_field", ["{f}:24: customers[0].blackout: unknown field (not part of the schema; check the spelling)"]),
    ("missing_required", ["{f}:16: customers[0].name: required field is missing"]),
    ("wrong_type", ["{f}:29: customers[0].systems[0].hosts[0].port: Input should be a valid integer, "
                    "unable to parse string as an integer; got 'many'"]),
    ("unknown_zone", ["{f}:18: customers[0].timezone: unknown time zone 'Moscow'; expected an IANA name like "
                      "'Asia/Shanghai' (did you mean Europe/Moscow?)"]),
    ("bad_duration", ["{f}:11: tiers.basic.rto: expected a duration like '30m', '2h', '1d12h' or '3w', "
                      "got '8 hours'"]),
    ("bad_time", ["{f}:23: customers[0].maintenance_window.start: expected a time of day 'HH:MM' (24-hour), "
                  "got '25:00'"]),
    ("undefined_tier", ["{f}:19: customers[0].tier: tier 'gold' is not defined; known: basic"]),
    ("undefined_target", ["{f}:31: customers[0].systems[0].backup.targets[1]: backup target 'offsite' is not "
                          "defined; known: local"]),
    ("duplicate_host", ["{f}:30: customers[0].systems[0].hosts[1].name: duplicate host name 'acme-app-1'"]),
    ("ssh_no_host_key", ["{f}:29: customers[0].systems[0].hosts[0]: host 'acme-app-1': pin its SSH host key "
                         "with 'host_key' or 'known_hosts' (unknown keys are refused)"]),
    ("bad_secret", ["{f}:32: customers[0].systems[0].backup.passphrase: secret reference 'vault:acme' must be "
                    "'env:NAME', 'file:PATH' or 'prefect:BLOCK'"]),
    ("rrule_no_duration", ["{f}:26: customers[0].blackouts[1]: a blackout with 'rrule' needs a 'duration' "
                           "(e.g. '3d')"]),
    ("bad_ident", ["{f}:16: customers[0].id: String should match pattern '^[a-z0-9][a-z0-9_.-]{{0,63}}$'"]),
    ("ssh_keepalive", ["{f}:5: ssh.keepalive: must be more than 0s and at most 1h, got 0s"]),
    ("unknown_severity", ["{f}:10: tiers.basic.response.emergncy: Input should be 'emergency', 'high' or 'routine'"]),
    # Contacts: an endpoint kind no channel has, nobody to reach, the short form's webhook format.
    ("contact_endpoint_kind", ["{f}:27: customers[0].contacts[1].endpoints[1]: Input tag 'pager' found using "
                               "'kind' does not match any of the expected tags: 'email', 'webhook'"]),
    ("contact_unreachable", ["{f}:22: customers[0].contacts[1]: contact 'Bo' needs an 'email', a 'webhook' or "
                             "'endpoints'"]),
    ("contact_webhook_kind", ["{f}:22: customers[0].contacts[1].webhook_kind: Input should be 'json', 'slack' or "
                              "'teams'; got 'discord'"]),
    ("unknown_target_kind", ["{f}:14: backup_targets.local: Input tag 's4' found using 'kind' does not match any "
                             "of the expected tags: 'dir', 's3'"]),
    # Area validators (here: notify's escalation check) see only the Estate; validate puts them back in the file.
    ("escalation_level", ["{f}:18: emergency_plan.severities.emergency.escalation[1].level: customer 'acme' has "
                          "no contact with escalation_level 3"]),
    ("no_oncall", ["{f}: emergency_plan.severities.emergency.escalation[1].level: level 9 is the provider's "
                   "on-call, but provider.oncall_email / oncall_webhook are not set"]),  # a default: no line
    ("runbook_selector", ["{r}/selector/monthly.yaml:4: steps[0].on: expected 'all', 'primary', 'role:NAME', "
                          "'host:NAME' or 'label:NAME', got 'hosts:acme-app-1'"]),
    ("runbook_run_and_action", ["{r}/run_and_action/monthly.yaml:5: steps[1]: step 'health': give exactly one "
                                "of 'run' (a command) or 'action'"]),
    # One expectation union for runbooks and scenarios: a bad member, an unknown kind, a key renamed.
    ("runbook_expect", ["{r}/expect/monthly.yaml:7: steps[0].expect[1].range: range expectation: 'max' is below "
                        "'min'",
                        "{r}/expect/monthly.yaml:10: steps[1].expect: Input tag 'fuzzy' found using 'type' does not "
                        "match any of the expected tags: 'exit_code', 'exact', 'range', 'regex', 'custom'"]),
    ("runbook_old_expect", ["{r}/old_expect/monthly.yaml:5: steps[0].expect: renamed: 'stdout_not' is now "
                            "'{{type: regex, pattern: ..., absent: true}}'"]),
    ("runbook_jinja", ["{r}/jinja/monthly.yaml:9: steps[1].run: template error: unexpected '}}'"]),
    ("runbook_include_cycle", [
        "{r}/include_cycle/monthly.yaml:2: include: include cycle: monthly -> quarterly -> monthly",
        "{r}/include_cycle/quarterly.yaml:2: include: include cycle: quarterly -> monthly -> quarterly",
    ]),
]  # fmt: skip


def _validate(path: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["-c", str(path), "validate"])
    return result.exit_code, result.stderr.strip().removeprefix("error: ").splitlines()


@pytest.mark.parametrize(("name", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_names_file_line_and_field(name: str, expected: list[str]) -> None:
    path = BAD / f"{name}.yaml"
    code, lines = _validate(path)
    assert code == 2
    assert lines == [e.format(f=path, r=RUNBOOKS) for e in expected]


def test_unknown_action_lists_the_known_ones() -> None:
    code, lines = _validate(BAD / "runbook_unknown_action.yaml")
    assert code == 2 and len(lines) == 1
    prefix = (
        f"{RUNBOOKS}/unknown_action/monthly.yaml:4: steps[0].action: unknown action 'health.colect'; known: "
    )
    assert lines[0].startswith(prefix)
    known = lines[0].removeprefix(prefix).split(", ")
    assert "health.collect" in known and known == sorted(known)


def test_the_base_file_is_valid() -> None:
    """Every bad file is this one with one defect: it must itself pass."""
    result = CliRunner().invoke(app, ["-c", str(BAD / "good.yaml"), "validate", "--json"])
    assert result.exit_code == 0, result.stderr
    assert '"ok": true' in result.stdout


def test_missing_file() -> None:
    code, lines = _validate(BAD / "nosuch.yaml")
    assert (code, lines) == (2, [f"{BAD / 'nosuch.yaml'}: file not found"])


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    text = (BAD / "good.yaml").read_text()
    broken = text.replace("    rto: 8h\n", "    rto: soon\n").replace('start: "22:00"', 'start: "7pm"')
    path = tmp_path / "two.yaml"
    path.write_text(broken)
    code, lines = _validate(path)
    assert code == 2
    assert [line.split(": ")[0:2] for line in lines] == [
        [f"{path}:11", "tiers.basic.rto"],
        [f"{path}:23", "customers[0].maintenance_window.start"],
    ]


@pytest.mark.parametrize("name", ["syntax", "undefined_tier", "runbook_unknown_action"])
def test_nothing_runs_on_bad_input(name: str, opskeeper_home: Path) -> None:
    result = CliRunner().invoke(app, ["-c", str(BAD / f"{name}.yaml"), "maintenance", "run", "monthly",
                                      "--force-window"])  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert not (opskeeper_home / "ledger.sqlite").exists()
    assert list(opskeeper_home.iterdir()) == []


def test_unknown_drill_scenario_is_located_in_the_estate() -> None:
    """The drills area's check reaches validate without a line; validate puts it on the system's line."""
    path = BAD / "unknown_drill.yaml"
    code, lines = _validate(path)
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"{path}:30: customers[0].systems[0].drills[1]: drill scenario 'fire-drill': "
                               "no drill scenario 'fire-drill'; available: ")  # fmt: skip
