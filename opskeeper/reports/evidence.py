"""The evidence pack of one customer for auditors: one ZIP, every file hashed in MANIFEST.json.

Contents: the monthly reports of the range (md + html), the drill reports, the
customer's audit-trail entries (JSONL, as recorded, so each entry's hash can be
recomputed), the chain index (seq, prev_hash, hash of *every* entry, no content)
with a verification result, runs with steps, findings and scans, the snapshot
catalog and the notifications (without ack tokens).

The manifest carries the audit chain's head (seq and hash) at export time. It is
an anchor outside the ledger: an auditor holding an older pack checks with
:func:`verify_pack` that its head is still in today's chain index and that the
links hold, so a later wipe or rewrite of the chain is detected.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from opskeeper.config.estate import Customer, Estate
from opskeeper.config.notify import stored_endpoint
from opskeeper.errors import InputError
from opskeeper.ledger import Ledger
from opskeeper.ledger.audit import GENESIS
from opskeeper.ledger.reports import EvidenceRows, evidence_rows
from opskeeper.reports import drill as drill_report
from opskeeper.reports import monthly

FORMAT = "opskeeper-evidence"
VERSION = 1
MANIFEST = "MANIFEST.json"
HASH_RECIPE = (
    "sha256 of json.dumps([prev_hash, seq, at, actor, action, subject, details], sort_keys=True, "
    "separators=(',', ':'), ensure_ascii=False) encoded as UTF-8; at is the ISO 8601 string as exported"
)


class EvidenceError(InputError):
    """The pack cannot be written where asked, or a pack to check is not one."""


@dataclass(frozen=True)
class PackResult:
    path: Path
    files: int
    head_seq: int
    head_hash: str
    chain_ok: bool
    months: list[str]


def build_pack(
    estate: Estate, ledger: Ledger, customer_id: str, out: Path, *, since: date | None = None,
    now: datetime | None = None,
) -> PackResult:  # fmt: skip
    """Write the evidence pack atomically (a temp file beside ``out``, then rename)."""
    customer = monthly.find_customer(estate, customer_id)
    now = now or ledger.now()
    clean = monthly.Scrubber(customer)
    files: dict[str, bytes] = {}
    rows = evidence_rows(ledger, customer.id, [x.id for x in customer.systems])
    start = _since_instant(rows, customer, since, now)
    chain = _chain(rows, customer, start, clean)
    files["audit/audit.jsonl"] = "".join(
        json.dumps(e, ensure_ascii=False) + "\n" for e in chain.entries
    ).encode()
    files["audit/chain.jsonl"] = "".join(json.dumps(e) + "\n" for e in chain.index).encode()
    files["audit/verification.json"] = _json(chain.verification)
    files["runs.json"] = _json(clean_data(_runs(rows, start), clean))
    files["findings.json"] = _json(clean_data(_findings(rows, start, now), clean))
    files["snapshots.json"] = _json(clean_data(_snapshots(rows), clean))
    files["notifications.json"] = _json(clean_data(_notifications(rows, start), clean))
    drill_ids = [d.id for d in rows.drills if d.started_at >= start]
    for drill_id in drill_ids:
        report = drill_report.build(ledger, drill_id)
        files[f"drills/drill-{drill_id}.html"] = clean(drill_report.render(report, "html")).encode()
        files[f"drills/drill-{drill_id}.json"] = clean(drill_report.render(report, "json")).encode()
    months = list(_months(start, now, customer.timezone))
    for month in months:
        rep = monthly.build(estate, ledger, customer.id, month, now=now)
        for fmt in monthly.FORMATS:
            files[f"reports/monthly-{month}.{fmt}"] = monthly.render(rep, fmt).encode()
    manifest = {
        "format": FORMAT, "version": VERSION, "customer": customer.id, "generated_at": now.isoformat(),
        "since": start.isoformat(), "until": now.isoformat(), "timezone": customer.timezone,
        "audit": {k: chain.verification[k] for k in ("head_seq", "head_hash", "chain_ok", "entries_checked")},
        "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                  for name, data in sorted(files.items())},
    }  # fmt: skip
    files[MANIFEST] = _json(manifest)
    _write_zip_atomically(out, files)
    v = chain.verification
    return PackResult(out, len(files), v["head_seq"], v["head_hash"], v["chain_ok"], months)


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, default=_default) + "\n").encode()


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def clean_data(value: Any, clean: monthly.Scrubber) -> Any:
    """Scrub every string in JSON-like data (secrets, private strings)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {k: clean_data(v, clean) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_data(v, clean) for v in value]
    return value


