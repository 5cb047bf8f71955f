"""Each registered check judged on hand-made facts (no host needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opskeeper.checks.security import gather
from opskeeper.checks.security.model import CheckContext, CheckResult
from opskeeper.checks.security.registry import all_checks, check, get
from opskeeper.checks.security.scan import evaluate
from opskeeper.config.types import FindingSeverity, Language
from tests.checks.security.helpers import facts, self_signed_pem, target

NOW = datetime.now(UTC)


def judge(check_id: str, f, tgt=None, baseline=None) -> CheckResult:  # type: ignore[no-untyped-def]
    ctx = CheckContext(tgt or target(), NOW, baseline or {})
    return evaluate(f, [get(check_id)], ctx)[0]


def failed_objects(r: CheckResult) -> list[str]:
    return [o.object for o in r.failures]


def test_registry_ids_are_unique_and_complete() -> None:
    ids = [c.meta.id for c in all_checks()]
    assert len(ids) == len(set(ids))
    for c in all_checks():
        assert c.meta.title and c.meta.rationale and c.meta.remediation and c.meta.needs
        assert isinstance(c.meta.severity, FindingSeverity)
    areas = {i.split(".")[0] for i in ids}
    assert {"ssh", "net", "files", "accounts", "updates", "tls", "kernel"} <= areas


WEAK_SSHD = {
    "permitrootlogin": "yes",
    "passwordauthentication": "yes",
    "x11forwarding": "yes",
    "ciphers": "aes256-gcm@openssh.com,aes128-cbc",
    "macs": "hmac-sha2-256,hmac-md5",
    "kexalgorithms": "curve25519-sha256,diffie-hellman-group1-sha1",
}
GOOD_SSHD = {
    "permitrootlogin": "prohibit-password",
    "passwordauthentication": "no",
    "kbdinteractiveauthentication": "no",
    "x11forwarding": "no",
    "ciphers": "chacha20-poly1305@openssh.com",
    "macs": "hmac-sha2-256-etm@openssh.com",
    "kexalgorithms": "curve25519-sha256",
}


def test_ssh_checks_on_weak_and_good_config() -> None:
    weak = facts(sshd={"config": "/etc/ssh/sshd_config", "settings": WEAK_SSHD})
    good = facts(sshd={"config": "/etc/ssh/sshd_config", "settings": GOOD_SSHD})
    for cid in ("ssh.root-login", "ssh.root-password-login", "ssh.password-auth", "ssh.x11-forwarding"):
        assert not judge(cid, weak).passed, cid
        assert judge(cid, good).passed, cid
    assert set(failed_objects(judge("ssh.weak-algorithms", weak))) == {
        "sshd:ciphers:aes128-cbc",
        "sshd:macs:hmac-md5",
        "sshd:kexalgorithms:diffie-hellman-group1-sha1",
    }
    assert judge("ssh.weak-algorithms", good).passed
    assert get("ssh.root-password-login").meta.severity is FindingSeverity.CRITICAL


def test_missing_fact_means_could_not_run() -> None:
    r = judge("ssh.root-login", facts(sshd="sshd -T needs root (set sudo: true for this host)"))
    assert not r.ran and "needs root" in (r.error or "")
    assert not judge("ssh.root-login", facts()).ran


def test_unexpected_port_honours_allowed_service_and_loopback() -> None:
    socks = [
        {"proto": "tcp", "address": "0.0.0.0", "port": 22, "process": "sshd"},
        {"proto": "tcp", "address": "::", "port": 8080, "process": "python3"},
        {"proto": "tcp", "address": "10.0.0.5", "port": 4444, "process": "nc"},
        {"proto": "tcp", "address": "127.0.0.1", "port": 5432, "process": "postgres"},
    ]
    f = facts(listening={"source": "ss", "sockets": socks})
    assert failed_objects(judge("net.unexpected-port", f, target(ports=(8080,)))) == ["tcp/4444"]
    assert failed_objects(judge("net.unexpected-port", f)) == ["tcp/4444", "tcp/8080"]
    strict = target(ignore_loopback=False, allowed_ports=[22, 8080, 4444])
    assert failed_objects(judge("net.unexpected-port", f, strict)) == ["tcp/5432"]


def test_suid_allowlist_and_world_writable() -> None:
    files = [
        {"path": "/usr/bin/passwd", "mode": "4755", "owner": "root", "type": "f"},
        {"path": "/opt/app/bin/helper", "mode": "4755", "owner": "root", "type": "f"},
        {"path": "/tmp/x/sh", "mode": "6755", "owner": "root", "type": "f"},
    ]
    f = facts(suid={"files": files, "partial": False})
    assert failed_objects(judge("files.suid", f)) == ["/opt/app/bin/helper", "/tmp/x/sh"]
    assert failed_objects(judge("files.suid", f, target(suid_allowlist=["/opt/app/bin/*"]))) == ["/tmp/x/sh"]
    ww = facts(world_writable={"files": [{"path": "/srv/drop", "mode": "777", "owner": "root", "type": "d"}],
                               "partial": False})  # fmt: skip
    assert failed_objects(judge("files.world-writable", ww)) == ["/srv/drop"]
    assert judge("files.world-writable", facts(world_writable={"files": [], "partial": False})).passed


def test_accounts_uid0_empty_password_ageing_and_shadow_permission() -> None:
    users = [
        {"name": "root", "uid": 0, "shell": "/bin/bash", "passwd": "shadow"},
        {"name": "toor", "uid": 0, "shell": "/bin/sh", "passwd": "shadow"},
        {"name": "guest", "uid": 1001, "shell": "/bin/sh", "passwd": "shadow"},
    ]
    shadow = {
        "root": {"state": "locked", "max_days": ""},
        "toor": {"state": "set", "max_days": "99999"},
        "guest": {"state": "empty", "max_days": "90"},
    }
    f = facts(accounts={"users": users, "shadow": shadow})
    assert failed_objects(judge("accounts.uid0", f)) == ["user:toor"]
    assert failed_objects(judge("accounts.empty-password", f)) == ["user:guest"]
    assert failed_objects(judge("accounts.password-ageing", f)) == ["user:toor"]
    no_root = facts(accounts={"users": users, "shadow": None})
    assert judge("accounts.uid0", no_root).ran
    assert not judge("accounts.empty-password", no_root).ran


def test_security_updates() -> None:
    pkgs = [
        {"package": "openssl", "installed": "3.0.1", "candidate": "3.0.2", "origin": "Debian-Security:12", "security": True},
        {"package": "bash", "installed": "5.2", "candidate": "5.2.1", "origin": "Debian:12", "security": False},
    ]  # fmt: skip
    f = facts(updates={"manager": "apt", "packages": pkgs, "lists_age_s": 10})
    assert failed_objects(judge("updates.security", f)) == ["pkg:openssl"]


def test_apt_simulation_line_parsing() -> None:
    line = "Inst libssl3 [3.0.19-1~deb12u2] (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security [amd64])"
    m = gather._APT_INST.match(line)
    assert m and m.group(1) == "libssl3" and "security" in m.group(4).lower()


def test_certificate_expiry_on_disk_and_endpoint() -> None:
    certs = [
        {"path": "/etc/ssl/app.pem", "index": 0, "pem": self_signed_pem(5)},
        {"path": "/etc/ssl/app.pem", "index": 1, "pem": self_signed_pem(400)},
        {"path": "/etc/ssl/old.pem", "index": 0, "pem": self_signed_pem(-2)},
    ]
    f = facts(certs={"certs": certs, "partial": False})
    r = judge("tls.cert-expiry", f)
    assert failed_objects(r) == ["/etc/ssl/app.pem", "/etc/ssl/old.pem"]
    assert "expired" in r.failures[1].detail
    ep = facts(certs={"certs": [], "partial": False})
    ep = type(ep)(
        ep.euid, ep.sections, {"tls_endpoints": [{"endpoint": "db:443", "pem": None, "error": "refused"}]}
    )
    r = judge("tls.cert-expiry", ep)
    assert r.ran and r.results[0].passed is None  # unreachable endpoint: not judged


@pytest.mark.parametrize("value,ok", [("2", True), ("0", False)])
def test_sysctl(value: str, ok: bool) -> None:
    f = facts(sysctl={"values": {"kernel.randomize_va_space": value, "net.ipv4.ip_forward": "0"}})
    r = judge("kernel.sysctl", f)
    assert ("sysctl:kernel.randomize_va_space" not in failed_objects(r)) is ok
    router = target(sysctl={"net.ipv4.ip_forward": "1"})
    assert "sysctl:net.ipv4.ip_forward" in failed_objects(judge("kernel.sysctl", f, router))


def test_integrity_against_baseline() -> None:
    pol = {"integrity_paths": ["/etc/app"]}
    now_hashes = {"/etc/app/a": "1", "/etc/app/b": "2-changed", "/etc/app/new": "3"}
    f = facts(integrity={"hashes": now_hashes, "missing_roots": [], "errors": []})
    first = judge("files.integrity", f, target(**pol))
    assert first.passed and first.results[0].object == "integrity:baseline"
    base = {"/etc/app/a": "1", "/etc/app/b": "2", "/etc/app/gone": "4"}
    r = judge("files.integrity", f, target(**pol), base)
    assert failed_objects(r) == ["/etc/app/b", "/etc/app/gone", "/etc/app/new"]


def test_firewall_empty() -> None:
    assert not judge("net.firewall-empty", facts(firewall={"tool": "nft", "rules": 0, "policies": []})).passed
    assert judge(
        "net.firewall-empty", facts(firewall={"tool": "nft", "rules": 0, "policies": ["drop"]})
    ).passed
    assert not judge("net.firewall-empty", facts(firewall="neither nft nor iptables-save is installed")).ran


def test_every_check_has_a_chinese_and_a_russian_title() -> None:
    """Customers read check titles in security-finding messages and monthly reports, in their language."""
    missing = [
        f"{c.meta.id}: {lang.value}"
        for c in all_checks()
        for lang in (Language.ZH_CN, Language.RU)
        if not c.meta.title_i18n.get(lang, "").strip() or c.meta.title_i18n[lang] == c.meta.title
    ]
    assert missing == [], "security checks without a translated title (add title_i18n=...)"


def test_a_check_with_an_unknown_translation_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language 'de'"):
        check("test.bad-language", title="t", title_i18n={"de": "t"}, severity=FindingSeverity.LOW,
              rationale="", remediation="", needs=())  # fmt: skip
