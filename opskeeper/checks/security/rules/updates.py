"""Pending security updates from the package manager's local lists (no network on the host)."""

from __future__ import annotations

from collections.abc import Iterator

from opskeeper.checks.security.model import CheckContext, Facts, ObjectResult
from opskeeper.checks.security.registry import check
from opskeeper.config.types import FindingSeverity


@check(
    "updates.security",
    title="Security update pending",
    title_i18n={"zh-CN": "有待安装的安全更新", "ru": "Не установлены обновления безопасности"},
    severity=FindingSeverity.HIGH,
    rationale="Published security fixes are what attackers scan for first.",
    remediation="Apply the update in the next maintenance window (apt-get upgrade / dnf upgrade --security).",
    needs=("updates",),
)
def security_updates(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    data = facts.data("updates")
    pending = [p for p in data["packages"] if p["security"]]
    for p in sorted(pending, key=lambda p: p["package"]):
        yield ObjectResult(
            f"pkg:{p['package']}", False, f"{p['installed']} -> {p['candidate']} ({p['origin']})"
        )
    if not pending:
        yield ObjectResult("pkg:*", True, f"no pending security updates ({data['manager']})")
