"""The finding lifecycle on a real (SQLite) ledger: new -> persisting -> resolved, incomparable, acceptance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opskeeper.checks.security.lifecycle import record_host_scan
from opskeeper.checks.security.model import CheckResult, ObjectResult
from opskeeper.checks.security.registry import get
from opskeeper.checks.security.scan import HostScan
from opskeeper.checks.security.service import customers_due
from opskeeper.config.loader import load_estate
from opskeeper.ledger import Ledger
from opskeeper.ledger.core import Run
from opskeeper.ledger.findings import (
    Finding,
    FindingFilter,
    FindingStatus,
    fingerprint,
    list_findings,
    score_history,
)
from opskeeper.ledger.security import write_scan
from tests.checks.security.helpers import target
from tests.conftest import EXAMPLE_ESTATE

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
REMEDIATION = {"critical": timedelta(days=7), "high": timedelta(days=30)}


def result(check_id: str, *objs: tuple[str, bool | None]) -> CheckResult:
    return CheckResult(get(check_id).meta, tuple(ObjectResult(o, p, f"{o} detail") for o, p in objs))


def not_run(check_id: str) -> CheckResult:
    return CheckResult(get(check_id).meta, error="fact 'sshd' unavailable: needs root")


def scan(at: datetime, *results: CheckResult, error: str | None = None) -> HostScan:
    return HostScan(target("web-1"), at, at + timedelta(seconds=3), tuple(results), {}, error)


@pytest.fixture
def ledger() -> Ledger:
    return Ledger.open()


def record(ledger: Ledger, s: HostScan):  # type: ignore[no-untyped-def]
    return write_scan(ledger, lambda w: record_host_scan(w, s, REMEDIATION))


def test_new_persisting_resolved(ledger: Ledger) -> None:
    d1 = record(ledger, scan(T0, result("ssh.root-login", ("sshd:PermitRootLogin", False)),
                             result("files.suid", ("/tmp/x", False), ("/usr/bin/su", True))))  # fmt: skip
    assert sorted(f.object for f in d1.new) == ["/tmp/x", "sshd:PermitRootLogin"]
    assert d1.new[0].due_by - T0 in (timedelta(days=30),)
    d2 = record(ledger, scan(T0 + timedelta(days=1), result("ssh.root-login", ("sshd:PermitRootLogin", False)),
                             result("files.suid", ("/usr/bin/su", True))))  # fmt: skip
    assert [f.object for f in d2.persisting] == ["sshd:PermitRootLogin"]
    assert [f.object for f in d2.resolved] == ["/tmp/x"]  # gone from the output: resolved
    d3 = record(ledger, scan(T0 + timedelta(days=2), result("ssh.root-login", ("sshd:PermitRootLogin", True)),
                             result("files.suid", ("/usr/bin/su", True))))  # fmt: skip
    assert [f.object for f in d3.resolved] == ["sshd:PermitRootLogin"]
    with ledger.session() as s:
        rows = list_findings(s, T0, FindingFilter.ALL)
        assert {f.status for f in rows} == {FindingStatus.RESOLVED}
        assert all(f.fingerprint == fingerprint("web-1", f.check_id, f.object) for f in rows)
    # it comes back: a new occurrence with a fresh deadline
    d4 = record(
        ledger, scan(T0 + timedelta(days=3), result("ssh.root-login", ("sshd:PermitRootLogin", False)))
    )
    assert [f.object for f in d4.new] == ["sshd:PermitRootLogin"]
    assert d4.new[0].due_by == T0 + timedelta(days=33)


def test_check_that_did_not_run_marks_incomparable_not_resolved(ledger: Ledger) -> None:
    record(ledger, scan(T0, result("ssh.root-login", ("sshd:PermitRootLogin", False))))
    d = record(ledger, scan(T0 + timedelta(hours=1), not_run("ssh.root-login")))
    assert [f.object for f in d.incomparable] == ["sshd:PermitRootLogin"] and not d.resolved
    assert d.skipped_checks == {"ssh.root-login": "fact 'sshd' unavailable: needs root"}
    failed = record(ledger, scan(T0 + timedelta(hours=2), not_run("ssh.root-login"), error="HostUnreachable"))
    assert failed.status == "failed" and len(failed.incomparable) == 1
    # an object the check could not judge (passed=None) stays unresolved too
    record(ledger, scan(T0, result("tls.cert-expiry", ("tls:db:443", False), ("/etc/ssl/a.pem", False))))
    d = record(ledger, scan(T0 + timedelta(hours=3), result("tls.cert-expiry", ("tls:db:443", None))))
    assert sorted(f.object for f in d.incomparable) == ["sshd:PermitRootLogin", "tls:db:443"]
    assert [f.object for f in d.resolved] == ["/etc/ssl/a.pem"]
    with ledger.session() as s:
        open_ = [f.object for f in list_findings(s, T0, FindingFilter.OPEN)]
    assert sorted(open_) == ["sshd:PermitRootLogin", "tls:db:443"]


def test_overdue_and_accepted_risk_that_expires(ledger: Ledger) -> None:
    record(ledger, scan(T0, result("accounts.uid0", ("user:toor", False))))  # critical: 7 days
    d = record(ledger, scan(T0 + timedelta(days=8), result("accounts.uid0", ("user:toor", False))))
    assert [f.object for f in d.overdue] == ["user:toor"]
    with ledger.session() as s:
        f = s.query(Finding).one()
        f.accepted_until, f.accepted_reason, f.accepted_by = T0 + timedelta(days=10), "vendor tool", "alice"
    with ledger.session() as s:
        assert [x.object for x in list_findings(s, T0 + timedelta(days=9), FindingFilter.ACCEPTED)] == [
            "user:toor"
        ]
        assert list_findings(s, T0 + timedelta(days=9), FindingFilter.OVERDUE) == []
    d = record(ledger, scan(T0 + timedelta(days=9), result("accounts.uid0", ("user:toor", False))))
    assert not d.overdue and not d.acceptance_expired and d.persisting[0].accepted
    d = record(ledger, scan(T0 + timedelta(days=11), result("accounts.uid0", ("user:toor", False))))
    assert [f.object for f in d.acceptance_expired] == ["user:toor"]
    assert [f.object for f in d.overdue] == ["user:toor"]  # open again, and past its deadline
    with ledger.session() as s:
        f = s.query(Finding).one()
        assert f.accepted_until is None and f.accepted_reason == "expired 2026-11-12: vendor tool"


def test_score_weighted_by_severity_with_trend(ledger: Ledger) -> None:
    crit_fail = result("accounts.uid0", ("user:toor", False))  # weight 10
    low_ok = result("ssh.x11-forwarding", ("sshd:X11Forwarding", True))  # weight 1
    s1 = scan(T0, crit_fail, low_ok, not_run("ssh.root-login"))
    assert s1.score == pytest.approx(100 * 1 / 11, abs=0.1)  # checks that did not run are not counted
    record(ledger, s1)
    record(ledger, scan(T0 + timedelta(days=1), result("accounts.uid0", ("user:root", True)), low_ok))
    with ledger.session() as s:
        hist = score_history(s)
    assert [x.score for x in hist["web-1"]] == [pytest.approx(9.1), 100.0]


def test_weekly_scan_due_per_customer(ledger: Ledger) -> None:
    estate = load_estate(EXAMPLE_ESTATE)
    assert customers_due(estate, ledger, T0) == ["hanhai", "volga"]
    with ledger.session() as s:
        s.add(Run(kind="scan", customer_id="volga", status="ok", started_at=T0 - timedelta(days=2)))
        s.add(Run(kind="scan", customer_id="hanhai", status="failed", started_at=T0 - timedelta(days=1)))
    assert customers_due(estate, ledger, T0) == ["hanhai"]
    assert customers_due(estate, ledger, T0 + timedelta(days=5)) == ["hanhai", "volga"]
