"""Built-in actions of the quarterly and annual runbooks: inventory, certificates, assessment, upgrades."""

from __future__ import annotations

import json
from datetime import timedelta

from pydantic import Field

from opskeeper.ledger.runs import host_health
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
import json, os, ssl, sys
paths, warn_days, now = json.loads(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
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
        left = (ssl.cert_time_to_seconds(info["notAfter"]) - now) / 86400
        subject = ",".join("=".join(x) for rdn in info.get("subject", ()) for x in rdn)
        out.append({"path": f, "subject": subject, "not_after": info["notAfter"], "days_left": round(left, 1)})
print(json.dumps(out))
"""


class CertsParams(ActionParams):
    paths: list[str] = Field(
        default_factory=lambda: ["/etc/ssl/private"],
        description="certificate files, or directories searched for .pem/.crt/.cer/.cert",
    )
    warn_days: float = Field(30, ge=0, description="report certificates that expire within this many days")


@register("certs.expiry", CertsParams)
def certs_expiry(ctx: ActionContext) -> ActionOutcome:
    """Certificates on disk under the given paths that expire within ``warn_days``."""
    p = CertsParams.of(ctx)
    paths, warn_days = p.paths, p.warn_days
    # Days left are counted from the run's time, not the host's clock (a run made "at" a date, a skewed host).
    argv = ["python3", "-c", _CERTS, json.dumps(paths), str(warn_days), str(ctx.now.timestamp())]
    res = ctx.executor.run(argv, timeout=ctx.timeout)
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
    min_history_days: float = Field(
        30,
        gt=0,
        description="a trend needs samples spanning at least this many days; less is 'not enough history'",
    )


_METRICS = ("disk.used_pct", "mem.used_pct", "load.5_per_cpu", "inodes.used_pct")
_ALARM_DAYS = 90  # a filesystem forecast to fill within this many days fails the assessment


def _span(days: float) -> str:
    if days < 1 / 24:
        return f"{days * 1440:.0f} min"
    return f"{days * 24:.1f} h" if days < 2 else f"{days:.0f} days"


def _assess(
    metric: str, subject: str, pts: list[tuple[float, float]], p: AssessmentParams
) -> tuple[dict, str]:
    """One series' trend and forecast (the detail item and its line); none from too short a history."""
    span, first, last = pts[-1][0] - pts[0][0], pts[0][1], pts[-1][1]
    enough = len(pts) >= 2 and span >= p.min_history_days
    slope = _trend(pts) if enough else 0.0
    item = {"metric": metric, "subject": subject, "samples": len(pts), "span_days": round(span, 3),
            "enough_history": enough, "first": first, "last": last, "min": min(v for _, v in pts),
            "max": max(v for _, v in pts), "per_30_days": round(slope * 30, 3) if enough else None,
            "days_to_limit": None}  # fmt: skip
    name = f"{metric} {subject}".strip()
    if not enough:
        why = f"not enough history for a trend (needs {p.min_history_days:g} days)"
        return item, f"{name}: {first:g} -> {last:g} over {len(pts)} samples in {_span(span)}: {why}"
    if metric == "disk.used_pct" and slope > 0 and last < p.disk_limit_pct:
        item["days_to_limit"] = round((p.disk_limit_pct - last) / slope)
    forecast = (
        f", reaches {p.disk_limit_pct:g}% in ~{item['days_to_limit']} days" if item["days_to_limit"] else ""
    )
    line = f"{name}: {first:g} -> {last:g} over {len(pts)} samples ({item['per_30_days']:+g}/30d){forecast}"
    return item, line


@register("assessment.annual", AssessmentParams)
def assessment_annual(ctx: ActionContext) -> ActionOutcome:
    """Growth and forecast of disk, memory and load from a year of this host's health samples.

    A series whose samples span less than ``min_history_days`` gets no trend and no forecast (two
    samples minutes apart say nothing about a year); with no series long enough the assessment is
    "not enough history", which is a result, not a failure.
    """
    if ctx.ledger is None:
        return ActionOutcome(False, "no ledger: the assessment needs recorded health samples")
    p = AssessmentParams.of(ctx)
    since = ctx.now - timedelta(days=p.horizon_days)
    rows = host_health(ctx.ledger, ctx.host.name, _METRICS, since, ctx.now)
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in rows:
        series.setdefault((r.metric, r.subject), []).append(((r.taken_at - since).total_seconds() / 86400, r.value))
    assessed = [_assess(metric, subject, pts, p) for (metric, subject), pts in sorted(series.items())]
    detail = [item for item, _ in assessed]
    lines = [line for _, line in assessed]
    if not any(item["enough_history"] for item in detail):
        longest = max((item["span_days"] for item in detail), default=0.0)
        lines.insert(
            0,
            f"not enough history: {len(rows)} samples spanning {_span(longest)} in the last {p.horizon_days} days; "
            f"trends and forecasts need {p.min_history_days:g} days",
        )
        return ActionOutcome(True, "\n".join(lines), {"trends": detail, "enough_history": False})
    soon = [d for d in detail if isinstance(d["days_to_limit"], int) and d["days_to_limit"] < _ALARM_DAYS]
    lines.append(
        f"capacity: {len(soon)} filesystem(s) forecast to pass {p.disk_limit_pct:g}% within {_ALARM_DAYS} days"
    )
    return ActionOutcome(not soon, "\n".join(lines), {"trends": detail, "enough_history": True})


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
