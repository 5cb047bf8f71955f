"""The runbook engine on this machine (LocalExecutor): expectations, retries, timeouts, failure policies,
gates, dry runs, conditions and quoting."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from opskeeper.clock import SYSTEM
from opskeeper.config.estate import Estate, Host
from opskeeper.config.loader import load_estate
from opskeeper.config.secrets import REDACTED, register_secret
from opskeeper.config.step import Step
from opskeeper.ledger.core import StepStatus
from opskeeper.remote.local import LocalExecutor
from opskeeper.runbook import actions
from opskeeper.runbook.engine import Gate, HostRun, HostTarget, StepRecord, host_status

ESTATE = Path(__file__).resolve().parent.parent / "data" / "bad" / "good.yaml"
OPEN = Gate(window_open=True)


@pytest.fixture(scope="module")
def estate() -> Estate:
    return load_estate(ESTATE)


def run_steps(
    estate: Estate, steps: list[dict[str, Any]], gate: Gate = OPEN, **extra: Any
) -> list[StepRecord]:
    customer = estate.customers[0]
    system = customer.systems[0]
    target = HostTarget(estate, customer, system, system.hosts[0], LocalExecutor("acme-app-1"), SYSTEM.now(),
                        extra=extra)  # fmt: skip
    seen: list[StepRecord] = []
    records = HostRun(target, gate, seen.append).run([("test", Step.model_validate(s)) for s in steps])
    assert seen == records  # every record is handed to the writer as it ends
    return records


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A directory only the steps write to (tmp_path also holds $OPSKEEPER_HOME)."""
    d = tmp_path / "out"
    d.mkdir()
    return d


def statuses(records: list[StepRecord]) -> list[tuple[str, str]]:
    return [(r.step, r.status.value) for r in records]


def test_exit_code_expectation(estate: Estate) -> None:
    recs = run_steps(estate, [
        {"name": "three-ok", "run": "exit 3", "expect": {"type": "exit_code", "codes": [0, 3]}, "on_failure": "continue"},
        {"name": "three-bad", "run": "exit 3", "on_failure": "continue"},
    ])  # fmt: skip
    assert statuses(recs) == [("three-ok", "ok"), ("three-bad", "failed")]
    assert (recs[1].exit_code, recs[1].error) == (3, "exit code 3, expected 0")
    assert host_status(recs) is StepStatus.FAILED


def test_output_expectations(estate: Estate) -> None:
    recs = run_steps(estate, [
        {"name": "match", "run": "echo 'state: green'", "expect": {"type": "regex", "pattern": "^state: green$"}},
        {"name": "forbidden", "run": "echo 'disk FAILED'", "expect": {"type": "regex", "pattern": "FAILED", "absent": True},
         "on_failure": "continue"},
        {"name": "no-match", "run": "echo 'state: red'", "expect": {"type": "regex", "pattern": "green"}},
    ])  # fmt: skip
    assert statuses(recs) == [("match", "ok"), ("forbidden", "failed"), ("no-match", "failed")]
    assert recs[1].error == "output matches forbidden /FAILED/"
    assert recs[2].error == "output does not match /green/"


@pytest.mark.parametrize(
    ("output", "status", "error"),
    [("load 3.5", "ok", None), ("load 7.25", "failed", "value 7.25 above maximum 5"),
     ("load 0.5", "failed", "value 0.5 below minimum 1"), ("no number", "failed", "no value found by /load ([\\d.]+)/")],
)  # fmt: skip
def test_value_range(estate: Estate, output: str, status: str, error: str | None) -> None:
    [rec] = run_steps(estate, [{"name": "load", "run": f"echo '{output}'",
                                "expect": {"type": "range", "pattern": r"load ([\d.]+)", "min": 1, "max": 5}}])  # fmt: skip
    assert (rec.status.value, rec.error) == (status, error)
    if "load " in output:
        assert rec.detail == {"value": float(output.split()[1])} or status == "failed"


