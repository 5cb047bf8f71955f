"""Network exposure: listening ports against the allowed list, firewall ruleset, kernel settings."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from opskeeper.checks.security.model import CheckContext, CouldNotRun, Facts, ObjectResult
from opskeeper.checks.security.registry import check
from opskeeper.config.types import FindingSeverity


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return address == "localhost"


@check(
    "net.unexpected-port",
    title="Unexpected listening TCP port",
    title_i18n={"zh-CN": "存在意外监听的 TCP 端口", "ru": "Неожиданный открытый TCP-порт"},
    severity=FindingSeverity.HIGH,
    rationale="Every reachable service is attack surface; one nobody expects is usually also unmaintained.",
    remediation="Stop the service or bind it to loopback; if it is wanted, add the port to allowed_ports.",
    needs=("listening",),
)
def unexpected_port(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    allowed = set(ctx.policy.allowed_ports) | set(ctx.target.service_ports)
    seen: dict[int, set[str]] = {}
    for sock in facts.data("listening")["sockets"]:
        if ctx.policy.ignore_loopback and _loopback(sock["address"]):
            continue
        seen.setdefault(sock["port"], set()).add(sock.get("process") or "?")
    for port in sorted(seen):
        procs = ",".join(sorted(seen[port]))
        yield ObjectResult(f"tcp/{port}", port in allowed, f"listening: {procs}")
    if not seen:
        yield ObjectResult("tcp/*", True, "no exposed listeners")


@check(
    "net.firewall-empty",
    title="Firewall ruleset is empty",
    title_i18n={"zh-CN": "防火墙规则集为空", "ru": "Набор правил межсетевого экрана пуст"},
    severity=FindingSeverity.MEDIUM,
    rationale="Without a packet filter every listening service is reachable, including ones started by mistake.",
    remediation="Load a default-deny nftables ruleset that admits only the system's service ports.",
    needs=("firewall",),
)
def firewall_empty(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    fw = facts.data("firewall")
    restrictive = any(p.lower() in ("drop", "reject") for p in fw["policies"])
    ok = fw["rules"] > 0 or restrictive
    yield ObjectResult("firewall:ruleset", ok, f"{fw['tool']}: {fw['rules']} rules")


@check(
    "kernel.sysctl",
    title="Kernel setting differs from the hardened value",
    title_i18n={"zh-CN": "内核参数与安全加固值不一致", "ru": "Параметр ядра отличается от значения для защищённой системы"},
    severity=FindingSeverity.MEDIUM,
    rationale="Address-space randomisation, link protections and no ICMP redirects blunt common exploits.",
    remediation="Set the expected value in /etc/sysctl.d/90-hardening.conf and run 'sysctl --system'.",
    needs=("sysctl",),
)
def sysctl_values(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    values = facts.data("sysctl")["values"]
    expected = ctx.policy.expected_sysctl()
    if all(values.get(k) is None for k in expected):
        raise CouldNotRun("no sysctl value could be read")
    for key, want in sorted(expected.items()):
        have = values.get(key)
        if have is None:
            continue  # not present on this kernel: nothing to judge
        yield ObjectResult(f"sysctl:{key}", have == want, f"{key} = {have} (expected {want})")
