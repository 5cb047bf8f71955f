"""Notification ledger: every message is a row before it is sent; the row is the outbox of record.

A row carries its idempotency key (event + customer + contact + channel + dedup key), the
rendered message (so a retry sends exactly the same bytes), the deadline, delivery attempts,
the acknowledgement and the escalation state of its group (all messages about one thing).

An attempt holds a lease on its row (``lease_until``) while the channel sends: an overlapping
run (another tick, the CLI) leaves a leased row alone until the lease is released (the outcome
was recorded) or has expired (the holder died mid-send).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ColumnElement, Index, Integer, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from opskeeper.ledger.base import Base, UTCDateTime, stamp
from opskeeper.ledger.db import Ledger, LedgerError


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # written, not yet confirmed sent (new, retrying, or in doubt after a crash)
    SENT = "sent"
    FAILED = "failed"  # gave up: permanent error or out of attempts; escalates


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # idempotency key
    group_key: Mapped[str] = mapped_column(String(64), index=True)  # event + customer + dedup key
    topic: Mapped[str] = mapped_column(
        String(200), default="", index=True
    )  # e.g. maintenance:monthly:2026-11
    token: Mapped[str] = mapped_column(String(64), unique=True)  # ack link token, per message
    event: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(32))
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    dedup_key: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(128))
    contact_role: Mapped[str] = mapped_column(String(64))
    level: Mapped[int] = mapped_column(Integer, default=1)  # escalation level of this recipient
    channel: Mapped[str] = mapped_column(String(16))  # email | webhook
    transport: Mapped[str] = mapped_column(String(16))  # outbox | smtp | json | slack | teams
    address: Mapped[str] = mapped_column(String(512))  # e-mail address or webhook URL
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200))
    context: Mapped[dict] = mapped_column(JSON, default=dict)  # what the template saw (encoded)
    ack_required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure: Mapped[str | None] = mapped_column(Text)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acked_by: Mapped[str | None] = mapped_column(String(128))
    escalation_level: Mapped[int] = mapped_column(Integer, default=1)  # highest level told in the group
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An attempt in flight: nobody else may send this row before then (NULL: no attempt running).
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Escalation levels of the group at which nobody could be told (no contact or no address there).
    unreached_levels: Mapped[list[int]] = mapped_column(JSON, default=list)

    __table_args__ = (
        Index("ix_notifications_status_next", "status", "next_attempt_at"),
        Index("ix_notifications_event_created", "event", "created_at"),  # the planner's notices by time
    )


def by_key(s: Session, key: str) -> Notification | None:
    return s.scalars(select(Notification).where(Notification.key == key)).one_or_none()


def by_id_or_token(s: Session, ref: str) -> Notification | None:
    if ref.isdigit():
        return s.get(Notification, int(ref))
    return s.scalars(select(Notification).where(Notification.token == ref)).one_or_none()


def in_group(s: Session, group_key: str) -> list[Notification]:
    return list(
        s.scalars(select(Notification).where(Notification.group_key == group_key).order_by(Notification.id))
    )


def _lease_free(now: datetime) -> ColumnElement[bool]:
    return Notification.lease_until.is_(None) | (Notification.lease_until <= now)


def due_for_delivery(s: Session, now: datetime) -> list[Notification]:
    """Pending rows whose backoff has passed and that no live attempt holds."""
    q = select(Notification).where(
        Notification.status == DeliveryStatus.PENDING,
        (Notification.next_attempt_at.is_(None)) | (Notification.next_attempt_at <= now),
        _lease_free(now),
    )
    return list(s.scalars(q.order_by(Notification.id)))


def claim_attempt(
    s: Session, row_id: int, attempts: int, now: datetime, lease_until: datetime, *, renew: bool
) -> bool:
    """Count attempt ``attempts + 1`` and lease the row until ``lease_until``, if nobody else can be sending it.

    A compare-and-set: the row must still be pending with ``attempts`` counted, and its lease must be
    free (never taken, released, or expired at ``now``) unless ``renew``: the caller holds the lease
    of attempt ``attempts`` itself (a quick retry within one delivery), which no one else can have
    taken over without counting another attempt.
    """
    q = update(Notification).where(
        Notification.id == row_id,
        Notification.status == DeliveryStatus.PENDING,
        Notification.attempts == attempts,
    )
    if not renew:
        q = q.where(_lease_free(now))
    done = s.execute(q.values(attempts=attempts + 1, last_attempt_at=now, lease_until=lease_until))
    return bool(done.rowcount)  # type: ignore[attr-defined]  # a CursorResult for UPDATE


def mark_unreached(s: Session, group_key: str, level: int, now: datetime) -> bool:
    """Record that nobody could be told at ``level``; False when the group is at that level already.

    The compare-and-set on ``escalation_level`` makes overlapping escalation runs record it once.
    """
    moved = s.execute(
        update(Notification)
        .where(Notification.group_key == group_key, Notification.escalation_level < level)
        .values(escalation_level=level, escalated_at=now)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:
        return False
    for row in in_group(s, group_key):
        row.unreached_levels = sorted({*row.unreached_levels, level})
    return True


def unreached(s: Session, customer_id: str | None = None) -> list[Notification]:
    """Rows of unacknowledged groups in which some escalation level had nobody to tell."""
    q = select(Notification).where(Notification.acked_at.is_(None), Notification.escalation_level > 1)
    if customer_id:
        q = q.where(Notification.customer_id == customer_id)
    return [r for r in s.scalars(q.order_by(Notification.id)) if r.unreached_levels]


def open_groups(s: Session) -> list[str]:
    """Groups with a message that needs an acknowledgement and has none yet."""
    q = select(Notification.group_key).where(
        Notification.ack_required.is_(True), Notification.acked_at.is_(None)
    )
    return sorted(set(s.scalars(q)))


def awaiting(s: Session, customer_id: str | None = None) -> list[Notification]:
    """Messages not yet delivered, or delivered and awaiting acknowledgement."""
    q = select(Notification).where(
        (Notification.status != DeliveryStatus.SENT)
        | (Notification.ack_required.is_(True) & Notification.acked_at.is_(None))
    )
    if customer_id:
        q = q.where(Notification.customer_id == customer_id)
    return list(s.scalars(q.order_by(Notification.id)))


def on_topic(s: Session, customer_id: str, topic: str) -> list[Notification]:
    q = select(Notification).where(Notification.customer_id == customer_id, Notification.topic == topic)
    return list(s.scalars(q.order_by(Notification.id)))


def failed_groups(s: Session) -> list[str]:
    """Groups with a message that could not be delivered and not yet handed to the provider's on-call."""
    q = select(Notification.group_key).where(
        Notification.status == DeliveryStatus.FAILED, Notification.escalation_level < 9
    )
    return sorted(set(s.scalars(q)))


