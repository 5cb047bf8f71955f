"""Built-in actions of the quarterly and annual runbooks: inventory, certificates, assessment, upgrades."""

from __future__ import annotations

import json
from datetime import timedelta

from pydantic import Field
from sqlalchemy import select

from opskeeper.ledger.core import HealthSample
from opskeeper.runbook.actions import ActionContext, ActionOutcome, register
from opskeeper.runbook.params import ActionParams

_INVENTORY = r"""
import json, shutil, subprocess
def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
pk = []
if shutil.which("dpkg-query"):
    for line in run(["dpkg-query", "-W", "-f=${Package}\t${Version}\t${Status}\n"]).splitlines():
        p = line.split("\t")
        if len(p) == 3 and p[2].endswith("installed"):
            pk.append([p[0], p[1]])
    manager = "dpkg"
elif shutil.which("rpm"):
    for line in run(["rpm", "-qa", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"]).splitlines():
        p = line.split("\t")
        if len(p) == 2:
            pk.append(p)
    manager = "rpm"
else:
    manager = None
print(json.dumps({"manager": manager, "packages": sorted(pk)}))
"""


@register("inventory.packages")
def inventory_packages(ctx: ActionContext) -> ActionOutcome:
    """Installed packages with versions (dpkg or rpm), kept in the step's detail."""
    res = ctx.executor.run(["python3", "-c", _INVENTORY], timeout=ctx.timeout)
    if res.exit_code != 0:
        return ActionOutcome(False, f"inventory failed: {res.stderr.strip()[-300:]}", exit_code=res.exit_code)
    data = json.loads(res.stdout)
    n = len(data["packages"])
    if data["manager"] is None:
        return ActionOutcome(True, "no dpkg or rpm on this host: no package inventory", data)
    sample = ", ".join(f"{p} {v}" for p, v in data["packages"][:5])
    return ActionOutcome(True, f"{n} packages installed ({data['manager']}); e.g. {sample}", data)


_CERTS = r"""
import json, os, ssl, sys, time, tempfile
paths, warn_days = json.loads(sys.argv[1]), float(sys.argv[2])
out = []
def decode(path):
    try:
        return ssl._ssl._test_decode_cert(path)
    except Exception:
        return None
for root in paths:
    if not os.path.exists(root):
        continue
    files = [root] if os.path.isfile(root) else [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
    for f in files[:5000]:
        if not f.endswith((".pem", ".crt", ".cer", ".cert")) or not os.path.isfile(f):
            continue
        info = decode(f)
        if not info or "notAfter" not in info:
            continue
        left = (ssl.cert_time_to_seconds(info["notAfter"]) - time.time()) / 86400
        subject = ",".join("=".join(x) for rdn in info.get("subject", ()) for x in rdn)
        out.append({"path": f, "subject": subject, "not_after": info["notAfter"], "days_left": round(left, 1)})
print(json.dumps(out))
"""


class CertsParams(ActionParams):
    paths: list[str] = Field(default_factory=lambda: ["/etc/ssl/private"],
                             description="certificate files, or directories searched for .pem/.crt/.cer/.cert")
    warn_days: float = Field(30, ge=0, description="report certificates that expire within this many days")


@register("certs.expiry", CertsParams)
def certs_expiry(ctx: ActionContext) -> ActionOutcome:
    """Certificates on disk under the given paths that expire within ``warn_days``."""
    p = CertsParams.of(ctx)
    paths, warn_days = p.paths, p.warn_days
    res = ctx.executor.run(["python3", "-c", _CERTS, json.dumps(paths), str(warn_days)], timeout=ctx.timeout)
    if res.exit_code != 0:
        return ActionOutcome(
            False, f"certificate scan failed: {res.stderr.strip()[-300:]}", exit_code=res.exit_code
        )
    certs = json.loads(res.stdout)
    near = [c for c in certs if c["days_left"] <= warn_days]
    lines = [f"{len(certs)} certificates found, {len(near)} expire within {warn_days:g} days"]
    lines += [f"EXPIRING {c['path']} ({c['subject']}): {c['days_left']} days left" for c in near]
    return ActionOutcome(not near, "\n".join(lines), {"certificates": certs})


