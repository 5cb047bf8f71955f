"""Built-in actions on this machine: service checks, SQLite optimisation, certificates, annual assessment,
major upgrades (apt-get replaced by a script on PATH that prints a canned simulation)."""

from __future__ import annotations

import datetime as dt
import http.server
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opskeeper.config.estate import Estate, Optimisation, Service
from opskeeper.config.loader import load_estate
from opskeeper.ledger import Ledger
from opskeeper.ledger.core import HealthSample
from opskeeper.remote.local import LocalExecutor
from opskeeper.runbook import actions

ESTATE = Path(__file__).resolve().parent.parent / "data" / "bad" / "good.yaml"
# The run's time: actions take it from their context, never from the machine's clock.
NOW = dt.datetime(2031, 3, 30, 0, 55, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def estate() -> Estate:
    return load_estate(ESTATE)


def act(estate: Estate, name: str, params: dict[str, Any] | None = None, ledger: Ledger | None = None,
        **system_update: Any) -> actions.ActionOutcome:  # fmt: skip
    customer = estate.customers[0]
    system = customer.systems[0].model_copy(update=system_update)
    ctx = actions.ActionContext(LocalExecutor("acme-app-1"), estate, customer, system, system.hosts[0], params or {},
                                timeout=60, sudo=False, now=NOW, ledger=ledger)  # fmt: skip
    return actions.get(name)(ctx)


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def web() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_service_check(estate: Estate, web: int) -> None:
    services = [Service(name="web", port=web, http=f"http://127.0.0.1:{web}/health"),
                Service(name="sick", http=f"http://127.0.0.1:{web}/down"),
                Service(name="elsewhere", port=1, hosts=["other-host"])]  # fmt: skip
    out = act(estate, "service.check", services=services)
    assert not out.ok
    assert out.detail == {"services": [
        {"service": "web", "check": "port", "ok": True, "what": str(web)},
        {"service": "web", "check": "http", "ok": True, "what": f"http://127.0.0.1:{web}/health -> 200"},
        {"service": "sick", "check": "http", "ok": False, "what": f"http://127.0.0.1:{web}/down -> 503"},
    ]}  # fmt: skip


def test_service_check_port_down(estate: Estate, web: int) -> None:
    out = act(estate, "service.check", services=[Service(name="web", port=web)])
    assert out.ok
    free = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    port = free.server_address[1]
    free.server_close()  # nothing listens there now
    down = act(estate, "service.check", services=[Service(name="db", port=port)])
    assert (down.ok, down.output) == (False, f"FAIL db port {port}")


def test_sqlite_optimise(estate: Estate, tmp_path: Path) -> None:
    db = tmp_path / "app.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (x TEXT)")
        con.executemany("INSERT INTO t VALUES (?)", [("x" * 500,) for _ in range(2000)])
        con.execute("DELETE FROM t")
    before = db.stat().st_size
    opt = Optimisation(sqlite_databases=[str(db), str(tmp_path / "missing.sqlite")])
    out = act(estate, "db.optimise", optimisation=opt)
    assert not out.ok  # the missing one
    [good, missing] = out.detail["databases"]  # type: ignore[index]
    assert (good["ok"], good["before"]) == (True, before) and good["after"] < before
    assert missing == {"db": str(tmp_path / "missing.sqlite"), "ok": False, "error": "not found"}


