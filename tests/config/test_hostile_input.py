"""Hostile and malformed input: refused before anything is built or run, as `file:line[:column]: ...`, exit 2.

Each case is the base estate of tests/data/bad (good.yaml) with one defect, checked through
`opskeeper -c FILE validate`. How fast the alias bomb and the oversized file are refused is measured by
tests/config/measure_refusal.py, not asserted here (tests never assert wall time).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from opskeeper.config.loader import ConfigError, read_yaml
from opskeeper.config.yaml_input import MAX_DEPTH, MAX_FILE_BYTES, MAX_FILE_BYTES_ENV, MAX_NODES
from opskeeper.drills.scenarios import load_scenario

GOOD = Path(__file__).resolve().parent.parent / "data" / "bad" / "good.yaml"
OK_RUNBOOKS = GOOD.parent / "runbooks" / "ok"

# Nine lines of nine aliases each: 9^9 (387 million) strings from a 500-byte file.
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9 if prev else ['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def _validate(path: Path, *extra: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["-c", str(path), "validate", *extra])
    return result.exit_code, result.stderr.strip().removeprefix("error: ").splitlines()


def _estate(tmp_path: Path, old: str = "", new: str = "", runbooks: Path = OK_RUNBOOKS) -> Path:
    text = GOOD.read_text().replace("runbooks_dir: runbooks/ok", f"runbooks_dir: {runbooks}")
    if old:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "estate.yaml"
    path.write_text(text)
    return path


def _line(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


# -- limits: refused before the YAML is built ---------------------------------------------------------------


def test_an_alias_bomb_is_refused_at_the_alias_that_expands_too_far(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    assert len(BOMB) < 1024
    # a: 10 nodes, b: 91, c: 820, d: 7381, e: 66430; with them the first *e of line f goes past 100,000.
    assert _validate(path) == (2, [f"{path}:6:8: alias *e expands the file past {MAX_NODES} YAML nodes "
                                   "(the limit; an alias bomb?)"])  # fmt: skip


def test_an_alias_bomb_in_a_runbook_or_a_scenario_is_refused_the_same_way(tmp_path: Path) -> None:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "monthly.yaml").write_text("name: monthly\nsteps: []\n" + BOMB.replace("a: &a", "x: &a"))
    code, lines = _validate(_estate(tmp_path, runbooks=runbooks))
    assert (code, lines) == (2, [f"{runbooks / 'monthly.yaml'}:8:8: alias *e expands the file past "
                                 f"{MAX_NODES} YAML nodes (the limit; an alias bomb?)"])  # fmt: skip
    scenario = tmp_path / "bomb.yaml"
    scenario.write_text(BOMB)
    with pytest.raises(ConfigError, match=r"bomb.yaml:6:8: alias \*e expands the file past"):
        load_scenario(scenario)


def test_a_bomb_stops_a_maintenance_run_before_anything_runs(tmp_path: Path, opskeeper_home: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    result = CliRunner().invoke(app, ["-c", str(path), "maintenance", "run", "monthly", "--force-window"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}:6:8: alias *e expands")
    assert list(opskeeper_home.iterdir()) == []


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cycle.yaml"
    path.write_text("version: 1\nloop: &a [1, *a]\n")
    assert _validate(path) == (2, [f"{path}:2:14: alias *a stands for a node that contains it (a cycle)"])


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as fh:  # sparse: 5 MB long, nothing written
        fh.truncate(5 * 1024 * 1024)
    assert _validate(path) == (2, [f"{path}: 5242880 bytes, the limit is {MAX_FILE_BYTES} bytes "
                                   f"(${MAX_FILE_BYTES_ENV} raises it)"])  # fmt: skip


def test_the_size_limit_can_be_changed_and_must_be_a_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _estate(tmp_path)
    size = path.stat().st_size
    monkeypatch.setenv(MAX_FILE_BYTES_ENV, str(size - 1))
    assert _validate(path) == (2, [f"{path}: {size} bytes, the limit is {size - 1} bytes "
                                   f"(${MAX_FILE_BYTES_ENV} raises it)"])  # fmt: skip
    monkeypatch.setenv(MAX_FILE_BYTES_ENV, str(size))
    assert _validate(path)[0] == 0
    monkeypatch.setenv(MAX_FILE_BYTES_ENV, "4MB")
    assert _validate(path) == (2, [f"${MAX_FILE_BYTES_ENV}: expected a positive number of bytes, got '4MB'"])


def test_deep_nesting_is_refused_without_exhausting_the_stack(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("x: " + "[" * 10_000 + "]" * 10_000 + "\n")
    # libyaml gives up on its 1000th level (column 3 + 1000), before it hands over any of them
    assert _validate(path) == (2, [f"{path}:1:1003: nested deeper than {MAX_DEPTH} levels (the limit)"])
    block = tmp_path / "block.yaml"
    block.write_text("".join(f"{' ' * i}k{i}:\n" for i in range(150)))
    assert _validate(block) == (2, [f"{block}:{MAX_DEPTH + 1}:{MAX_DEPTH + 1}: nested deeper than {MAX_DEPTH} "
                                    "levels (the limit)"])  # fmt: skip


# -- encoding and characters ----------------------------------------------------------------------------------


def test_non_utf8_input_is_located_by_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 1\nprovider:\n  name: Ops München\n".encode("latin-1"))
    assert _validate(path) == (2, [f"{path}:3:14: not valid UTF-8: byte(s) fc; save the file as UTF-8"])


def test_a_control_character_is_located_by_line_and_column(tmp_path: Path) -> None:
    path = _estate(tmp_path, "name: Test Ops", "name: Tést\x07Ops")
    assert _validate(path) == (2, [f"{path}:5:13: character U+0007 is not allowed in YAML (special characters "
                                   "are not allowed)"])  # fmt: skip


# -- scalars the YAML constructors cannot or must not build --------------------------------------------------


def test_an_impossible_unquoted_date_reads_like_the_quoted_one(tmp_path: Path) -> None:
    unquoted = _estate(tmp_path, "start: 2026-12-28", "start: 2027-02-30")
    code, lines = _validate(unquoted)
    line = _line(unquoted, "2027-02-30")
    assert (code, lines) == (2, [f"{unquoted}:{line}: customers[0].blackouts[0].start: Input should be a valid "
                                 "date or datetime, day value is outside expected range; got '2027-02-30'"])  # fmt: skip
    quoted = _estate(tmp_path, "start: 2026-12-28", 'start: "2027-02-30"')
    assert _validate(quoted) == (code, lines)


def test_tags_that_build_objects_are_refused(tmp_path: Path) -> None:
    path = _estate(tmp_path, "name: Test Ops", "name: !!python/object/apply:os.system [echo owned]")
    assert _validate(path) == (2, [f"{path}:5: provider.name: tag '!!python/object/apply:os.system' is not "
                                   "allowed: the configuration is plain YAML (no tags that build objects)"])  # fmt: skip
    path = _estate(tmp_path, "name: Test Ops", "name: !!python/name:os.system")
    assert _validate(path)[1] == [f"{path}:5: provider.name: tag '!!python/name:os.system' is not allowed: the "
                                  "configuration is plain YAML (no tags that build objects)"]  # fmt: skip


def test_an_integer_too_long_to_read_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    path = _estate(tmp_path, "address: localhost, local: true", "address: localhost, local: true, port: " + "9" * 5000)
    assert _validate(path) == (2, [f"{path}:29: customers[0].systems[0].hosts[0].port: cannot read "
                                   "'99999999999999999999...' (5000 characters): Exceeds the limit (4300 digits) "
                                   "for integer string conversion: value has 5000 digits"])  # fmt: skip


def test_a_key_that_is_not_a_plain_value_is_refused(tmp_path: Path) -> None:
    path = _estate(tmp_path, "provider:\n", "? [a, b]\n: c\nprovider:\n")
    assert _validate(path) == (2, [f"{path}:4: a key must be a plain value (a name or a number), not a list"])


def test_merge_keys_are_read_and_lines_still_point_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n")
    doc = read_yaml(path)
    assert doc.data["m"] == {"x": 1, "y": 3}
    assert (doc.line_of(("m", "x")), doc.line_of(("m", "y"))) == (1, 4)


# -- references a run would only discover halfway ------------------------------------------------------------


def _runbook(tmp_path: Path, on: str) -> Path:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "monthly.yaml").write_text(f"name: monthly\nsteps:\n  - name: vacuum\n    on: {on}\n    run: 'true'\n")
    return runbooks


def test_a_step_selector_that_matches_no_host_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    runbooks = _runbook(tmp_path, "role:dbserverr")
    path = _estate(tmp_path, "local: true}", "local: true, role: dbserver}", runbooks=runbooks)
    assert _validate(path) == (2, [f"{runbooks / 'monthly.yaml'}:4: steps[0].on: 'role:dbserverr' matches no "
                                   "host of the estate; roles: dbserver (did you mean role:dbserver?)"])  # fmt: skip
    runbooks.joinpath("monthly.yaml").write_text(runbooks.joinpath("monthly.yaml").read_text()
                                                 .replace("role:dbserverr", "host:acme-app-2"))  # fmt: skip
    assert _validate(path)[1] == [f"{runbooks / 'monthly.yaml'}:4: steps[0].on: 'host:acme-app-2' matches no "
                                  "host of the estate; hosts: acme-app-1 (did you mean host:acme-app-1?)"]  # fmt: skip


def test_the_primary_selector_needs_a_primary_host(tmp_path: Path) -> None:
    runbooks = _runbook(tmp_path, "primary")
    path = _estate(tmp_path, "local: true}", "local: true, role: db}", runbooks=runbooks)
    assert _validate(path)[1] == [f"{runbooks / 'monthly.yaml'}:4: steps[0].on: 'primary' matches no host of "
                                  "the estate; roles: db"]  # fmt: skip


SYSTEM_END = "          passphrase: env:ACME_PASSPHRASE\n"

# (name, text added after the system's backup section, the field, the exact message)
REFERENCES = [
    ("service_host", "        services:\n          - {name: web, port: 80, hosts: [acme-ap-1]}\n",
     "customers[0].systems[0].services[0].hosts[0]",
     "host 'acme-ap-1' is not a host of system app (hosts: acme-app-1) (did you mean acme-app-1?)"),
    ("dataset_host", "        datasets:\n          - {kind: dir, name: files, paths: [/srv/files], host: app1}\n",
     "customers[0].systems[0].datasets[0].host",
     "data set host 'app1' is not a host of system app (hosts: acme-app-1)"),
    ("dataset_duplicate", "        datasets:\n          - {kind: dir, name: files, paths: [/srv/a]}\n"
                          "          - {kind: dir, name: files, paths: [/srv/b]}\n",
     "customers[0].systems[0].datasets[1].name", "duplicate data set name 'files'"),
    ("dataset_dotdot", "        datasets:\n          - {kind: dir, name: files, paths: [/srv/app/../../etc]}\n",
     "customers[0].systems[0].datasets[0].paths[0]",
     "data set path '/srv/app/../../etc' climbs out of itself with '..'; write the directory it means ('/etc')"),
    ("dataset_relative", "        datasets:\n          - {kind: dir, name: files, paths: [srv/app]}\n",
     "customers[0].systems[0].datasets[0].paths[0]",
     "data set path 'srv/app' must be absolute (it is read on the host, not here)"),
    ("dataset_name", "        datasets:\n          - {kind: dir, name: ../files, paths: [/srv/app]}\n",
     "customers[0].systems[0].datasets[0].name",
     "String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'"),
    ("dbname", "        datasets:\n          - {kind: postgres, name: erp, dbname: ../../etc/cron.d/x}\n",
     "customers[0].systems[0].datasets[0].dbname",
     "database name '../../etc/cron.d/x' must be a plain name (no '/', '\\' or NUL; not '.' or '..'): its dump "
     "is restored as '<dbname>.pgdump'"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "added", "field", "message"), REFERENCES, ids=[c[0] for c in REFERENCES])
def test_references_inside_a_system(tmp_path: Path, name: str, added: str, field: str, message: str) -> None:
    path = _estate(tmp_path, SYSTEM_END, SYSTEM_END + added)
    line = _line(path, added.strip().splitlines()[-1].strip())  # each defect is on the last line added
    assert _validate(path) == (2, [f"{path}:{line}: {field}: {message}"])


def _with_scenario(tmp_path: Path, name: str, phases: str) -> Path:
    """A runbooks directory: the base monthly runbook and one drill scenario ``name`` with these phases."""
    runbooks = tmp_path / "runbooks"
    (runbooks / "drills").mkdir(parents=True)
    (runbooks / "monthly.yaml").write_text(OK_RUNBOOKS.joinpath("monthly.yaml").read_text())
    (runbooks / "drills" / f"{name}.yaml").write_text(f"name: {name}\ntitle: {name}\n{phases}")
    return runbooks


def test_a_drill_scenario_step_naming_nothing_of_the_system(tmp_path: Path) -> None:
    runbooks = _with_scenario(tmp_path, "web-down", (
        "hypothesis:\n  - {name: up, action: http.status, with: {service: web}, expect: {type: exact, value: 200}}\n"
        "fault:\n  - {name: stop, action: service.stop, with: {service: wbe}}\n"
        "recovery:\n  - {name: start, run: 'true'}\n"
    ))  # fmt: skip
    path = _estate(tmp_path, SYSTEM_END, SYSTEM_END + "        services: [{name: web, port: 80}]\n"
                   "        drills: [web-down]\n", runbooks=runbooks)  # fmt: skip
    assert _validate(path) == (2, [f"{path}:{_line(path, 'drills: [web-down]')}: customers[0].systems[0].drills[0]: "
                                   "scenario 'web-down', fault[0] (step 'stop'): no service 'wbe' for system app; "
                                   "known: web (did you mean web?)"])  # fmt: skip


def test_a_plan_role_no_contact_has(tmp_path: Path) -> None:
    path = _estate(tmp_path, "customers:\n", "emergency_plan:\n  severities:\n    routine: {roles: [it-manger]}\n"
                   "customers:\n")  # fmt: skip
    assert _validate(path) == (2, [f"{path}:{_line(path, 'roles: [it-manger]')}: "
                                   "emergency_plan.severities.routine.roles[0]: no contact has the role 'it-manger'; "
                                   "roles: cto, it-manager (did you mean it-manager?)"])  # fmt: skip


def test_an_smtp_endpoint_without_smtp_settings(tmp_path: Path) -> None:
    bo = "{name: Bo, role: cto, escalation_level: 2, email: bo@acme.example}"
    path = _estate(tmp_path, bo, "{name: Bo, role: cto, escalation_level: 2, endpoints: [{kind: email, "
                   "address: bo@acme.example, via: smtp}]}")  # fmt: skip
    assert _validate(path) == (2, [f"{path}:22: customers[0].contacts[1]: contact 'Bo': an e-mail endpoint goes "
                                   "via smtp, but emergency_plan has no 'smtp' section (host, sender, ...)"])  # fmt: skip


# -- the machine's side: secrets and files the estate names (the validate command only) ---------------------


def test_an_unset_environment_secret_is_refused_online_and_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opskeeper_home: Path
) -> None:
    monkeypatch.delenv("ACME_PASSPHRASE")
    path = _estate(tmp_path)
    expected = [f"{path}:32: customers[0].systems[0].backup.passphrase: secret env:ACME_PASSPHRASE: environment "
                "variable ACME_PASSPHRASE is not set"]  # fmt: skip
    assert _validate(path) == (2, expected)
    assert _validate(path, "--offline") == (2, expected)


def test_a_file_secret_must_be_readable_and_its_value_is_never_shown(tmp_path: Path) -> None:
    key = tmp_path / "passphrase"
    path = _estate(tmp_path, "env:ACME_PASSPHRASE", f"file:{key}")
    assert _validate(path) == (2, [f"{path}:32: customers[0].systems[0].backup.passphrase: secret file:{key}: "
                                   f"cannot read {key}: No such file or directory"])  # fmt: skip
    key.write_text("canary-passphrase-value-0451\n")
    result = CliRunner().invoke(app, ["-c", str(path), "validate"])
    assert result.exit_code == 0, result.stderr
    assert "canary-passphrase-value-0451" not in result.stdout + result.stderr


def test_an_unreadable_known_hosts_file(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    host = ("{name: acme-app-1, address: 10.0.0.1, user: ops, key: env:ACME_PASSPHRASE, "
            f"known_hosts: {known}}}")  # fmt: skip
    path = _estate(tmp_path, "{name: acme-app-1, address: localhost, local: true}", host)
    assert _validate(path) == (2, [f"{path}:29: customers[0].systems[0].hosts[0].known_hosts: cannot read "
                                   f"{known}: No such file or directory"])  # fmt: skip


@pytest.mark.flow
def test_a_prefect_secret_block_is_checked_online_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL

    import tasks  # noqa: F401  (installs the Prefect Secret block resolver, as the opskeeper command does)

    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))  # the harness's server, "configured"
    path = _estate(tmp_path, "env:ACME_PASSPHRASE", "prefect:opskeeper-validate-test")
    assert _validate(path, "--offline") == (0, [])
    code, lines = _validate(path)
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"{path}:32: customers[0].systems[0].backup.passphrase: secret "
                               "prefect:opskeeper-validate-test: cannot load Prefect Secret block")  # fmt: skip
    Secret(value="block-canary-0452").save("opskeeper-validate-test", overwrite=True, _sync=True)  # type: ignore[call-arg]
    result = CliRunner().invoke(app, ["-c", str(path), "validate"])
    assert result.exit_code == 0, result.stderr
    assert "block-canary-0452" not in result.stdout + result.stderr


def test_a_run_checks_the_files_not_the_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A maintenance run resolves its secrets when it needs them: an unset backup passphrase does not stop it."""
    from opskeeper.validate import validate_all

    monkeypatch.delenv("ACME_PASSPHRASE")
    estate, _, problems = validate_all(_estate(tmp_path))
    assert problems == [] and estate.customers[0].id == "acme"


