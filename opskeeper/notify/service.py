"""The Notifier facade: tell a customer about an event per the emergency plan, exactly once.

``notify`` picks recipients (plan.py), renders per language (render.py), writes every message
to the ledger under its idempotency key *before* sending (delivery.py), then sends. Calling it
again with the same ``dedup_key`` sends nothing new. ``deliver_pending`` retries what is owed,
``escalate`` (escalation.py) moves unacknowledged or undeliverable messages up the plan.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from opskeeper.calendar import tier_deadline, tier_time_left
from opskeeper.config.estate import Customer, Estate
from opskeeper.config.notify import stored_endpoint
from opskeeper.config.types import Severity
from opskeeper.errors import InputError
from opskeeper.ledger import Ledger, LedgerError
from opskeeper.ledger import notify as store
from opskeeper.ledger.notify import DeliveryStatus, Notification
from opskeeper.notify import plan
from opskeeper.notify.channels.factory import ChannelFactory, open_channel
from opskeeper.notify.delivery import advancing, deliver, message_of
from opskeeper.notify.events import DRILL_EVENTS, Event, missing_context
from opskeeper.notify.plan import ONCALL_LEVEL, Recipient
from opskeeper.notify.records import NotificationRecord, ack_link, decode_context, encode_context
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
class PendingItem:
    record: NotificationRecord
    timezone: str
    time_left: timedelta | None  # counted per the tier's coverage; negative once past


def private_strings(customer: Customer) -> list[str]:
    """What must never reach a customer: System.private, host addresses and host names."""
    out: list[str] = []
    for system in customer.systems:
        out += system.private
        out += [h.address for h in system.hosts] + [h.name for h in system.hosts]
    return out


@functools.lru_cache(maxsize=16)
def _renderer(directory: Path, drill_prefix: str) -> Renderer:
    """One Jinja2 environment per template folder, so compiled templates are reused across sends
    (Jinja2 still reloads a template whose file changed)."""
    return Renderer(directory, drill_prefix=drill_prefix)


class Notifier:
    """Facade over plan, renderer, ledger and channels. Stateless between calls."""

    def __init__(
        self,
        *,
        templates_dir: Path | None = None,
        channel_factory: ChannelFactory = open_channel,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.templates_dir = templates_dir
        self.channel_factory = channel_factory
        self.sleep = sleep

    def renderer(self, estate: Estate) -> Renderer:
        directory = self.templates_dir or templates_dir_of(estate.runbooks_dir)
        return _renderer(Path(directory), estate.emergency_plan.drills.prefix)

    # ------------------------------------------------------------------ sending
    def notify(
        self,
        estate: Estate,
        ledger: Ledger,
        *,
        event: Event | str,
        customer_id: str,
        severity: Severity | str,
        context: dict[str, Any],
        dedup_key: str,
        drill: bool = False,
        now: datetime | None = None,
        topic: str = "",
    ) -> list[NotificationRecord]:
        """Tell the customer's contacts per the plan; idempotent per ``dedup_key``."""
        req = self.request(estate, event, customer_id, severity, context, dedup_key, drill, topic)
        if req.drill and estate.emergency_plan.drills.mode == "silent":
            return []
        recips = plan.recipients(estate, req.customer, req.severity, drill=req.drill)
        return self.send_round(estate, ledger, req, recips, now or ledger.now())

    def request(
        self,
        estate: Estate,
        event: Event | str,
        customer_id: str,
        severity: Severity | str,
        context: dict[str, Any],
        dedup_key: str,
        drill: bool,
        topic: str = "",
    ) -> Request:
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

    def send_round(
        self,
        estate: Estate,
        ledger: Ledger,
        req: Request,
        recips: list[Recipient],
        now: datetime,
        *,
        level: int | None = None,
        group: str | None = None,
        internal: bool = False,
    ) -> list[NotificationRecord]:
        """Write one row per recipient (unless its key exists), then deliver what is owed.

        ``internal`` messages (reminders to the provider) carry no customer deadline and need no ack.
        """
        group = group or plan.group_key(req.event, req.customer.id, req.dedup_key)
        dedup = req.dedup_key if level is None else f"{req.dedup_key}#L{level}"
        with ledger.session() as s:
            first = next(iter(store.in_group(s, group)), None)
        due = first.deadline_at if first else tier_deadline(estate, req.customer, req.severity, now)
        ack_required = estate.emergency_plan.plan_for(req.severity).needs_ack and not internal
        due = None if internal else due
        rows: list[Notification] = []
        new: list[Notification] = []
        renderer = self.renderer(estate)
        for r in recips:
            key = plan.idempotency_key(req.event, req.customer.id, r.name, r.channel, dedup)
            with ledger.session() as s:
                existing = store.by_key(s, key)
            if existing is not None:
                rows.append(existing)
                continue
            new.append(
                self._compose(estate, renderer, req, r, key, group, dedup, due, ack_required, now, level)
            )
        for row in new:  # every message is rendered before any is written: a bad template sends nothing
            row.unreached_levels = list(first.unreached_levels) if first else []  # group-wide, like the level
            rows.append(self._insert(ledger, row))
        owed = [r for r in rows if _owed(r, now)]
        clock = advancing(now)  # each row's attempt is stamped (and leased) when it really starts
        done = {r.id: self._deliver(estate, ledger, r, clock()) for r in owed}
        return [NotificationRecord.of(done.get(r.id, r)) for r in rows]

    def _compose(
        self,
        estate: Estate,
        renderer: Renderer,
        req: Request,
        r: Recipient,
        key: str,
        group: str,
        dedup: str,
        due: datetime | None,
        ack_required: bool,
        now: datetime,
        level: int | None,
    ) -> Notification:
        token = secrets.token_urlsafe(24)
        ack_url = ack_link(estate.emergency_plan.ack_base_url, token) if ack_required else None
        lang = renderer.pick_language(req.event, list(r.languages))
        tz = estate.provider.timezone if r.level == ONCALL_LEVEL else req.customer.timezone
        frame = Frame(
            req.customer.name,
            r.name,
            estate.provider.name,
            req.severity.value,
            tz,
            drill=req.drill,
            escalated=level is not None,
            ack_url=ack_url,
            deadline=due if ack_required else None,
        )
        out = renderer.render(req.event, lang, req.context, frame, private_strings(req.customer))
        return Notification(
            key=key,
            group_key=group,
            topic=req.topic,
            token=token,
            event=req.event.value,
            customer_id=req.customer.id,
            severity=req.severity.value,
            drill=req.drill,
            dedup_key=dedup,
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
            ack_required=ack_required,
            created_at=now,
            deadline_at=due,
            status=DeliveryStatus.PENDING,
            attempts=0,
            escalation_level=level or 1,
        )

    @staticmethod
    def _insert(ledger: Ledger, row: Notification) -> Notification:
        try:
            with ledger.session() as s:
                s.add(row)
            return row
        except LedgerError as e:
            if not isinstance(e.__cause__, IntegrityError):
                raise
            with ledger.session() as s:  # a concurrent run wrote the same key first: that row is the one
                existing = store.by_key(s, row.key)
            if existing is None:
                raise
            return existing

    def _deliver(self, estate: Estate, ledger: Ledger, row: Notification, now: datetime) -> Notification:
        ack_url = ack_link(estate.emergency_plan.ack_base_url, row.token) if row.ack_required else None
        endpoint = stored_endpoint(row.channel, row.address, row.transport)
        channel = self.channel_factory(estate, endpoint)
        return deliver(
            ledger, row.id, channel, message_of(row, ack_url), estate.emergency_plan.delivery, now, self.sleep
        )

    def deliver_pending(
        self, estate: Estate, ledger: Ledger, now: datetime | None = None
    ) -> list[NotificationRecord]:
        """Send every message still owed whose backoff has passed (new, retrying, or in doubt)."""
        now = now or ledger.now()
        with ledger.session() as s:
            rows = store.due_for_delivery(s, now)
        out: list[NotificationRecord] = []
        errors: list[Exception] = []
        clock = advancing(now)
        for r in rows:
            try:
                out.append(NotificationRecord.of(self._deliver(estate, ledger, r, clock())))
            except Exception as e:  # one broken row (bug, unconfigured transport) must not hold up the rest
                errors.append(e)
        if errors:
            raise errors[0]
        return out

    def rerender_request(self, estate: Estate, row: Notification) -> Request:
        """The request behind a stored row (for escalation rounds)."""
        customer = estate.customer(row.customer_id)
        base = row.dedup_key.split("#L")[0]
        return Request(
            Event(row.event),
            customer,
            Severity(row.severity),
            decode_context(row.context),
            base,
            row.drill,
            row.topic,
        )

    # ------------------------------------------------------------------ acknowledgement
    def ack(self, ledger: Ledger, ref: str, by: str, now: datetime | None = None) -> NotificationRecord:
        """Acknowledge by id or link token; acknowledges every message of the same group."""
        now = now or ledger.now()
        with ledger.session() as s:
            row = store.by_id_or_token(s, ref.strip())
            if row is None:
                raise NotifyInputError(f"no notification with id or token {ref!r}")
            fresh = [r for r in store.in_group(s, row.group_key) if r.acked_at is None]
            for r in fresh:
                r.acked_at, r.acked_by = now, by
            s.flush()
            record = NotificationRecord.of(row)
        if not fresh:
            return record  # already acknowledged (by whoever came first): nothing to record
        ledger.audit(
            by,
            "notification.acked",
            f"notification:{record.id}",
            {"customer": record.customer_id, "event": record.event},
        )
        return record

    def pending(
        self, estate: Estate, ledger: Ledger, now: datetime | None = None, customer_id: str | None = None
    ) -> list[PendingItem]:
        """What is owed: undelivered messages and those awaiting acknowledgement, with time left."""
        now = now or ledger.now()
        with ledger.session() as s:
            rows = store.awaiting(s, customer_id)
        items = []
        for row in rows:
            try:
                customer = estate.customer(row.customer_id)
            except KeyError:
                items.append(PendingItem(NotificationRecord.of(row), "UTC", None))
                continue
            left = None
            if row.deadline_at is not None:
                left = tier_time_left(estate, customer, Severity(row.severity), now, row.deadline_at)
            items.append(PendingItem(NotificationRecord.of(row), customer.timezone, left))
        return items


def _owed(row: Notification, now: datetime) -> bool:
    """Pending, its backoff over, and no attempt in flight elsewhere (a live lease)."""
    if row.status != DeliveryStatus.PENDING or (row.next_attempt_at or now) > now:
        return False
    return row.lease_until is None or row.lease_until <= now


_DEFAULT = Notifier()


def notify(estate: Estate, ledger: Ledger, **kwargs: Any) -> list[NotificationRecord]:
    return _DEFAULT.notify(estate, ledger, **kwargs)


def deliver_pending(estate: Estate, ledger: Ledger, now: datetime | None = None) -> list[NotificationRecord]:
    return _DEFAULT.deliver_pending(estate, ledger, now)


def ack(ledger: Ledger, id_or_token: str, by: str, now: datetime | None = None) -> NotificationRecord:
    return _DEFAULT.ack(ledger, id_or_token, by, now)
