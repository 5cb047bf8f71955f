"""Files: SUID/SGID binaries outside the allow-list, world-writable paths, integrity against a baseline."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatch

from opskeeper.checks.security.model import CheckContext, CouldNotRun, Facts, ObjectResult
from opskeeper.checks.security.registry import check
from opskeeper.config.types import FindingSeverity

# SUID/SGID programs Debian, Ubuntu and RHEL ship on purpose; a system adds its own in suid_allowlist.
DISTRO_SUID = (
    "/usr/bin/passwd", "/usr/bin/su", "/usr/bin/sudo", "/usr/bin/sudoedit", "/usr/bin/mount",
    "/usr/bin/umount", "/usr/bin/chsh", "/usr/bin/chfn", "/usr/bin/gpasswd", "/usr/bin/newgrp",
    "/usr/bin/chage", "/usr/bin/expiry", "/usr/bin/crontab", "/usr/bin/wall", "/usr/bin/write*",
    "/usr/bin/ssh-agent", "/usr/bin/fusermount*", "/usr/bin/pkexec", "/usr/bin/at", "/usr/bin/dotlockfile",
    "/usr/bin/bsd-write", "/usr/bin/mlocate", "/usr/bin/plocate", "/usr/sbin/unix_chkpwd", "/usr/sbin/pam_*",
    "/usr/lib/openssh/ssh-keysign", "/usr/libexec/openssh/ssh-keysign", "/usr/lib/dbus-1.0/dbus-daemon-launch-helper",
    "/usr/libexec/dbus-daemon-launch-helper", "/usr/lib/polkit-1/polkit-agent-helper-1",
    "/usr/libexec/polkit-agent-helper-1", "/usr/lib/*/utempter/utempter", "/usr/libexec/utempter/utempter",
    "/usr/sbin/postdrop", "/usr/sbin/postqueue", "/usr/lib/eject/dmcrypt-get-device", "/usr/sbin/exim4",
    "/bin/su", "/bin/mount", "/bin/umount", "/bin/fusermount*", "/sbin/unix_chkpwd",
)  # fmt: skip


def _allowed(path: str, patterns: list[str]) -> bool:
    return any(fnmatch(path, p) for p in (*DISTRO_SUID, *patterns))


@check(
    "files.suid",
    title="SUID/SGID program outside the allow-list",
    title_i18n={"zh-CN": "存在允许列表之外的 SUID/SGID 程序", "ru": "Программа с SUID/SGID вне списка разрешённых"},
    severity=FindingSeverity.HIGH,
    rationale="A set-uid program runs with its owner's rights; an unexpected one is a classic backdoor.",
    remediation="Remove the set-uid/set-gid bit (chmod u-s,g-s FILE) or, if it is intended, allow-list it.",
    needs=("suid",),
)
def suid_files(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    data = facts.data("suid")
    for f in data["files"]:
        ok = _allowed(f["path"], ctx.policy.suid_allowlist)
        yield ObjectResult(f["path"], ok, f"mode {f['mode']} owner {f['owner']}")
    if not data["files"]:
        yield ObjectResult("suid:*", True, "no set-uid/set-gid files")


@check(
    "files.world-writable",
    title="World-writable file or directory without the sticky bit",
    title_i18n={"zh-CN": "存在未设置粘滞位的全局可写文件或目录", "ru": "Доступный всем на запись файл или каталог без sticky-бита"},
    severity=FindingSeverity.MEDIUM,
    rationale="Anyone on the host can replace or plant content there, e.g. a script root later runs.",
    remediation="chmod o-w the path (or add the sticky bit to a shared directory: chmod +t).",
    needs=("world_writable",),
)
def world_writable(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    data = facts.data("world_writable")
    for f in data["files"]:
        kind = "directory" if f["type"] == "d" else "file"
        yield ObjectResult(f["path"], False, f"{kind} mode {f['mode']} owner {f['owner']}")
    if not data["files"]:
        yield ObjectResult(
            "world-writable:*", True, "none under " + ", ".join(ctx.policy.world_writable_paths)
        )


@check(
    "files.integrity",
    title="Monitored file changed since the baseline",
    title_i18n={"zh-CN": "受监控文件自基线以来已被修改", "ru": "Контролируемый файл изменён с момента снятия эталона"},
    severity=FindingSeverity.HIGH,
    rationale="Unexplained changes to binaries or configuration are a sign of tampering or drift.",
    remediation="Find out who changed it and why; restore it, or record a new baseline (scan rebaseline).",
    needs=("integrity",),
)
def integrity(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    data = facts.data("integrity")
    if not ctx.policy.integrity_paths:
        return
    current: dict[str, str] = data["hashes"]
    if data["errors"] and not current:
        raise CouldNotRun("; ".join(data["errors"][:3]))
    baseline = ctx.baseline
    if not baseline:
        yield ObjectResult("integrity:baseline", True, f"baseline recorded for {len(current)} files")
        return
    for path in sorted(set(baseline) | set(current)):
        if path not in current:
            yield ObjectResult(path, False, "missing (was in the baseline)")
        elif path not in baseline:
            yield ObjectResult(path, False, "added after the baseline")
        else:
            same = baseline[path] == current[path]
            yield ObjectResult(path, same, "unchanged" if same else "content changed")