def test_an_unquoted_time_of_day_is_not_read_as_a_base_60_number(tmp_path: Path) -> None:
    """YAML 1.1 reads 22:00 as 1320; the window's own check must see what was written."""
    assert _validate(_estate(tmp_path, 'start: "22:00"', "start: 22:00"))[0] == 0
    path = _estate(tmp_path, 'start: "22:00"', "start: 25:00")
    assert _validate(path) == (2, [f"{path}:23: customers[0].maintenance_window.start: expected a time of day "
                                   "'HH:MM' (24-hour), got '25:00'"])  # fmt: skip


def test_a_cadence_a_tier_lists_needs_its_runbook(tmp_path: Path) -> None:
    path = _estate(tmp_path, "    rpo: 24h\n", "    rpo: 24h\n    cadences: [monthly, quarterly]\n")
    assert _validate(path) == (2, [f"{path}:13: tiers.basic.cadences[1]: no runbook named 'quarterly' in "
                                   f"{OK_RUNBOOKS} (runbooks: monthly)"])  # fmt: skip


def test_an_unreadable_smtp_ca_file(tmp_path: Path) -> None:
    ca = tmp_path / "relay-ca.pem"
    smtp = ("emergency_plan:\n  channel: smtp\n  smtp: {host: relay.test.example, sender: ops@test.example, "
            f"ca_file: {ca}}}\ncustomers:\n")  # fmt: skip
    path = _estate(tmp_path, "customers:\n", smtp)
    assert _validate(path) == (2, [f"{path}:{_line(path, 'ca_file')}: emergency_plan.smtp.ca_file: cannot read {ca}: No such file or "
                                   "directory"])  # fmt: skip
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert _validate(path) == (0, [])