def _write_zip_atomically(out: Path, files: dict[str, bytes]) -> None:
    out = out.resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        # the temp file sits beside the pack: os.replace is atomic only within one file system
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as e:
        raise EvidenceError(f"cannot write the evidence pack {out}: {e.strerror}") from e
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for name, data in files.items():
                    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible entries
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    zf.writestr(info, data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise EvidenceError(f"cannot write the evidence pack {out}: {e.strerror}") from e
        raise


# -- range --------------------------------------------------------------------------------------------------


def _since_instant(rows: EvidenceRows, customer: Customer, since: date | None, now: datetime) -> datetime:
    """Midnight of ``since`` in the customer's zone; by default the start of the customer's first month."""
    zone = ZoneInfo(customer.timezone)
    if since is None:
        first = min((r.started_at for r in rows.runs), default=None)
        local = (first or now).astimezone(zone)
        since = date(local.year, local.month, 1)
    return datetime(since.year, since.month, since.day, tzinfo=zone).astimezone(UTC)


def _months(start: datetime, end: datetime, tz: str) -> Iterator[str]:
    zone = ZoneInfo(tz)
    a, b = start.astimezone(zone), end.astimezone(zone)
    y, m = a.year, a.month
    while (y, m) <= (b.year, b.month):
        yield f"{y:04d}-{m:02d}"
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


# -- the audit trail ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    entries: list[dict[str, Any]]
    index: list[list[Any]]  # [seq, prev_hash, hash] of every entry
    verification: dict[str, Any]


def _chain(rows: EvidenceRows, customer: Customer, start: datetime, clean: monthly.Scrubber) -> Chain:
    trail = rows.audit
    ours = _subjects(rows, customer)
    hosts = {h.name for sys in customer.systems for h in sys.hosts}
    entries, index = [], []
    for e in trail.entries:
        index.append([e.seq, e.prev_hash, e.hash])
        details = e.details if isinstance(e.details, dict) else {}
        mine = (e.subject in ours or e.subject.split(":")[0] in hosts or e.subject.startswith(f"{customer.id}/")
                or details.get("customer") == customer.id)  # fmt: skip
        if mine and e.at >= start:
            entry = {
                "seq": e.seq,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "details": e.details,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            shown = clean_data(entry, clean)
            # Exported as recorded so the hash can be recomputed; an entry that held a secret or a private
            # string (registered after it was written) is masked and says so: its hash no longer recomputes.
            entries.append(entry if shown == entry else {**shown, "masked_in_export": True})
    verification = {
        "verified_at": trail.verified_at.isoformat(),
        "chain_ok": not trail.problems,
        "entries_checked": trail.checked,
        "problems": [{"seq": p.seq, "problem": p.problem} for p in trail.problems],
        "head_seq": trail.head_seq,
        "head_hash": trail.head_hash,
        "customer_entries": len(entries),
        "hash_recipe": HASH_RECIPE,
    }
    return Chain(entries, index, verification)


def _subjects(rows: EvidenceRows, customer: Customer) -> set[str]:
    out = {f"customer:{customer.id}"}
    out |= {f"run/{r.id}" for r in rows.runs}
    out |= {f"drill:{d.id}" for d in rows.drills}
    out |= {f"notification:{n.id}" for n in rows.notifications}
    out |= {f"snapshot:{x.snapshot_id}" for x in rows.snapshots}
    for system in customer.systems:
        out.add(f"system:{system.id}")
        out |= {f"target:{t}" for t in (system.backup.targets if system.backup else [])}
        out |= {f"host:{h.name}" for h in system.hosts}
    return out


def entry_hash(entry: dict[str, Any]) -> str:
    """Recompute an exported entry's hash (the ledger's own recipe, from the exported fields)."""
    payload = json.dumps(
        [entry["prev_hash"], entry["seq"], entry["at"], entry["actor"], entry["action"], entry["subject"],
         entry["details"]],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    )  # fmt: skip
    return hashlib.sha256(payload.encode()).hexdigest()


# -- records ------------------------------------------------------------------------------------------------


def _runs(rows: EvidenceRows, start: datetime) -> list[dict[str, Any]]:
    return [
        {"id": r.id, "kind": r.kind, "cadence": r.cadence, "system": r.system_id, "period": r.period,
         "trigger": r.trigger, "triggered_by": r.triggered_by, "flow_run_id": r.flow_run_id, "dry_run": r.dry_run,
         "force_window": r.force_window, "started_at": r.started_at, "ended_at": r.ended_at, "status": r.status,
         "reason": r.reason, "summary": r.summary,
         "steps": [{"runbook": st.runbook, "step": st.step, "host": st.host, "started_at": st.started_at,
                    "ended_at": st.ended_at, "duration_s": st.duration_s, "status": st.status,
                    "attempts": st.attempts, "exit_code": st.exit_code, "output": st.output, "error": st.error,
                    "detail": st.detail} for st in r.steps]}
        for r in rows.runs if r.started_at >= start
    ]  # fmt: skip


def _findings(rows: EvidenceRows, start: datetime, now: datetime) -> dict[str, Any]:
    findings = [f.as_dict(now) for f in rows.findings if f.unresolved or f.last_seen >= start]
    scans = [x for x in rows.scans if x.started_at >= start]
    return {
        "findings": findings,
        "scans": [{"id": x.id, "run_id": x.run_id, "system": x.system_id, "host": x.host,
                   "started_at": x.started_at, "ended_at": x.ended_at, "status": x.status, "error": x.error,
                   "score": x.score, "checks_run": x.checks_run, "checks_total": x.checks_total}
                  for x in scans],
    }  # fmt: skip


def _snapshots(rows: EvidenceRows) -> list[dict[str, Any]]:
    fields = ("snapshot_id", "target", "system_id", "dataset", "host", "source_kind", "source", "taken_at",
              "files", "bytes", "new_bytes", "stored_bytes", "run_id", "recorded_at", "forgotten_at",
              "last_verified_at", "verify_status")  # fmt: skip
    # the whole catalog: a snapshot taken before the range still backs restores inside it
    return [{f: getattr(x, f) for f in fields} for x in rows.snapshots]


def _notifications(rows: EvidenceRows, start: datetime) -> list[dict[str, Any]]:
    out = []
    for n in (n for n in rows.notifications if n.created_at >= start):
        address = stored_endpoint(n.channel, n.address, n.transport).shown()  # the endpoint kind redacts
        row = {"id": n.id, "event": n.event, "severity": n.severity, "drill": n.drill, "topic": n.topic,
               "dedup_key": n.dedup_key, "contact": n.contact_name, "role": n.contact_role, "level": n.level,
               "channel": n.channel, "transport": n.transport, "address": address, "language": n.language,
               "subject": n.subject, "body_text": n.body_text, "message_id": n.message_id,
               "ack_required": n.ack_required, "created_at": n.created_at, "deadline_at": n.deadline_at,
               "status": n.status, "attempts": n.attempts, "sent_at": n.sent_at, "failure": n.failure,
               "acked_at": n.acked_at, "acked_by": n.acked_by, "escalation_level": n.escalation_level,
               "escalated_at": n.escalated_at, "breached_at": n.breached_at}  # fmt: skip
        # The ack token is a bearer credential (anyone holding it can acknowledge): never exported.
        out.append(_strip(row, n.token))
    return out


def _strip(value: Any, token: str) -> Any:
    if isinstance(value, str):
        return value.replace(token, "***") if token else value
    if isinstance(value, dict):
        return {k: _strip(v, token) for k, v in value.items()}
    return value


# -- checking a pack ----------------------------------------------------------------------------------------


def verify_pack(path: Path, previous: Path | None = None) -> list[str]:
    """Problems found in a pack (empty: all good); with ``previous``, also that its head is still in the chain."""
    problems: list[str] = []
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read(MANIFEST))
            for name, meta in manifest["files"].items():
                if hashlib.sha256(zf.read(name)).hexdigest() != meta["sha256"]:
                    problems.append(f"{name}: SHA-256 does not match the manifest")
            extra = set(zf.namelist()) - set(manifest["files"]) - {MANIFEST}
            problems += [f"{name}: not in the manifest" for name in sorted(extra)]
            index = [json.loads(x) for x in zf.read("audit/chain.jsonl").decode().splitlines()]
            entries = [json.loads(x) for x in zf.read("audit/audit.jsonl").decode().splitlines()]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise EvidenceError(f"{path} is not a readable evidence pack: {e}") from e
    problems += _check_chain(index, entries, manifest["audit"])
    if previous is not None:
        try:
            with zipfile.ZipFile(previous) as zf:
                old = json.loads(zf.read(MANIFEST))["audit"]
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
            raise EvidenceError(f"{previous} is not a readable evidence pack: {e}") from e
        hashes = {seq: digest for seq, _, digest in index}
        if old["head_seq"] and hashes.get(old["head_seq"]) != old["head_hash"]:
            problems.append(f"the earlier pack's head (entry {old['head_seq']}, {old['head_hash'][:12]}) is no "
                            "longer in the chain: the audit trail was rewritten or wiped since")  # fmt: skip
    return problems


def _check_chain(index: list[list[Any]], entries: list[dict[str, Any]], head: dict[str, Any]) -> list[str]:
    problems = []
    prev = GENESIS
    for seq, prev_hash, digest in index:
        if prev_hash != prev:
            problems.append(f"chain index: entry {seq} does not link to the one before it")
        prev = digest
    if index and (index[-1][0] != head["head_seq"] or index[-1][2] != head["head_hash"]):
        problems.append("chain index does not end at the head named in the manifest")
    known = {seq: digest for seq, _, digest in index}
    for e in entries:
        if known.get(e["seq"]) != e["hash"] or (not e.get("masked_in_export") and entry_hash(e) != e["hash"]):
            problems.append(f"audit entry {e['seq']}: content does not match its hash")
    return problems
