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
from sqlalchemy.orm import Mapped, Session, mapped_column

from opskeeper.ledger.base import Base, UTCDateTime, stamp


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
