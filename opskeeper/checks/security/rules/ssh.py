"""sshd effective configuration (``sshd -T``): root login, password auth, weak algorithms, X11."""

from __future__ import annotations

from collections.abc import Iterator

from opskeeper.checks.security.model import CheckContext, Facts, ObjectResult
from opskeeper.checks.security.registry import check
from opskeeper.config.types import FindingSeverity

WEAK = {
    "ciphers": {"3des-cbc", "aes128-cbc", "aes192-cbc", "aes256-cbc", "blowfish-cbc", "cast128-cbc",
                "arcfour", "arcfour128", "arcfour256", "rijndael-cbc@lysator.liu.se"},
    "macs": {"hmac-md5", "hmac-md5-96", "hmac-md5-etm@openssh.com", "hmac-md5-96-etm@openssh.com",
             "hmac-sha1-96", "hmac-sha1-96-etm@openssh.com", "umac-64@openssh.com", "hmac-ripemd160"},
    "kexalgorithms": {"diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1",
                      "diffie-hellman-group-exchange-sha1"},
}  # fmt: skip


def _settings(facts: Facts) -> dict[str, str]:
    return facts.data("sshd")["settings"]


def _password_login(s: dict[str, str]) -> bool:
    return s.get("passwordauthentication") == "yes" or (
        s.get("kbdinteractiveauthentication", s.get("challengeresponseauthentication")) == "yes"
        and s.get("usepam") == "yes"
    )


@check(
    "ssh.root-login",
    title="SSH permits root login",
    title_i18n={"zh-CN": "SSH 允许 root 登录", "ru": "SSH разрешает вход под root"},
    severity=FindingSeverity.HIGH,
    rationale="Direct root logins bypass per-person accountability and give an attacker the whole host at once.",
    remediation="Set 'PermitRootLogin no' (or 'prohibit-password') in sshd_config and reload sshd.",
    needs=("sshd",),
)
def root_login(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    value = _settings(facts).get("permitrootlogin", "")
    yield ObjectResult("sshd:PermitRootLogin", value != "yes", f"PermitRootLogin {value}")


@check(
    "ssh.root-password-login",
    title="Root can log in over SSH with a password",
    title_i18n={"zh-CN": "root 可通过 SSH 使用密码登录", "ru": "Root может войти по SSH с паролем"},
    severity=FindingSeverity.CRITICAL,
    rationale="Root reachable by password is open to online guessing from anywhere that reaches port 22.",
    remediation="Set 'PermitRootLogin prohibit-password' or 'no', and 'PasswordAuthentication no'.",
    needs=("sshd",),
)
def root_password_login(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    s = _settings(facts)
    bad = s.get("permitrootlogin") == "yes" and _password_login(s)
    yield ObjectResult("sshd:root-password", not bad, f"PermitRootLogin {s.get('permitrootlogin')}")


@check(
    "ssh.password-auth",
    title="SSH accepts password authentication",
    title_i18n={"zh-CN": "SSH 允许密码认证", "ru": "SSH допускает аутентификацию по паролю"},
    severity=FindingSeverity.MEDIUM,
    rationale="Passwords can be guessed or phished; keys cannot be brute-forced over the network.",
    remediation="Set 'PasswordAuthentication no' and 'KbdInteractiveAuthentication no'; use keys.",
    needs=("sshd",),
)
def password_auth(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    s = _settings(facts)
    yield ObjectResult("sshd:PasswordAuthentication", not _password_login(s),
                       f"PasswordAuthentication {s.get('passwordauthentication')}")  # fmt: skip


@check(
    "ssh.weak-algorithms",
    title="SSH offers weak ciphers, MACs or key exchanges",
    title_i18n={
        "zh-CN": "SSH 提供弱加密算法、MAC 或密钥交换算法",
        "ru": "SSH предлагает слабые шифры, MAC или алгоритмы обмена ключами",
    },
    severity=FindingSeverity.MEDIUM,
    rationale="CBC ciphers, MD5/SHA-1-96 MACs and SHA-1 key exchanges have known practical weaknesses.",
    remediation="Restrict Ciphers, MACs and KexAlgorithms to modern defaults (remove the listed ones).",
    needs=("sshd",),
)
def weak_algorithms(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    s = _settings(facts)
    found = False
    for key, weak in WEAK.items():
        for alg in s.get(key, "").split(","):
            if alg in weak:
                found = True
                yield ObjectResult(f"sshd:{key}:{alg}", False, f"{key} offers {alg}")
    if not found:
        yield ObjectResult("sshd:algorithms", True)


@check(
    "ssh.x11-forwarding",
    title="SSH allows X11 forwarding",
    title_i18n={"zh-CN": "SSH 允许 X11 转发", "ru": "SSH разрешает перенаправление X11"},
    severity=FindingSeverity.LOW,
    rationale="X11 forwarding exposes the client's display to the server; servers rarely need it.",
    remediation="Set 'X11Forwarding no' in sshd_config.",
    needs=("sshd",),
)
def x11_forwarding(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    value = _settings(facts).get("x11forwarding", "no")
    yield ObjectResult("sshd:X11Forwarding", value != "yes", f"X11Forwarding {value}")