def breaches(s: Session, customer_id: str | None = None, since: datetime | None = None) -> list[Notification]:
    """First message of every group whose response deadline passed without acknowledgement (for reports)."""
    q = select(Notification).where(Notification.breached_at.is_not(None))
    if customer_id:
        q = q.where(Notification.customer_id == customer_id)
    if since:
        q = q.where(Notification.breached_at >= since)
    firsts: dict[str, Notification] = {}
    for row in s.scalars(q.order_by(Notification.id)):
        firsts.setdefault(row.group_key, row)
    return list(firsts.values())


# ---------------------------------------------------------------- repository functions on the Ledger
# The notify area reads and writes through these (each one transaction); rows come back detached.


def group_rows(ledger: Ledger, group_key: str) -> list[Notification]:
    with ledger.session() as s:
        return in_group(s, group_key)


def row_by_key(ledger: Ledger, key: str) -> Notification | None:
    with ledger.session() as s:
        return by_key(s, key)


def row_by_ref(ledger: Ledger, ref: str) -> Notification | None:
    """By id or ack-link token."""
    with ledger.session() as s:
        return by_id_or_token(s, ref)


def row(ledger: Ledger, row_id: int) -> Notification:
    with ledger.session() as s:
        return s.get_one(Notification, row_id)


def insert_once(ledger: Ledger, new: Notification) -> Notification:
    """Write ``new``; when a concurrent run wrote the same key first, that row is the one."""
    try:
        with ledger.session() as s:
            s.add(new)
        return new
    except LedgerError as e:
        if not isinstance(e.__cause__, IntegrityError):
            raise
        existing = row_by_key(ledger, new.key)
        if existing is None:
            raise
        return existing


def due_rows(ledger: Ledger, now: datetime) -> list[Notification]:
    with ledger.session() as s:
        return due_for_delivery(s, now)


