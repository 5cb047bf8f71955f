"""The ack link: a tiny HTTP endpoint answering only ``/ack/<token>`` (stdlib, in a thread).

GET shows the message's subject and a button; POST records the acknowledgement. A GET never
acknowledges, because mail scanners fetch links before a person ever sees them. The token is
per message and random; nothing else is served (404), and nothing is listed.
"""

from __future__ import annotations

import html
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from opskeeper.config.estate import Estate
from opskeeper.ledger import Ledger
from opskeeper.ledger import notify as store
from opskeeper.notify.records import ACK_PATH
from opskeeper.notify.service import Notifier

_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 40em;"><h2>{title}</h2><p>{body}</p>{form}</body></html>"""


class AckServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], ledger: Ledger) -> None:
        super().__init__(address, _Handler)
        self.ledger = ledger
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self.thread:
            self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    server: AckServer

    def log_message(self, format: str, *args: object) -> None:  # tokens must not land in logs
        return

    def _token(self) -> str | None:
        path = self.path.split("?", 1)[0]
        if not path.startswith(ACK_PATH):
            return None
        token = path[len(ACK_PATH) :]
        return token if token and "/" not in token and len(token) <= 64 else None

    def _reply(self, status: HTTPStatus, title: str, body: str, form: str = "") -> None:
        data = _PAGE.format(title=html.escape(title), body=html.escape(body), form=form).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        token = self._token()
        row = self._row(token) if token else None
        if row is None:
            return self._reply(HTTPStatus.NOT_FOUND, "Not found", "Unknown or expired link.")
        if row.acked_at:
            return self._reply(
                HTTPStatus.OK,
                row.subject,
                f"Acknowledged by {row.acked_by} at {row.acked_at:%Y-%m-%d %H:%M} UTC.",
            )
        form = f'<form method="post" action="{ACK_PATH}{html.escape(token or "")}"><button type="submit">OK ✓</button></form>'
        self._reply(HTTPStatus.OK, row.subject, "Please confirm that you received this message.", form)

    def do_POST(self) -> None:  # noqa: N802
        token = self._token()
        row = self._row(token) if token else None
        if row is None or token is None:
            return self._reply(HTTPStatus.NOT_FOUND, "Not found", "Unknown or expired link.")
        record = Notifier().ack(self.server.ledger, token, by=f"link:{row.contact_name}")
        self._reply(HTTPStatus.OK, row.subject, f"Thank you. Acknowledged by {record.acked_by}.")

    def _row(self, token: str):  # type: ignore[no-untyped-def]
        row = store.row_by_ref(self.server.ledger, token)
        # ids are not links: only a token (never all digits) opens a message here
        return None if token.isdigit() else row


def start_ack_server(ledger: Ledger, host: str = "127.0.0.1", port: int = 8765) -> AckServer:
    """Serve ack links in a daemon thread; ``port=0`` picks a free port (see ``server.url``)."""
    server = AckServer((host, port), ledger)
    server.thread = threading.Thread(target=server.serve_forever, name="opskeeper-ack", daemon=True)
    server.thread.start()
    return server


def start_ack_server_for(estate: Estate, ledger: Ledger, host: str | None = None) -> AckServer:
    """Serve on the host and port of ``emergency_plan.ack_base_url`` (``host`` overrides the bind address,
    e.g. ``0.0.0.0`` behind a reverse proxy that owns the public URL)."""
    url = urlsplit(estate.emergency_plan.ack_base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    return start_ack_server(ledger, host or url.hostname or "127.0.0.1", port)