def _trend(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (value per day) of (day, value) points."""
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    var = sum((p[0] - mx) ** 2 for p in points)
    return 0.0 if var == 0 else sum((p[0] - mx) * (p[1] - my) for p in points) / var


class AssessmentParams(ActionParams):
    horizon_days: int = Field(365, ge=1, description="days of health samples the trends are drawn from")
    disk_limit_pct: float = Field(90, gt=0, le=100, description="used disk (%) the forecast counts days to")


@register("assessment.annual", AssessmentParams)
def assessment_annual(ctx: ActionContext) -> ActionOutcome:
    """Growth and forecast of disk, memory and load from a year of this host's health samples."""
    if ctx.ledger is None:
        return ActionOutcome(False, "no ledger: the assessment needs recorded health samples")
    p = AssessmentParams.of(ctx)
    since = ctx.now - timedelta(days=p.horizon_days)
    limit = p.disk_limit_pct
    metrics = ("disk.used_pct", "mem.used_pct", "load.5_per_cpu", "inodes.used_pct")
    with ctx.ledger.session() as s:
        rows = s.execute(
            select(HealthSample.metric, HealthSample.subject, HealthSample.taken_at, HealthSample.value)
            .where(HealthSample.host == ctx.host.name, HealthSample.taken_at >= since,
                   HealthSample.metric.in_(metrics))
            .order_by(HealthSample.taken_at)
        ).all()  # fmt: skip
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for metric, subject, at, value in rows:
        series.setdefault((metric, subject), []).append(((at - since).total_seconds() / 86400, value))
    lines, detail = [], []
    for (metric, subject), pts in sorted(series.items()):
        slope = _trend(pts) if len(pts) >= 2 else 0.0
        last = pts[-1][1]
        item = {"metric": metric, "subject": subject, "samples": len(pts), "first": pts[0][1], "last": last,
                "min": min(p[1] for p in pts), "max": max(p[1] for p in pts),
                "per_30_days": round(slope * 30, 3), "days_to_limit": None}  # fmt: skip
        if metric == "disk.used_pct" and slope > 0 and last < limit:
            item["days_to_limit"] = round((limit - last) / slope)
        detail.append(item)
        forecast = f", reaches {limit:g}% in ~{item['days_to_limit']} days" if item["days_to_limit"] else ""
        name = f"{metric} {subject}".strip()
        lines.append(
            f"{name}: {item['first']:g} -> {last:g} over {len(pts)} samples ({item['per_30_days']:+g}/30d){forecast}"
        )
    if len(rows) < 2:
        lines.insert(
            0, f"insufficient history: {len(rows)} samples in the last year; trends need two or more"
        )
    soon = [d for d in detail if isinstance(d["days_to_limit"], int) and d["days_to_limit"] < 90]
    lines.append(f"capacity: {len(soon)} filesystem(s) forecast to pass {limit:g}% within 90 days")
    return ActionOutcome(not soon, "\n".join(lines), {"trends": detail})


_UPGRADES = r"""
import json, re, shutil, subprocess, os
def major(v):
    m = re.match(r"(?:\d+:)?(\d+)", v)
    if m and len(m.group(1)) >= 4:
        return "date"  # a date-based version (tzdata 2025b, ca-certificates 20230311) has no major
    return m.group(1) if m else v
rel = {}
if os.path.exists("/etc/os-release"):
    for line in open("/etc/os-release"):
        k, _, v = line.strip().partition("=")
        rel[k] = v.strip('"')
out = {"release": rel.get("PRETTY_NAME", ""), "upgrades": [], "release_upgrade": None}
if shutil.which("apt-get"):
    sim = subprocess.run(["apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"], capture_output=True,
                         text=True, env={**os.environ, "LC_ALL": "C"}, timeout=120).stdout
    for m in re.finditer(r"^Inst (\S+) \[(\S+)\] \((\S+)", sim, re.M):
        name, old, new = m.groups()
        out["upgrades"].append({"package": name, "from": old, "to": new, "major": major(old) != major(new)})
if shutil.which("do-release-upgrade"):
    r = subprocess.run(["do-release-upgrade", "-c"], capture_output=True, text=True, timeout=120)
    out["release_upgrade"] = (r.stdout + r.stderr).strip()[-500:]
print(json.dumps(out))
"""


@register("upgrades.major")
def upgrades_major(ctx: ActionContext) -> ActionOutcome:
    """Upgradable packages whose major version changes, and whether a new OS release is offered."""
    res = ctx.executor.run(["python3", "-c", _UPGRADES], timeout=ctx.timeout)
    if res.exit_code != 0:
        return ActionOutcome(
            False, f"upgrade survey failed: {res.stderr.strip()[-300:]}", exit_code=res.exit_code
        )
    data = json.loads(res.stdout)
    majors = [u for u in data["upgrades"] if u["major"]]
    lines = [
        f"release: {data['release']}",
        f"{len(data['upgrades'])} upgradable packages, {len(majors)} major",
    ]
    lines += [f"MAJOR {u['package']}: {u['from']} -> {u['to']}" for u in majors[:50]]
    if data["release_upgrade"]:
        lines.append(f"release upgrade: {data['release_upgrade']}")
    return ActionOutcome(True, "\n".join(lines), data)
