"""Composing: what to tell (a checked ``Request``) and, per recipient, the rendered ledger row.

Nothing here writes or sends: ``send.py`` stores the rows this module builds, ``delivery.py``
sends them.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from opskeeper.config.estate import Customer, Estate
from opskeeper.config.types import Severity
from opskeeper.errors import InputError
from opskeeper.ledger.notify import DeliveryStatus, Notification
from opskeeper.notify.events import DRILL_EVENTS, Event, missing_context
from opskeeper.notify.plan import ONCALL_LEVEL, Recipient
from opskeeper.notify.records import ack_link, decode_context, encode_context
from opskeeper.notify.render import Frame, Renderer, templates_dir_of


class NotifyInputError(InputError):
    """The caller asked for something the estate or the catalogue does not have."""


@dataclass(frozen=True)
class Request:
    """One thing to tell one customer; ``dedup_key`` names it across retries and re-runs."""

    event: Event
    customer: Customer
    severity: Severity
    context: dict[str, Any]
    dedup_key: str
    drill: bool
    topic: str = ""


@dataclass(frozen=True)
class Round:
    """What every message of one round shares: its group, dedup key, deadline and escalation level."""

    group: str
    dedup: str
    due: datetime | None
    ack_required: bool
    now: datetime
    level: int | None  # None: the first round


def request(
    estate: Estate,
    event: Event | str,
    customer_id: str,
    severity: Severity | str,
    context: dict[str, Any],
    dedup_key: str,
    drill: bool,
    topic: str = "",
) -> Request:
    """A checked request: a known event, severity and customer, the event's context, a dedup key."""
    try:
        ev = Event(event)
        sev = Severity(severity)
        customer = estate.customer(customer_id)
    except (ValueError, KeyError) as e:
        raise NotifyInputError(f"cannot notify: {e}") from e
    missing = missing_context(ev, context)
    if missing:
        raise NotifyInputError(f"event {ev.value} needs context: {', '.join(missing)}")
    if not dedup_key:
        raise NotifyInputError("a dedup_key is required (it makes re-runs send nothing twice)")
    return Request(ev, customer, sev, dict(context), dedup_key, drill or ev in DRILL_EVENTS, topic)


def stored_request(estate: Estate, row: Notification) -> Request:
    """The request behind a stored row (for escalation rounds)."""
    return Request(
        Event(row.event),
        estate.customer(row.customer_id),
        Severity(row.severity),
        decode_context(row.context),
        row.dedup_key.split("#L")[0],
        row.drill,
        row.topic,
    )


def private_strings(customer: Customer) -> list[str]:
    """What must never reach a customer: System.private, host addresses and host names."""
    out: list[str] = []
    for system in customer.systems:
        out += system.private
        out += [h.address for h in system.hosts] + [h.name for h in system.hosts]
    return out


def renderer_for(estate: Estate, templates_dir: Path | None = None) -> Renderer:
    directory = templates_dir or templates_dir_of(estate.runbooks_dir)
    return _renderer(Path(directory), estate.emergency_plan.drills.prefix)


@functools.lru_cache(maxsize=16)
def _renderer(directory: Path, drill_prefix: str) -> Renderer:
    """One Jinja2 environment per template folder, so compiled templates are reused across sends
    (Jinja2 still reloads a template whose file changed)."""
    return Renderer(directory, drill_prefix=drill_prefix)


def compose(
    estate: Estate, renderer: Renderer, req: Request, r: Recipient, key: str, rnd: Round
) -> Notification:
    """The row for one recipient: rendered in its language, with its own ack token, not yet sent."""
    token = secrets.token_urlsafe(24)
    ack_url = ack_link(estate.emergency_plan.ack_base_url, token) if rnd.ack_required else None
    lang = renderer.pick_language(req.event, list(r.languages))
    tz = estate.provider.timezone if r.level == ONCALL_LEVEL else req.customer.timezone
    frame = Frame(
        req.customer.name,
        r.name,
        estate.provider.name,
        req.severity.value,
        tz,
        drill=req.drill,
        escalated=rnd.level is not None,
        ack_url=ack_url,
        deadline=rnd.due if rnd.ack_required else None,
    )
    out = renderer.render(req.event, lang, req.context, frame, private_strings(req.customer))
    return Notification(
        key=key,
        group_key=rnd.group,
        topic=req.topic,
        token=token,
        event=req.event.value,
        customer_id=req.customer.id,
        severity=req.severity.value,
        drill=req.drill,
        dedup_key=rnd.dedup,
        contact_name=r.name,
        contact_role=r.role,
        level=r.level,
        channel=r.endpoint.kind,
        transport=r.endpoint.transport(estate.emergency_plan),
        address=r.endpoint.address,
        language=lang.value,
        subject=out.subject,
        body_text=out.text,
        body_html=out.html,
        message_id=f"<{key}@opskeeper.notify>",
        context=encode_context(req.context),
        ack_required=rnd.ack_required,
        created_at=rnd.now,
        deadline_at=rnd.due,
        status=DeliveryStatus.PENDING,
        attempts=0,
        escalation_level=rnd.level or 1,
    )
