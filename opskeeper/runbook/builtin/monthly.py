"""Built-in actions of the monthly check: health, services, database optimisation."""

from __future__ import annotations

import json
import shlex
import socket
import urllib.error
import urllib.request

from opskeeper.checks import health
from opskeeper.checks.facts import HostFacts, collect_local
from opskeeper.remote.local import LocalExecutor
from opskeeper.runbook.actions import ActionContext, ActionOutcome, register
from opskeeper.runbook.params import ActionParams


def collect_facts(ctx: ActionContext) -> HostFacts:
    """Facts of the step's host: psutil here, a stdlib-only script over SSH elsewhere."""
    if isinstance(ctx.executor, LocalExecutor):
        return collect_local()
    from opskeeper.checks import facts_remote  # SSH path only; keeps the local path light

    return facts_remote.collect(ctx.executor, timeout=ctx.timeout)


class HealthParams(ActionParams, health.Thresholds):
    """The grading thresholds; fields, types and defaults are those of ``health.Thresholds``."""

    descriptions = {
        "disk_warn_pct": "used space of a mount (%) that warns",
        "disk_crit_pct": "used space of a mount (%) that is critical",
        "inode_warn_pct": "used inodes of a mount (%) that warn",
        "inode_crit_pct": "used inodes of a mount (%) that are critical",
        "mem_warn_pct": "used memory (%) that warns",
        "mem_crit_pct": "used memory (%) that is critical",
        "swap_warn_pct": "used swap (%) that warns",
        "swap_crit_pct": "used swap (%) that is critical",
        "load_per_cpu_warn": "5-minute load per CPU that warns",
        "load_per_cpu_crit": "5-minute load per CPU that is critical",
        "required_processes": "process names that must be running",
    }


@register("health.collect", HealthParams)
def health_collect(ctx: ActionContext) -> ActionOutcome:
    """Collect facts, grade them against thresholds, keep samples for the annual trend."""
    thresholds = HealthParams.of(ctx)
    facts = collect_facts(ctx)
    results = health.evaluate(facts, thresholds)
    lines = [f"{r.level.value.upper():4} {r.message}" for r in results]
    crit = [r for r in results if r.level is health.Level.CRIT]
    warn = [r for r in results if r.level is health.Level.WARN]
    lines.append(f"{len(results)} checks: {len(crit)} critical, {len(warn)} warnings")
    detail = {
        "facts": {k: v for k, v in facts.to_json().items() if k != "processes"},
        "results": [
            {
                "check": r.check,
                "subject": r.subject,
                "level": r.level.value,
                "value": r.value,
                "message": r.message,
            }
            for r in results
        ],
    }
    return ActionOutcome(not crit, "\n".join(lines), detail, samples=tuple(health.samples(facts)))


def _port_open(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _http_status(url: str, timeout: float) -> int | str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - URL from the estate
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except (urllib.error.URLError, OSError) as e:
        return f"unreachable ({getattr(e, 'reason', e)})"


@register("service.check")
def service_check(ctx: ActionContext) -> ActionOutcome:
    """Each configured service of this host: process running, TCP port accepting, HTTP status as expected."""
    lines, results, ok = [], [], True
    for svc in ctx.system.services:
        if svc.hosts and ctx.host.name not in svc.hosts:
            continue
        if not svc.hosts and ctx.host.role != "primary":
            continue
        checks: list[tuple[str, bool, str]] = []
        if svc.process:
            res = ctx.executor.run(["pgrep", "-x", svc.process], timeout=ctx.timeout)
            checks.append(("process", res.exit_code == 0, svc.process))
        if svc.port:
            # The port is probed from the host itself, so a firewall between us does not mislead.
            probe = (
                f"exec 3<>/dev/tcp/127.0.0.1/{svc.port}" if isinstance(ctx.executor, LocalExecutor) else None
            )
            if probe is None:
                res = ctx.executor.run(
                    ["python3", "-c", "import socket,sys;socket.create_connection(('127.0.0.1',int(sys.argv[1])),5)",
                     str(svc.port)], timeout=ctx.timeout)  # fmt: skip
                up = res.exit_code == 0
            else:
                up = _port_open("127.0.0.1", svc.port, 5)
            checks.append(("port", up, str(svc.port)))
        if svc.http:
            status = _http_status(svc.http, min(ctx.timeout, 10))
            checks.append(("http", status == svc.expect_status, f"{svc.http} -> {status}"))
        for kind, good, what in checks:
            ok &= good
            lines.append(f"{'OK  ' if good else 'FAIL'} {svc.name} {kind} {what}")
            results.append({"service": svc.name, "check": kind, "ok": good, "what": what})
    if not results:
        lines.append("no services configured for this host")
    return ActionOutcome(ok, "\n".join(lines), {"services": results})


_SQLITE_VACUUM = """
import sqlite3, sys, os, json
out = []
for path in sys.argv[1:]:
    if not os.path.exists(path):
        out.append({"db": path, "ok": False, "error": "not found"}); continue
    before = os.path.getsize(path)
    try:
        con = sqlite3.connect(path, timeout=30)
        ok = con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.execute("VACUUM"); con.execute("ANALYZE"); con.close()
        out.append({"db": path, "ok": ok, "before": before, "after": os.path.getsize(path)})
    except sqlite3.Error as e:
        out.append({"db": path, "ok": False, "error": str(e)})
print(json.dumps(out))
"""


@register("db.optimise")
def db_optimise(ctx: ActionContext) -> ActionOutcome:
    """VACUUM/ANALYZE the system's SQLite files and PostgreSQL databases, with an integrity check first."""
    opt = ctx.system.optimisation
    lines, detail, ok = [], [], True
    if opt.sqlite_databases:
        res = ctx.executor.run(["python3", "-c", _SQLITE_VACUUM, *opt.sqlite_databases], timeout=ctx.timeout)
        if res.exit_code != 0:
            return ActionOutcome(
                False, f"sqlite optimise failed: {res.stderr.strip()[-500:]}", exit_code=res.exit_code
            )
        for item in json.loads(res.stdout or "[]"):
            ok &= bool(item["ok"])
            detail.append(item)
            if item["ok"]:
                lines.append(f"OK   sqlite {item['db']}: {item['before']} -> {item['after']} bytes")
            else:
                lines.append(f"FAIL sqlite {item['db']}: {item.get('error', 'integrity check failed')}")
    for db in opt.postgres_databases:
        cmd = f"vacuumdb --analyze --quiet {shlex.quote(db)}"
        res = ctx.executor.run(cmd, timeout=ctx.timeout, sudo=ctx.sudo)
        ok &= res.ok
        lines.append(
            f"{'OK  ' if res.ok else 'FAIL'} postgres {db}: vacuum analyze {res.stderr.strip()[-200:]}"
        )
        detail.append({"db": db, "ok": res.ok})
    if not lines:
        lines.append("no databases configured")
    return ActionOutcome(ok, "\n".join(lines), {"databases": detail})
