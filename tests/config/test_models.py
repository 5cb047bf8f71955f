"""Config value types, secret references and the example estate."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from opskeeper.config.loader import load_estate
from opskeeper.config.runbook import load_runbooks
from opskeeper.config.secrets import REDACTED, SecretError, SecretRef, redact
from opskeeper.config.types import Duration, format_duration, parse_duration, parse_time_of_day
from opskeeper.paths import EXAMPLE_ESTATE, RUNBOOKS_DIR


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90m", timedelta(minutes=90)), ("1d12h", timedelta(days=1, hours=12)), ("3w", timedelta(weeks=3)),
     (45, timedelta(seconds=45)), ("2h 30m", timedelta(hours=2, minutes=30))],
)  # fmt: skip
def test_durations(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "2 hours", "-1h", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_duration_round_trip_in_json() -> None:
    class M(BaseModel):
        d: Duration

    assert M(d="1d12h").model_dump(mode="json") == {"d": "1d12h"}
    assert format_duration(timedelta(0)) == "0s"


def test_time_of_day_also_accepts_yaml_sexagesimal() -> None:
    assert parse_time_of_day("02:00") == time(2, 0)
    assert parse_time_of_day(120) == time(2, 0)  # YAML 1.1 reads an unquoted 02:00 as 120
    with pytest.raises(ValueError, match="24-hour"):
        parse_time_of_day("24:00")


def test_secret_refs_resolve_and_are_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSK_TEST_TOKEN", "s3cr3t-token-value")
    assert SecretRef.model_validate("env:OPSK_TEST_TOKEN").resolve() == "s3cr3t-token-value"
    key = tmp_path / "key"
    key.write_text("file-secret-xyz\n")
    ref = SecretRef(ref=f"file:{key}")
    assert ref.resolve() == "file-secret-xyz"
    assert str(ref) == f"file:{key}"  # the reference, never the value
    assert redact("token=s3cr3t-token-value and file-secret-xyz") == f"token={REDACTED} and {REDACTED}"


def test_unresolvable_secrets_name_the_reference(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="env:OPSK_NOT_SET: environment variable OPSK_NOT_SET is not set"):
        SecretRef(ref="env:OPSK_NOT_SET").resolve()
    with pytest.raises(SecretError, match=f"cannot read {tmp_path}/missing"):
        SecretRef(ref=f"file:{tmp_path}/missing").resolve()


def test_example_estate_loads_with_home_expanded(opskeeper_home: Path) -> None:
    estate = load_estate(EXAMPLE_ESTATE)
    assert [c.id for c in estate.customers] == ["hanhai", "volga"]
    assert [(c.language.value, c.timezone, c.tier) for c in estate.customers] == [
        ("zh-CN", "Asia/Shanghai", "standard"), ("ru", "Europe/Moscow", "advanced")]  # fmt: skip
    hanhai = estate.customer("hanhai")
    assert hanhai.systems[0].optimisation.log_dirs == [f"{opskeeper_home}/example/hanhai/logs"]
    assert Path(estate.runbooks_dir).resolve() == RUNBOOKS_DIR
    tiers = estate.tiers
    assert tiers["standard"].response["emergency"] == timedelta(hours=2)
    assert tiers["advanced"].rto == timedelta(hours=4)


def test_shipped_runbooks_include_each_other_in_order() -> None:
    books = load_runbooks(RUNBOOKS_DIR)
    annual = [(b, s.name) for b, s in books.expanded_steps("annual")]
    monthly = [(b, s.name) for b, s in books.expanded_steps("monthly")]
    assert annual[: len(monthly)] == monthly
    assert [b for b, _ in annual][-2:] == ["annual", "annual"]
    assert {b for b, _ in annual} == {"monthly", "quarterly", "annual"}


def test_a_runbook_included_twice_runs_once(tmp_path: Path) -> None:
    books = {
        "monthly": "name: monthly\nsteps: [{name: m, run: 'true'}]\n",
        "quarterly": "name: quarterly\ninclude: [monthly]\nsteps: [{name: q, run: 'true'}]\n",
        "annual": "name: annual\ninclude: [quarterly, monthly]\nsteps: [{name: a, run: 'true'}]\n",
    }
    for name, text in books.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    steps = load_runbooks(tmp_path).expanded_steps("annual")
    assert [(b, s.name) for b, s in steps] == [("monthly", "m"), ("quarterly", "q"), ("annual", "a")]


def test_contact_endpoints_and_the_short_form_read_the_same(tmp_path: Path) -> None:
    good = Path(__file__).resolve().parent.parent / "data" / "bad" / "good.yaml"
    short = "      - {name: Bo, role: cto, escalation_level: 2, email: bo@acme.example}\n"
    text = good.read_text().replace(
        "runbooks_dir: runbooks/ok", f"runbooks_dir: {good.parent / 'runbooks/ok'}"
    )
    both = "      - {name: Bo, role: cto, escalation_level: 2, email: bo@acme.example, webhook: 'https://h.example/T/s'}\n"
    listed = (
        "      - name: Bo\n        role: cto\n        escalation_level: 2\n        endpoints:\n"
        "          - {kind: email, address: bo@acme.example}\n"
        "          - {kind: webhook, address: 'https://h.example/T/s'}\n"
    )
    contacts = []
    for form in (both, listed):
        path = tmp_path / "estate.yaml"
        path.write_text(text.replace(short, form))
        contacts.append(load_estate(path).customers[0].contacts[1])
    assert contacts[0] == contacts[1]
    assert [(e.kind, e.address) for e in contacts[0].endpoints] == [
        ("email", "bo@acme.example"),
        ("webhook", "https://h.example/T/s"),
    ]
    # moved: endpoints is the one place to read
    assert contacts[0].email is None and contacts[0].webhook is None
