"""``make demo``: the example estate end to end on this machine, with embedded defaults.

SQLite ledger, local backup directories and an outbox folder under $OPSKEEPER_HOME
(./var), an ephemeral Prefect. Each step runs the real ``opskeeper`` command, as a
user would, and the demo stops only on a crash or bad input (exit 2): a check that
finds a real problem on this machine is shown, not hidden.
"""

from __future__ import annotations

import http.server
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from opskeeper.paths import EXAMPLE_ESTATE, home_dir

DEMO_PASSPHRASE_ENV = "OPSKEEPER_DEMO_PASSPHRASE"


def _old(path: Path, days: int) -> None:
    t = time.time() - days * 86400
    os.utime(path, (t, t))


def make_example_data(home: Path) -> None:
    """Data, logs, temp files and a SQLite database for the two example customers (idempotent)."""
    for customer, data in (("hanhai", "erp-data"), ("volga", "tms-data")):
        base = home / "example" / customer
        (base / data / "orders").mkdir(parents=True, exist_ok=True)
        for i in range(40):
            f = base / data / "orders" / f"order-{i:04d}.json"
            if not f.exists():
                f.write_text(
                    f'{{"order": {i}, "customer": "{customer}", "lines": {list(range(i % 7))}}}\n' * 20
                )
        blob = base / data / "attachments.bin"
        if not blob.exists():
            blob.write_bytes(os.urandom(2 * 1024 * 1024))
        for sub in ("logs", "tmp"):
            (base / sub).mkdir(exist_ok=True)
        for i in range(3):
            log = base / "logs" / f"app-{i}.log"
            if not log.exists():
                log.write_text("INFO started\nWARN slow query\n" * 500)
                _old(log, 30 + i)
            tmp = base / "tmp" / f"upload-{i}.part"
            tmp.write_bytes(b"x" * 1000)
            _old(tmp, 40)
    db = home / "example" / "hanhai" / "erp.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE IF NOT EXISTS invoices (id INTEGER PRIMARY KEY, amount REAL, note TEXT)")
        if con.execute("SELECT count(*) FROM invoices").fetchone()[0] == 0:
            con.executemany("INSERT INTO invoices (amount, note) VALUES (?, ?)",
                            [(i * 1.5, "x" * 200) for i in range(2000)])  # fmt: skip
            con.execute("DELETE FROM invoices WHERE id % 2 = 0")  # leaves free pages for VACUUM to reclaim


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        ok = self.path == "/health"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"ok\n" if ok else b"not found\n")

    def log_message(self, *args: object) -> None:
        return


def start_example_service(port: int = 18080) -> http.server.ThreadingHTTPServer | None:
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Health)
    except OSError:
        return None  # already running (a previous demo left it, or the user started one)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _cli(*args: str) -> int:
    cmd = [sys.executable, "-m", "cli", "-c", str(EXAMPLE_ESTATE), *args]
    print(f"\n\033[1m$ opskeeper {' '.join(args)}\033[0m", flush=True)
    rc = subprocess.call(cmd)
    if rc not in (0, 1):
        raise SystemExit(f"demo step failed: opskeeper {' '.join(args)} exited {rc}")
    return rc


STEPS: list[tuple[str, ...]] = [
    ("validate",),
    ("schedule", "show", "--days", "45"),
    ("maintenance", "run", "monthly", "--force-window"),
    ("runs", "list"),
    ("scan", "findings", "--status", "new", "--by-check"),
    ("scan", "score"),
    ("backup", "run"),
    ("backup", "list"),
    ("backup", "restore", "latest", "--system", "erp", "--to", "{home}/restore-demo/erp"),
    ("backup", "verify", "--read-data", "100"),
    ("drill", "run", "data-corruption", "--customer", "hanhai", "--force-window"),
    ("report", "monthly", "--customer", "hanhai", "--format", "html", "--out", "{home}/reports/monthly-hanhai.html"),
    ("report", "monthly", "--customer", "volga", "--format", "html", "--out", "{home}/reports/monthly-volga.html"),
    ("report", "evidence", "--customer", "hanhai", "--out", "{home}/reports/evidence-hanhai.zip"),
    ("notify", "pending"),
]


def main() -> None:
    home = home_dir()
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OPSKEEPER_HOME", str(home))
    # The demo's backup passphrase: a reference (env var) in the estate, set here for the demo only.
    os.environ.setdefault(DEMO_PASSPHRASE_ENV, "demo passphrase - set your own in production")
    if not sys.stdout.isatty():  # a log or CI: tables as wide as a terminal, not cut at 80 columns
        os.environ.setdefault("COLUMNS", "150")
    make_example_data(home)
    server = start_example_service()
    try:
        for step in STEPS:
            _cli(*(arg.format(home=home) for arg in step))
    finally:
        if server:
            server.shutdown()
    print(f"""
Where to look:
  ledger         {home / "ledger.sqlite"}   (opskeeper runs list / runs show ID / audit verify)
  backups        {home / "backups"}
  restored data  {home / "restore-demo"}   (every file's SHA-256 checked against the snapshot)
  drill reports  {home / "reports" / "drills"}   (opskeeper drill show ID --format html)
  reports        {home / "reports"}   (monthly reports in Chinese and Russian, an evidence pack for auditors)
  outbox         {home / "outbox"}   (messages to customers, .eml, in Chinese and Russian)
  Prefect        artifacts of each run are in the Prefect UI when PREFECT_API_URL points at a server
""")


if __name__ == "__main__":
    main()
