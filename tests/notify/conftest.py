"""Fixtures of the notification tests: the example estate, a ledger, real SMTP and webhook servers on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from opskeeper.config.estate import Estate
from opskeeper.config.loader import load_estate
from opskeeper.config.notify import DeliveryPolicy, SmtpSettings
from opskeeper.ledger import Ledger
from opskeeper.ledger import notify as _tables  # noqa: F401  (registers the table)
from opskeeper.notify.service import Notifier

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "opskeeper.yaml"


@pytest.fixture
def estate() -> Estate:
    e = load_estate(EXAMPLE)
    # Fast retries for tests: one quick retry, no real sleeping (the notifier's sleep is stubbed).
    e.emergency_plan.delivery = DeliveryPolicy(quick_retries=2, max_attempts=4)
    return e


@pytest.fixture
def ledger(opskeeper_home: Path) -> Iterator[Ledger]:
    led = Ledger.open()
    yield led
    led.close()


@pytest.fixture
def notifier() -> Notifier:
    return Notifier(sleep=lambda _s: None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Mailbox:
    envelopes: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(raw, policy=policy.default) for _f, _t, raw in self.envelopes]  # type: ignore[misc]

    def distinct(self) -> dict[str, EmailMessage]:
        """What a mailbox keeps: one message per Message-ID."""
        return {m["Message-ID"]: m for m in self.messages()}


@dataclass
class GatedMailbox(Mailbox):
    """A slow server: DATA is answered only once the test opens the gate (``entered`` says one is waiting)."""

    entered: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.entered.set()
        await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 120)
        return await super().handle_DATA(server, session, envelope)


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox


def estate_file(folder: Path, extra: str = "", replace: dict[str, str] | None = None) -> Path:
    """A copy of the example estate (``replace``: old -> new text; ``extra``: top-level YAML appended)."""
    text = EXAMPLE.read_text().replace(
        "runbooks_dir: ../runbooks", f"runbooks_dir: {EXAMPLE.parents[1] / 'runbooks'}"
    )
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "estate.yaml"
    path.write_text(text + "\n" + extra)
    return path


def use_smtp(estate: Estate, server: SmtpServer) -> None:
    """Send the estate's e-mail through this server (plain SMTP on loopback)."""
    estate.emergency_plan.channel = "smtp"
    estate.emergency_plan.smtp = SmtpSettings(
        host=server.host, port=server.port, security="none", sender="Northwind Ops <ops@northwind.example>"
    )


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, box)
    finally:
        controller.stop()


class WebhookServer:
    """A real HTTP server on loopback that records POSTs and can fail N times, answer a status, or be down."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[tuple[str, dict[str, str], dict]] = []
        self.fail_next = 0
        self.fail_status = 503
        self.always_status: int | None = None
        self._server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def up(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a: object) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.requests.append((self.path, dict(self.headers), json.loads(body)))
                status = owner.always_status or 200
                if owner.fail_next > 0:
                    owner.fail_next -= 1
                    status = owner.fail_status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.allow_reuse_address = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    server = WebhookServer()
    server.up()
    try:
        yield server
    finally:
        server.down()