def test_retries_until_success(estate: Estate, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    flaky = f'n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; echo "try $n"; [ $n -ge 3 ]'
    [rec] = run_steps(estate, [{"name": "flaky", "run": flaky, "retries": 4, "retry_delay": 0}])
    assert (rec.status, rec.attempts, rec.output.strip()) == (StepStatus.OK, 3, "try 3")
    assert counter.read_text().strip() == "3"


def test_retries_exhausted(estate: Estate, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    [rec] = run_steps(estate, [{"name": "never", "run": f"echo x >> {counter}; exit 1", "retries": 2,
                                "retry_delay": 0}])  # fmt: skip
    assert (rec.status, rec.attempts) == (StepStatus.FAILED, 3)
    assert counter.read_text().count("x") == 3


def test_timeout_is_an_error_not_a_failure(estate: Estate) -> None:
    recs = run_steps(
        estate, [{"name": "slow", "run": "sleep 30", "timeout": 0.3}, {"name": "after", "run": "true"}]
    )
    [rec] = recs  # abort (the default) stops the host's remaining steps
    assert rec.status is StepStatus.ERROR and rec.exit_code is None
    assert rec.error is not None and "command timed out after 0.3s" in rec.error


def test_abort_stops_continue_goes_on(estate: Estate) -> None:
    recs = run_steps(estate, [
        {"name": "soft", "run": "false", "on_failure": "continue"},
        {"name": "hard", "run": "false"},
        {"name": "never", "run": "true"},
    ])  # fmt: skip
    assert statuses(recs) == [("soft", "failed"), ("hard", "failed")]


def test_rollback_newest_first(estate: Estate, tmp_path: Path) -> None:
    log = tmp_path / "log"
    recs = run_steps(estate, [
        {"name": "a", "run": f"echo do-a >> {log}", "rollback": f"echo undo-a >> {log}"},
        {"name": "b", "run": f"echo do-b >> {log}"},  # nothing to undo
        {"name": "c", "run": f"echo do-c >> {log}", "rollback": f"echo undo-c >> {log}"},
        {"name": "d", "run": f"echo do-d >> {log}; exit 1", "on_failure": "rollback",
         "rollback": f"echo undo-d >> {log}"},
        {"name": "e", "run": f"echo do-e >> {log}"},
    ])  # fmt: skip
    assert log.read_text().split() == ["do-a", "do-b", "do-c", "do-d", "undo-d", "undo-c", "undo-a"]
    assert statuses(recs) == [("a", "ok"), ("b", "ok"), ("c", "ok"), ("d", "failed"),
                              ("d:rollback", "rolled-back"), ("c:rollback", "rolled-back"),
                              ("a:rollback", "rolled-back")]  # fmt: skip
    assert host_status(recs) is StepStatus.FAILED


def test_failed_rollback_is_an_error(estate: Estate) -> None:
    recs = run_steps(estate, [
        {"name": "a", "run": "true", "rollback": "exit 4"},
        {"name": "b", "run": "false", "on_failure": "rollback"},
    ])  # fmt: skip
    assert statuses(recs) == [("a", "ok"), ("b", "failed"), ("a:rollback", "error")]
    assert recs[-1].exit_code == 4


def test_gated_steps_need_a_window(estate: Estate, out: Path) -> None:
    steps = [
        {"name": "window", "run": f"touch {out}/window", "requires_window": True},
        {"name": "destructive", "run": f"touch {out}/destructive", "destructive": True},
        {"name": "plain", "run": f"touch {out}/plain"},
    ]
    closed = run_steps(estate, steps, Gate(window_open=False, window_reason="next opens Sat 22:00"))
    assert statuses(closed) == [("window", "skipped"), ("destructive", "skipped"), ("plain", "ok")]
    assert closed[0].output == "needs a maintenance window: next opens Sat 22:00"
    assert [r.held for r in closed] == [True, True, False]  # held back by the gate (exit code 3 in the CLI)
    assert sorted(p.name for p in out.iterdir()) == ["plain"]
    opened = run_steps(estate, steps, OPEN)
    assert statuses(opened) == [("window", "ok"), ("destructive", "ok"), ("plain", "ok")]
    assert sorted(p.name for p in out.iterdir()) == ["destructive", "plain", "window"]


def test_approval_required(estate: Estate, tmp_path: Path) -> None:
    step = {"name": "risky", "run": f"touch {tmp_path}/done", "requires_approval": True}
    [skipped] = run_steps(estate, [step])
    assert (skipped.status, skipped.output, skipped.held) == (StepStatus.SKIPPED, "needs an approval (none given)", True)
    assert not (tmp_path / "done").exists()
    [ran] = run_steps(estate, [step], Gate(window_open=True, approved_by="carol"))
    assert ran.status is StepStatus.OK and (tmp_path / "done").exists()


def test_dry_run_renders_but_runs_nothing(estate: Estate, tmp_path: Path) -> None:
    target = tmp_path / "created"
    recs = run_steps(estate, [
        {"name": "create", "run": "touch {{ path | quote }}"},
        {"name": "act", "action": "service.check"},
    ], Gate(window_open=True, dry_run=True), path=str(target))  # fmt: skip
    assert statuses(recs) == [("create", "skipped"), ("act", "skipped")]
    assert recs[0].output == f"dry run: would run touch {target}"
    assert recs[1].output == "dry run: would run action service.check"
    assert not any(r.held for r in recs)  # a dry run holds nothing back
    assert not target.exists()


def test_quote_keeps_hostile_values_one_argument(estate: Estate, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.write_text("alive")
    hostile = f"two words;rm -rf {canary} $(touch {tmp_path}/pwned) `id`"
    [rec] = run_steps(estate, [{"name": "argv", "run":
        "python3 -c 'import sys, json; print(json.dumps(sys.argv[1:]))' {{ value | quote }} {{ items | quote_all }}"}],
        value=hostile, items=["a b", "c'd"])  # fmt: skip
    assert rec.status is StepStatus.OK, rec.error
    assert (
        rec.output.strip()
        == '["two words;rm -rf ' + str(canary) + " $(touch " + str(tmp_path) + '/pwned) `id`", "a b", "c\'d"]'
    )
    assert canary.exists() and not (tmp_path / "pwned").exists()


def test_when_false_skips(estate: Estate, out: Path) -> None:
    recs = run_steps(estate, [
        {"name": "logs", "when": "optimisation.log_dirs", "run": f"touch {out}/logs"},
        {"name": "primary", "when": "host.role == 'primary'", "run": f"touch {out}/primary"},
    ])  # fmt: skip
    assert statuses(recs) == [("logs", "skipped"), ("primary", "ok")]
    assert recs[0].output == "condition false: optimisation.log_dirs"
    assert sorted(p.name for p in out.iterdir()) == ["primary"]


def test_selectors_skip_other_hosts_silently(estate: Estate) -> None:
    recs = run_steps(estate, [
        {"name": "mine", "on": "host:acme-app-1", "run": "true"},
        {"name": "other", "on": "host:elsewhere", "run": "false"},
        {"name": "db", "on": "role:db", "run": "false"},
        {"name": "primary", "on": "primary", "run": "true"},
    ])  # fmt: skip
    assert statuses(recs) == [("mine", "ok"), ("primary", "ok")]


def test_template_errors_are_step_errors(estate: Estate) -> None:
    recs = run_steps(estate, [{"name": "typo", "run": "echo {{ optimisaton.log_dirs }}", "on_failure": "continue"},
                              {"name": "bad-when", "when": "nosuch > 1", "run": "true"}])  # fmt: skip
    assert statuses(recs) == [("typo", "error"), ("bad-when", "error")]
    assert recs[0].error == "runbook test, step 'typo': cannot render command: 'optimisaton' is undefined"


def test_unknown_action_at_run_time_is_an_error(estate: Estate) -> None:
    [rec] = run_steps(estate, [{"name": "x", "action": "no.such"}])
    assert rec.status is StepStatus.ERROR
    assert rec.error is not None and rec.error.startswith("UnknownAction: unknown action 'no.such'; known: ")


def test_secrets_are_redacted_from_output(estate: Estate) -> None:
    register_secret("tok-4c1d-secret-value")
    [rec] = run_steps(estate, [{"name": "leak", "run": "echo token=tok-4c1d-secret-value; exit 2"}])
    assert rec.output.strip() == f"token={REDACTED}"


class _Recording(LocalExecutor):
    """A local executor that remembers how it was asked to run each command."""

    def __init__(self) -> None:
        super().__init__("remote-1")
        self.calls: list[tuple[str, bool]] = []

    def run(self, argv: Any, **kw: Any) -> Any:  # type: ignore[override]
        self.calls.append((str(argv), kw.get("sudo", False)))
        return super().run(argv, **{**kw, "sudo": False})


def test_sudo_only_where_the_estate_allows_it_also_in_rollbacks(estate: Estate) -> None:
    customer, system = estate.customers[0], estate.customers[0].systems[0]
    remote = Host(name="remote-1", address="192.0.2.1", user="ops", key="env:K", host_key="ssh-ed25519 AAAA",
                  sudo=False)  # fmt: skip
    ex = _Recording()
    target = HostTarget(estate, customer, system, remote, ex, SYSTEM.now())
    steps = [Step.model_validate(s) for s in (
        {"name": "a", "run": "true", "sudo": True, "rollback": "echo undo-a"},
        {"name": "b", "run": "false", "sudo": True, "on_failure": "rollback", "rollback": "echo undo-b"},
    )]  # fmt: skip
    HostRun(target, OPEN, lambda r: None).run([("test", s) for s in steps])
    assert ex.calls == [("true", False), ("false", False), ("echo undo-b", False), ("echo undo-a", False)]


@actions.register("test.explode")
def _explode(ctx: actions.ActionContext) -> actions.ActionOutcome:
    raise RuntimeError(f"boom on {ctx.host.name}")


def test_a_crashing_action_is_a_recorded_step_error(estate: Estate) -> None:
    recs = run_steps(estate, [
        {"name": "explode", "action": "test.explode", "on_failure": "continue"},
        {"name": "after", "run": "true"},
    ])  # fmt: skip
    assert statuses(recs) == [("explode", "error"), ("after", "ok")]
    assert recs[0].error == "unexpected RuntimeError: boom on acme-app-1"


@actions.register("test.leak")
def _leak(ctx: actions.ActionContext) -> actions.ActionOutcome:
    url = "https://ops:pw-7f3a9c-secret@db.example/health"
    return actions.ActionOutcome(True, f"checked {url}", {"checks": [{"url": url, "ok": True}], "n": 1})


def test_secrets_are_redacted_from_action_details(estate: Estate) -> None:
    register_secret("pw-7f3a9c-secret")
    [rec] = run_steps(estate, [{"name": "leak", "action": "test.leak"}])
    redacted = f"https://ops:{REDACTED}@db.example/health"
    assert rec.output == f"checked {redacted}"
    assert rec.detail == {"checks": [{"url": redacted, "ok": True}], "n": 1}


def test_gated_step_stops_when_the_window_closes_or_a_blackout_begins(estate: Estate, out: Path) -> None:
    """The run started in its window (window_open); before each gated step the calendar is read again."""
    customer = estate.customers[0]
    today = SYSTEM.now().date()
    steps = [
        {"name": "check", "run": "true"},
        {"name": "clean", "run": f"touch {out}/cleaned", "destructive": True},
    ]
    always = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "duration": "24h"}
    blacked = estate.model_copy(update={"customers": [customer.model_copy(update={
        "maintenance_window": customer.maintenance_window.model_validate(always),
        "blackouts": [customer.blackouts[0].model_validate(
            {"reason": "month-end close", "start": today - timedelta(days=1), "end": today + timedelta(days=1)})],
    })]})  # fmt: skip
    recs = run_steps(blacked, steps, Gate(window_open=True, recheck=True))
    assert statuses(recs) == [("check", "ok"), ("clean", "skipped")]
    assert recs[1].output == "a blackout began during the run: month-end close"
    assert not (out / "cleaned").exists()
    # Forced runs (--force-window) do not recheck: the engineer took the decision, and it is audited.
    assert statuses(run_steps(blacked, steps, Gate(window_open=True))) == [("check", "ok"), ("clean", "ok")]


@actions.register("test.value")
def _value(ctx: actions.ActionContext) -> actions.ActionOutcome:
    return actions.ActionOutcome(False, "measured 7", {"value": 7})  # its own ok is not the judge


def test_an_action_value_is_judged_by_the_steps_expectations(estate: Estate) -> None:
    recs = run_steps(estate, [
        {"name": "in-range", "action": "test.value", "expect": {"type": "range", "max": 10}},
        {"name": "exact", "action": "test.value", "expect": {"type": "exact", "value": 8}, "on_failure": "continue"},
        {"name": "own-ok", "action": "test.value"},  # without expectations the action's ok decides
    ])  # fmt: skip
    assert statuses(recs) == [("in-range", "ok"), ("exact", "failed"), ("own-ok", "failed")]
    assert (recs[0].detail, recs[0].verdict, recs[0].error) == ({"value": 7}, "value 7 within [-inf, 10]", None)
    assert (recs[1].error, recs[1].verdict) == ("7 != 8", "7 != 8")
    assert recs[2].error == "measured 7"


def test_done_steps_are_not_repeated_and_a_later_rollback_undoes_them(estate: Estate, out: Path) -> None:
    steps = [
        {"name": "a", "run": f"echo a >> {out}/log", "rollback": f"echo undo-a >> {out}/log"},
        {"name": "b", "run": "exit 1", "on_failure": "rollback"},
    ]
    customer = estate.customers[0]
    system = customer.systems[0]
    target = HostTarget(estate, customer, system, system.hosts[0], LocalExecutor("acme-app-1"), SYSTEM.now())
    recs = HostRun(target, OPEN, lambda r: None).run(
        [("test", Step.model_validate(s)) for s in steps], done={("test", "a"): 7}
    )
    assert [(r.step, r.status.value, r.done_in_run) for r in recs] == [
        ("a", "skipped", 7), ("b", "failed", None), ("a:rollback", "rolled-back", None)]  # fmt: skip
    assert recs[0].output == "done earlier by run 7"
    assert (out / "log").read_text().split() == ["undo-a"]  # not run again, but undone with the rest
