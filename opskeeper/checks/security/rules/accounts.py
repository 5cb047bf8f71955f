"""Accounts: extra UID 0 accounts, empty passwords, passwords that never expire."""

from __future__ import annotations

from collections.abc import Iterator

from opskeeper.checks.security.model import CheckContext, CouldNotRun, Facts, ObjectResult
from opskeeper.checks.security.registry import check
from opskeeper.config.types import FindingSeverity


def _shadow(facts: Facts) -> dict[str, dict[str, str]]:
    shadow = facts.data("accounts")["shadow"]
    if shadow is None:
        raise CouldNotRun("/etc/shadow is not readable (needs root: set sudo: true for this host)")
    return shadow


@check(
    "accounts.uid0",
    title="Account other than root has UID 0",
    title_i18n={"zh-CN": "存在 UID 为 0 的非 root 账户", "ru": "Учётная запись, отличная от root, имеет UID 0"},
    severity=FindingSeverity.CRITICAL,
    rationale="A second UID 0 account is root under another name, a common way to keep access.",
    remediation="Remove the account or give it an unprivileged UID; grant rights through sudo instead.",
    needs=("accounts",),
)
def uid0(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    for u in facts.data("accounts")["users"]:
        if u["uid"] == 0:
            yield ObjectResult(f"user:{u['name']}", u["name"] == "root", f"uid 0, shell {u['shell']}")


@check(
    "accounts.empty-password",
    title="Account with an empty password",
    title_i18n={"zh-CN": "存在空密码账户", "ru": "Учётная запись с пустым паролем"},
    severity=FindingSeverity.CRITICAL,
    rationale="An empty password lets anyone log in as that account wherever passwords are accepted.",
    remediation="Lock the account (passwd -l NAME) or set a password.",
    needs=("accounts",),
)
def empty_password(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    shadow = _shadow(facts)
    users = facts.data("accounts")["users"]
    bad = {u["name"] for u in users if u["passwd"] == "empty"}
    bad |= {name for name, s in shadow.items() if s["state"] == "empty"}
    for name in sorted(bad):
        yield ObjectResult(f"user:{name}", False, "empty password")
    if not bad:
        yield ObjectResult("user:*", True, "no empty passwords")


@check(
    "accounts.password-ageing",
    title="Password never expires",
    title_i18n={"zh-CN": "密码永不过期", "ru": "Срок действия пароля не ограничен"},
    severity=FindingSeverity.LOW,
    rationale="Passwords without a maximum age stay valid forever after a leak.",
    remediation="Set a maximum age (chage -M 365 NAME) or lock the password and use keys.",
    needs=("accounts",),
)
def password_ageing(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    any_set = False
    for name, s in sorted(_shadow(facts).items()):
        if s["state"] != "set":
            continue
        any_set = True
        forever = s["max_days"] in ("", "99999")
        yield ObjectResult(f"user:{name}", not forever, f"max days {s['max_days'] or 'unset'}")
    if not any_set:
        yield ObjectResult("user:*", True, "no usable passwords")