def claim_next_attempt(
    ledger: Ledger, row_id: int, at: datetime, lease_until: datetime, held: int | None
) -> int | None:
    """Count the next attempt under a lease; its number, or None when the row is not ours to send.

    ``held``: the attempt this delivery already holds the lease for (a quick retry renews it).
    """
    with ledger.session() as s:
        row = s.get_one(Notification, row_id)
        if row.status != DeliveryStatus.PENDING:
            return None  # someone else finished it meanwhile
        if held is not None and row.attempts != held:
            return None  # our lease expired and another run took over
        counted = row.attempts
        # An overlapping run that read the same count, or finds our lease live, loses and leaves it to us.
        if not claim_attempt(s, row_id, counted, at, lease_until, renew=held is not None):
            return None
        return counted + 1


def record_sent(ledger: Ledger, row_id: int, now: datetime) -> Notification:
    with ledger.session() as s:
        row = s.get_one(Notification, row_id)
        row.status = DeliveryStatus.SENT
        row.sent_at = now
        row.next_attempt_at = None
        row.failure = None
        row.lease_until = None
    return row


def record_failure(
    ledger: Ledger, row_id: int, attempt: int, error: str, permanent: bool, next_attempt_at: datetime | None
) -> tuple[Notification, bool]:
    """Record a failed attempt; (the row, whether it was ours to record).

    Not ours: our lease ran out mid-send and another run took the row over (or finished it): its
    attempt decides; ours must neither fail the row nor release the other run's lease.
    ``next_attempt_at`` None keeps the lease (the holder retries quickly) unless ``permanent``.
    """
    with ledger.session() as s:
        row = s.get_one(Notification, row_id)
        if row.attempts != attempt or row.status != DeliveryStatus.PENDING:
            return row, False
        row.failure = error[:2000]
        if permanent:
            row.status = DeliveryStatus.FAILED
            row.next_attempt_at = None
        elif next_attempt_at is not None:
            row.next_attempt_at = next_attempt_at
        if permanent or next_attempt_at is not None:
            row.lease_until = None
    return row, True


def unreached_rows(ledger: Ledger, customer_id: str | None = None) -> list[Notification]:
    with ledger.session() as s:
        return unreached(s, customer_id)


def groups_to_escalate(ledger: Ledger) -> list[str]:
    """Groups awaiting an acknowledgement, and groups with a message that could not be delivered."""
    with ledger.session() as s:
        return sorted(set(open_groups(s)) | set(failed_groups(s)))


def record_unreached(
    ledger: Ledger, group_key: str, level: int, now: datetime, first_id: int
) -> tuple[int, ...] | None:
    """Mark ``level`` unreached in the group; the levels recorded on row ``first_id``, or None when an
    overlapping escalation run recorded it already."""
    with ledger.session() as s:
        if not mark_unreached(s, group_key, level, now):
            return None
        return tuple(s.get_one(Notification, first_id).unreached_levels)


def record_escalated(ledger: Ledger, group_key: str, level: int, now: datetime) -> None:
    with ledger.session() as s:
        for r in in_group(s, group_key):
            r.escalation_level = max(r.escalation_level, level)
            r.escalated_at = now


def record_breached(ledger: Ledger, group_key: str, first_id: int, now: datetime) -> Notification:
    """Stamp the group's response breach; the group's first row as it is now."""
    with ledger.session() as s:
        for r in in_group(s, group_key):
            r.breached_at = now
        return s.get_one(Notification, first_id)


def ack_group(ledger: Ledger, ref: str, by: str, now: datetime) -> tuple[Notification | None, bool]:
    """Acknowledge every message in the group of ``ref`` (id or token): (the row, whether any was new)."""
    with ledger.session() as s:
        row = by_id_or_token(s, ref)
        if row is None:
            return None, False
        fresh = [r for r in in_group(s, row.group_key) if r.acked_at is None]
        for r in fresh:
            r.acked_at, r.acked_by = now, by
        s.flush()
        return row, bool(fresh)


def awaiting_rows(ledger: Ledger, customer_id: str | None = None) -> list[Notification]:
    with ledger.session() as s:
        return awaiting(s, customer_id)


def topic_rows(ledger: Ledger, customer_id: str, topic: str) -> list[Notification]:
    with ledger.session() as s:
        return on_topic(s, customer_id, topic)


def incident_rows(ledger: Ledger, events: list[str], except_level: int) -> list[Notification]:
    """Messages of these (incident) events, except those at ``except_level`` (the on-call's)."""
    q = select(Notification).where(Notification.event.in_(events), Notification.level != except_level)
    with ledger.session() as s:
        return list(s.scalars(q))