def test_a_scenario_role_the_system_lacks_comes_with_a_suggestion(tmp_path: Path) -> None:
    runbooks = _with_scenario(tmp_path, "db-down", (
        "hypothesis:\n  - {name: up, on: role:dbserverr, run: 'true', expect: {type: exit_code, codes: [0]}}\n"
        "fault:\n  - {name: stop, on: role:dbserverr, run: 'true'}\n"
        "recovery:\n  - {name: start, on: role:dbserverr, run: 'true'}\n"
    ))  # fmt: skip
    path = _estate(tmp_path, "local: true}", "local: true, role: dbserver}", runbooks=runbooks)
    path.write_text(path.read_text().replace(SYSTEM_END, SYSTEM_END + "        drills: [db-down]\n"))
    assert _validate(path) == (2, [f"{path}:{_line(path, 'drills: [db-down]')}: customers[0].systems[0].drills[0]: "
                                   "scenario 'db-down' needs hosts of role(s) dbserverr; system app has dbserver "
                                   "(did you mean dbserver?)"])  # fmt: skip


def test_an_undefined_alias_is_named(tmp_path: Path) -> None:
    path = _estate(tmp_path, "    rpo: 24h\n", "    rpo: *day\n")
    assert _validate(path) == (2, [f"{path}:12: YAML syntax error: found undefined alias 'day'"])