def _cert(path: Path, days: int, cn: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = NOW
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256()))  # fmt: skip
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_certificates_near_expiry(estate: Estate, tmp_path: Path) -> None:
    (tmp_path / "live").mkdir()
    _cert(tmp_path / "live" / "soon.pem", 10, "soon.example")
    _cert(tmp_path / "live" / "later.crt", 200, "later.example")
    (tmp_path / "live" / "notes.txt").write_text("not a certificate")
    (tmp_path / "live" / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    out = act(estate, "certs.expiry", {"paths": [str(tmp_path / "live"), "/nonexistent"], "warn_days": 30})
    assert not out.ok
    lines = out.output.splitlines()
    assert lines[0] == "2 certificates found, 1 expire within 30 days"
    assert lines[1].startswith(f"EXPIRING {tmp_path}/live/soon.pem (commonName=soon.example): ")


def _disk_samples(led: Ledger, series: list[tuple[dt.timedelta, float]], host: str = "acme-app-1") -> None:
    """Samples of / on ``host`` at NOW minus each age."""
    with led.session() as s:
        for age, value in series:
            s.add(HealthSample(customer_id="acme", host=host, taken_at=NOW - age, metric="disk.used_pct",
                               subject="/", value=value))  # fmt: skip


def test_annual_assessment_forecasts_disk(estate: Estate, opskeeper_home: Path) -> None:
    led = Ledger.open()
    with led.session() as s:
        for month in range(12):  # / grows 2 points a month; /data is flat
            at = NOW - dt.timedelta(days=30 * (11 - month))
            s.add(HealthSample(customer_id="acme", host="acme-app-1", taken_at=at, metric="disk.used_pct",
                               subject="/", value=60.0 + 2 * month))  # fmt: skip
            s.add(HealthSample(customer_id="acme", host="acme-app-1", taken_at=at, metric="disk.used_pct",
                               subject="/data", value=40.0))  # fmt: skip
            s.add(HealthSample(customer_id="acme", host="other", taken_at=at, metric="disk.used_pct",
                               subject="/", value=99.0))  # fmt: skip
    out = act(estate, "assessment.annual", {"disk_limit_pct": 90, "horizon_days": 365}, ledger=led)
    trends = {t["subject"]: t for t in out.detail["trends"]}  # type: ignore[index]
    assert trends["/"]["samples"] == 12 and trends["/"]["per_30_days"] == pytest.approx(2.0, abs=0.01)
    assert trends["/"]["days_to_limit"] == 120  # (90 - 82) / (2 / 30)
    assert trends["/data"]["days_to_limit"] is None
    assert out.ok  # 120 days is beyond the 90-day alarm
    assert out.output.splitlines()[-1] == "capacity: 0 filesystem(s) forecast to pass 90% within 90 days"
    led.close()


def test_annual_assessment_without_history(estate: Estate, opskeeper_home: Path) -> None:
    out = act(estate, "assessment.annual", ledger=Ledger.open())
    assert out.ok
    assert out.output.splitlines()[0] == (
        "not enough history: 0 samples spanning 0 min in the last 365 days; trends and forecasts need 30 days"
    )


def test_annual_assessment_of_two_samples_minutes_apart_is_not_enough_history(
    estate: Estate, opskeeper_home: Path
) -> None:
    """The first annual run of a new host: two samples four minutes apart, 80% -> 81%. A straight line
    through them would "pass 90% within 90 days"; they say nothing about a year."""
    led = Ledger.open()
    _disk_samples(led, [(dt.timedelta(minutes=4), 80.0), (dt.timedelta(0), 81.0)])
    out = act(estate, "assessment.annual", ledger=led)
    assert out.ok
    lines = out.output.splitlines()
    assert lines[0] == (
        "not enough history: 2 samples spanning 4 min in the last 365 days; trends and forecasts need 30 days"
    )
    assert lines[1] == "disk.used_pct /: 80 -> 81 over 2 samples in 4 min: not enough history for a trend (needs 30 days)"
    assert "reaches" not in out.output and "capacity" not in out.output
    [trend] = out.detail["trends"]  # type: ignore[index]
    assert (trend["enough_history"], trend["per_30_days"], trend["days_to_limit"]) == (False, None, None)
    # The minimum span is the step's to set: with a few minutes, the same samples make a (wild) forecast.
    hasty = act(estate, "assessment.annual", {"min_history_days": 0.001}, ledger=led)
    assert not hasty.ok and hasty.output.splitlines()[-1] == (
        "capacity: 1 filesystem(s) forecast to pass 90% within 90 days"
    )
    led.close()


def test_annual_assessment_of_sixty_days_rising_warns(estate: Estate, opskeeper_home: Path) -> None:
    led = Ledger.open()
    # 60 days, daily: / rises 0.2 points a day from 60% to 72%, so 90% is ~90 days... 18 / 0.2 = 90.
    _disk_samples(led, [(dt.timedelta(days=60 - d), 60.0 + 0.2 * d) for d in range(61)])
    _disk_samples(led, [(dt.timedelta(minutes=3), 70.0), (dt.timedelta(0), 75.0)], host="other")
    out = act(estate, "assessment.annual", {"disk_limit_pct": 85}, ledger=led)  # (85 - 72) / 0.2 = 65 days
    [trend] = out.detail["trends"]  # type: ignore[index]
    assert trend["enough_history"] and trend["per_30_days"] == pytest.approx(6.0)
    assert trend["days_to_limit"] == 65
    assert not out.ok
    assert out.output.splitlines() == [
        "disk.used_pct /: 60 -> 72 over 61 samples (+6/30d), reaches 85% in ~65 days",
        "capacity: 1 filesystem(s) forecast to pass 85% within 90 days",
    ]
    led.close()


def test_annual_assessment_reports_short_series_beside_long_ones(estate: Estate, opskeeper_home: Path) -> None:
    """A disk added last week has no trend yet; the other disks' trends still count."""
    led = Ledger.open()
    _disk_samples(led, [(dt.timedelta(days=90 - d), 50.0) for d in range(0, 91, 10)])
    with led.session() as s:
        for d in range(7):
            s.add(HealthSample(customer_id="acme", host="acme-app-1", taken_at=NOW - dt.timedelta(days=d),
                               metric="disk.used_pct", subject="/new", value=10.0 + 5 * (6 - d)))  # fmt: skip
    out = act(estate, "assessment.annual", ledger=led)
    assert out.ok and out.detail["enough_history"]  # type: ignore[index]
    trends = {t["subject"]: t for t in out.detail["trends"]}  # type: ignore[index]
    assert trends["/"]["enough_history"] and not trends["/new"]["enough_history"]
    assert trends["/new"]["days_to_limit"] is None
    assert out.output.splitlines()[-1] == "capacity: 0 filesystem(s) forecast to pass 90% within 90 days"
    led.close()


APT_SIMULATION = """#!/bin/sh
cat <<'OUT'
Inst openssl [3.0.11-1~deb12u2] (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])
Inst nodejs [18.19.0+dfsg-6~deb12u2] (20.11.1+dfsg-1 Debian:12/stable [amd64])
Inst tzdata [2025b-0+deb12u2] (2026f-0+deb12u1 Debian:12/stable [all])
Inst ca-certificates [20230311+deb12u1] (20250419~deb12u2 Debian:12/stable [all])
Inst libfoo [1:2.3-1] (1:3.0-1 Debian:12/stable [amd64])
OUT
"""


def test_major_upgrades(estate: Estate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(APT_SIMULATION)
    (bin_dir / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    out = act(estate, "upgrades.major")
    assert out.ok
    majors = [line.split()[1].rstrip(":") for line in out.output.splitlines() if line.startswith("MAJOR ")]
    # Date-versioned packages (tzdata 2025b -> 2026f, ca-certificates 20230311 -> 20250419) are not major.
    assert majors == ["nodejs", "libfoo"]
    assert "5 upgradable packages, 2 major" in out.output
