"""``opskeeper notify``: what awaits acknowledgement, ack, test messages, template previews."""

from __future__ import annotations

import dataclasses
import getpass
import uuid

import typer
from rich.markup import escape

from cli import common
from opskeeper.clock import SYSTEM
from opskeeper.config.secrets import redact
from opskeeper.config.types import Language, Severity, parse_zone
from opskeeper.errors import InputError
from opskeeper.ledger import notify as _notify_tables  # noqa: F401  (registers the table)
from opskeeper.notify.escalation import nobody_told
from opskeeper.notify.events import SPECS, Event, sample_context
from opskeeper.notify.locale import format_duration
from opskeeper.notify.render import SAMPLE_FRAME, Renderer
from opskeeper.notify.service import Notifier

app = typer.Typer(help="Customer notifications: pending acknowledgements, ack, test messages, previews.")


def _left(td) -> str:  # type: ignore[no-untyped-def]
    if td is None:
        return ""
    text = format_duration(abs(td), Language.EN)
    return f"-{text} (overdue)" if td.total_seconds() < 0 else text


@app.command()
def pending(
    customer: str | None = typer.Option(None, "--customer", help="Only this customer."),
    as_json: bool = common.JsonOption,
) -> None:
    """Messages not yet delivered or awaiting acknowledgement, with time left to each deadline."""

    def body() -> None:
        estate, ledger = common.load(), common.open_ledger()
        items = Notifier().pending(estate, ledger, customer_id=customer)
        if as_json:
            common.print_json(
                [
                    {**common.to_jsonable(i.record), "time_left_s": common.to_jsonable(i.time_left)}
                    for i in items
                ]
            )
            return
        rows = [
            (
                i.record.id,
                i.record.customer_id,
                i.record.event,
                f"{i.record.contact_name} ({i.record.channel})",
                i.record.status,
                i.record.attempts,
                common.fmt_time(i.record.deadline_at, i.timezone),
                _left(i.time_left),
                i.record.escalation_level,
                (i.record.failure or "")[:60],
            )
            for i in items
        ]
        cols = ["id", "customer", "event", "to", "status", "tries", "deadline", "left", "level", "failure"]
        common.table("Notifications awaiting delivery or acknowledgement", cols, rows)
        for unreached in nobody_told(ledger, customer):
            common.console.print(f"[bold red]{escape(redact(unreached.line()))}[/bold red]", soft_wrap=True)

    common.run_guarded(body)


@app.command()
def ack(
    ref: str = typer.Argument(..., help="Notification id (or the token from its ack link)."),
    by: str | None = typer.Option(None, "--by", help="Who acknowledges (default: your user name)."),
    as_json: bool = common.JsonOption,
) -> None:
    """Acknowledge a notification (and every message about the same thing)."""

    def body() -> None:
        record = Notifier().ack(common.open_ledger(), ref, by or getpass.getuser())
        if as_json:
            common.print_json(record)
        else:
            common.console.print(
                f"acknowledged #{record.id} ({record.customer_id}, {record.event}) by {record.acked_by}"
            )

    common.run_guarded(body)


@app.command("send-test")
def send_test(
    customer: str = typer.Option(..., "--customer", help="Customer id."),
    event: str = typer.Option(
        Event.MAINTENANCE_SCHEDULED.value, "--event", help="Event to send, with sample data."
    ),
    as_json: bool = common.JsonOption,
) -> None:
    """Send one sample message to the customer's contacts through the configured channels (marked as a drill)."""

    def body() -> None:
        estate, ledger = common.load(), common.open_ledger()
        try:
            ev = Event(event)
        except ValueError as e:
            raise InputError(f"unknown event {event!r}; known: {', '.join(e.value for e in Event)}") from e
        records = Notifier().notify(
            estate,
            ledger,
            event=ev,
            customer_id=customer,
            severity=Severity.ROUTINE,
            context=sample_context(ev),
            dedup_key=f"send-test:{uuid.uuid4()}",
            drill=True,
        )
        if as_json:
            common.print_json(records)
            return
        common.table(
            "Test messages",
            ["id", "to", "channel", "status", "subject", "failure"],
            [(r.id, r.address, r.transport, r.status, r.subject, r.failure or "") for r in records],
        )
        if any(r.status != "sent" for r in records):
            raise typer.Exit(1)

    common.run_guarded(body)


@app.command()
def preview(
    event: str = typer.Option(..., "--event", help="Event name."),
    lang: str = typer.Option("en", "--lang", help="zh-CN, en or ru."),
    html: bool = typer.Option(False, "--html", help="Print the HTML part instead of the text."),
    drill: bool = typer.Option(False, "--drill", help="Render as a drill message."),
    tz: str = typer.Option("UTC", "--tz", help="Time zone to show times in."),
) -> None:
    """Render a template with sample data to the terminal."""

    def body() -> None:
        try:
            ev, language = Event(event), Language(lang)
        except ValueError as e:
            raise InputError(f"{e}; events: {', '.join(SPECS)}; languages: zh-CN, en, ru") from e
        try:
            parse_zone(tz)
        except ValueError as e:
            raise InputError(f"--tz: {e}") from e
        frame = dataclasses.replace(SAMPLE_FRAME, drill=drill, escalated=False, tz=tz)
        out = Renderer().render(ev, language, sample_context(ev), frame)
        print(f"Subject: {out.subject}\n")
        print(out.html if html else out.text)

    common.run_guarded(body)


@app.command()
def deliver(as_json: bool = common.JsonOption) -> None:
    """Retry every message still owed (normally the tick does this)."""

    def body() -> None:
        records = Notifier().deliver_pending(common.load(), common.open_ledger(), SYSTEM.now())
        if as_json:
            common.print_json(records)
        else:
            common.console.print(f"{sum(r.status == 'sent' for r in records)} of {len(records)} delivered")

    common.run_guarded(body)
