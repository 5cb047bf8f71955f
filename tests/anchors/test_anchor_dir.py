"""Anchors on a directory target, through the CLI: written, checked, and what they catch."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from opskeeper.ledger import Ledger
from tests.anchors.conftest import EstateFactory, fill, rewrite_consistently, truncate_consistently


def _cli(estate: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["-c", str(estate), "audit", *args])
    return result.exit_code, result.stdout + result.stderr


def _vault_estate(make_estate: EstateFactory, tmp_path: Path, other: str = "") -> Path:
    audit = "audit:\n  anchor_targets: [vault]\n" + (f"  other_ledgers: [{other}]\n" if other else "")
    return make_estate({"vault": f"{{kind: dir, path: {tmp_path / 'vault'}}}"}, audit)


def _anchors(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "vault" / "anchors").iterdir())


def test_anchor_is_written_and_verified(make_estate: EstateFactory, ledger: Ledger, tmp_path: Path) -> None:
    estate = _vault_estate(make_estate, tmp_path)
    fill(ledger, 3)
    code, out = _cli(estate, "anchor")
    assert code == 0, out
    [name] = _anchors(tmp_path)
    doc = json.loads((tmp_path / "vault" / "anchors" / name).read_text())
    assert doc["seq"] == 4 and len(doc["ledger_id"]) == 32 and doc["opskeeper_version"]  # 3 + the identity
    assert "only in a local directory" not in out
    code, out = _cli(estate, "verify")
    assert code == 0 and "anchors match: 1 anchor(s)" in out, out
    code, out = _cli(estate, "verify", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["anchors"]["results"][0]["status"] == "ok"


def test_a_consistent_rewrite_is_caught_by_the_anchor(
    make_estate: EstateFactory, ledger: Ledger, tmp_path: Path
) -> None:
    estate = _vault_estate(make_estate, tmp_path)
    fill(ledger, 3)
    assert _cli(estate, "anchor")[0] == 0
    fill(ledger, 2)
    rewrite_consistently(ledger)
    assert ledger.verify_audit() == (6, [])  # the chain alone cannot tell
    code, out = _cli(estate, "verify")
    assert code == 1
    [name] = _anchors(tmp_path)
    assert "entry #4 has hash" in out and "the trail was rewritten" in out and "(#4) at vault" in out, out
    assert _cli(estate, "verify", "--no-anchors")[0] == 0
    report = json.loads(_cli(estate, "verify", "--json")[1])
    assert not report["ok"] and report["anchors"]["results"][0]["status"] == "rewritten"
    assert report["anchors"]["results"][0]["name"] == f"anchors/{name}"
    # Nothing new is anchored over the contradiction.
    code, out = _cli(estate, "anchor")
    assert code == 1 and "not anchoring over a contradiction" in out
    assert _anchors(tmp_path) == [name]


def test_truncation_below_the_anchor_is_caught(make_estate: EstateFactory, ledger: Ledger, tmp_path: Path) -> None:
    estate = _vault_estate(make_estate, tmp_path)
    fill(ledger, 5)
    assert _cli(estate, "anchor")[0] == 0  # the identity is #6, the head #6
    fill(ledger, 2)
    assert _cli(estate, "anchor")[0] == 0  # head #8
    truncate_consistently(ledger, keep=7)
    assert ledger.verify_audit() == (7, [])
    code, out = _cli(estate, "verify")
    assert code == 1 and "(#8) at vault" in out and "the trail ends at #7" in out, out
    assert "(#6)" not in out  # the older anchor still matches


def test_a_wiped_or_truncated_identity_is_caught(make_estate: EstateFactory, ledger: Ledger, tmp_path: Path) -> None:
    """Cutting the trail back before the identity row (or wiping it) also drops the ledger's identity:
    the anchors of the lost identity are still checked."""
    estate = _vault_estate(make_estate, tmp_path)
    fill(ledger, 5)
    assert _cli(estate, "anchor")[0] == 0
    old_id = _anchors(tmp_path)[0].split("-")[0]
    truncate_consistently(ledger, keep=3)
    code, out = _cli(estate, "verify")
    assert code == 1 and "(#6) at vault" in out and "the trail ends at #3" in out, out
    assert f"it names ledger {old_id}, this ledger has no identity" in out
    code, out = _cli(estate, "anchor")  # a new identity is not anchored beside the lost one
    assert code == 1 and f"holds anchors of ledger(s) {old_id}, not of this one" in out, out
    assert len(_anchors(tmp_path)) == 1
    # Replaced on purpose: the estate says so, and the new ledger is anchored and verified on its own.
    accepted = _vault_estate(make_estate, tmp_path, other=old_id)
    assert _cli(accepted, "anchor")[0] == 0
    code, out = _cli(accepted, "verify")
    assert code == 0 and "anchors match: 1 anchor(s)" in out, out


def test_an_unchanged_head_is_not_anchored_twice(make_estate: EstateFactory, ledger: Ledger, tmp_path: Path) -> None:
    estate = _vault_estate(make_estate, tmp_path)
    fill(ledger, 1)
    assert _cli(estate, "anchor")[0] == 0
    code, out = _cli(estate, "anchor")
    assert code == 0 and "unchanged" in out and len(_anchors(tmp_path)) == 1
    fill(ledger, 1)
    assert _cli(estate, "anchor")[0] == 0
    assert [n.split("-")[1] for n in _anchors(tmp_path)] == ["000000000002", "000000000003"]
    assert _cli(estate, "verify")[0] == 0


def test_without_targets_anchors_are_local_and_say_so(make_estate: EstateFactory, ledger: Ledger,
                                                      opskeeper_home: Path) -> None:  # fmt: skip
    estate = make_estate({}, "")
    fill(ledger, 1)
    code, out = _cli(estate, "anchor")
    assert code == 0 and "not against an attacker with access to this machine" in out
    assert len(list((opskeeper_home / "anchors").iterdir())) == 1
    code, out = _cli(estate, "verify")
    assert code == 0 and "not against an attacker" in out


def test_an_unknown_anchor_target_is_bad_input(make_estate: EstateFactory, opskeeper_home: Path) -> None:
    estate = make_estate({}, "audit:\n  anchor_targets: [local, vault]\n  every: 12h\n")
    line = estate.read_text().splitlines().index("audit:") + 2
    for args in (["validate"], ["audit", "anchor"], ["audit", "verify"]):
        result = CliRunner().invoke(app, ["-c", str(estate), *args])
        assert result.exit_code == 2
        assert result.stderr.strip() == (
            f"error: {estate}:{line}: audit.anchor_targets[1]: backup target 'vault' is not defined; "
            "known: local"
        )
    assert not (opskeeper_home / "ledger.sqlite").exists()


def _anchored(make_estate: EstateFactory, ledger: Ledger, tmp_path: Path) -> Path:
    """A vault estate whose ledger was anchored once."""
    estate = _vault_estate(make_estate, tmp_path)
    fill(ledger, 2)
    assert _cli(estate, "anchor")[0] == 0
    return estate


def test_a_directory_target_that_is_gone_fails_verify(
    make_estate: EstateFactory, ledger: Ledger, tmp_path: Path
) -> None:
    """A vault whose disk is not mounted (the directory is gone) is a target that cannot be read, not
    a target without anchors: the check did not happen."""
    estate = _anchored(make_estate, ledger, tmp_path)
    (tmp_path / "vault").rename(tmp_path / "vault-unmounted")
    code, out = _cli(estate, "verify")
    assert code == 1 and "anchor target vault could not be read" in out, out
    report = json.loads(_cli(estate, "verify", "--json")[1])
    assert not report["ok"] and report["anchors"]["places"][0]["reachable"] is False


def test_an_anchors_path_that_is_not_a_directory_fails_verify(
    make_estate: EstateFactory, ledger: Ledger, tmp_path: Path
) -> None:
    estate = _anchored(make_estate, ledger, tmp_path)
    anchors = tmp_path / "vault" / "anchors"
    anchors.rename(tmp_path / "vault" / "moved")
    anchors.write_text("not a directory\n")
    code, out = _cli(estate, "verify")
    assert code == 1 and "anchor target vault could not be read" in out, out


def test_a_stray_object_with_an_anchor_like_name_is_not_a_crash(
    make_estate: EstateFactory, ledger: Ledger, tmp_path: Path
) -> None:
    estate = _anchored(make_estate, ledger, tmp_path)
    stray = tmp_path / "vault" / "anchors" / f"{'0' * 32}-000000000001-20261399T999999Z.json"
    stray.write_text("{}\n")
    code, out = _cli(estate, "verify")
    assert code == 0 and "anchors match: 1 anchor(s)" in out, out
