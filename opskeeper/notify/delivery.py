"""Delivery of stored rows: open the channel a row's endpoint needs, attempt, record, retry with
backoff, give up and let escalation act. ``deliver_pending`` does it for every row that is owed.

The row exists before the first attempt. Each attempt is counted in the ledger *before* the
channel is called, and the outcome after, so a crash in between leaves a row that is still
``pending``: the next run sends it again under the same key and Message-ID, and the outbox
file, the SMTP Message-ID or the webhook ``Idempotency-Key`` lets the receiver drop the copy.

Counting an attempt also leases the row (``lease_until``) for as long as a send may take, so a run
that overlaps a slow send (another tick, ``opskeeper notify deliver``) does not send it again. The
holder keeps it across its quick retries and releases it with the outcome; a crash leaves a lease
that expires, and then the next run sends the message again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from opskeeper.config.estate import Estate
from opskeeper.config.notify import DeliveryPolicy, stored_endpoint
from opskeeper.config.secrets import redact
from opskeeper.ledger import Ledger
from opskeeper.ledger import notify as store
from opskeeper.ledger.notify import Notification
from opskeeper.notify.channels.factory import ChannelFactory
from opskeeper.notify.interface import Channel, DeliveryError, Message, PermanentDeliveryError
from opskeeper.notify.records import NotificationRecord, ack_link

Clock = Callable[[], datetime]

LEASE_FLOOR = timedelta(minutes=5)
# Network waits in one SMTP send, each bounded by the channel's timeout: connect, greeting, EHLO,
# STARTTLS, EHLO again, AUTH, MAIL, RCPT, DATA, the message, QUIT (a webhook needs far fewer).
WAITS_PER_SEND = 11


def deliver_pending(
    estate: Estate,
    ledger: Ledger,
    now: datetime,
    channels: ChannelFactory,
    sleep: Callable[[float], None] = time.sleep,
) -> list[NotificationRecord]:
    """Send every message still owed whose backoff has passed (new, retrying, or in doubt)."""
    rows = store.due_rows(ledger, now)
    out: list[NotificationRecord] = []
    errors: list[Exception] = []
    clock = advancing(now)
    for r in rows:
        try:
            out.append(NotificationRecord.of(deliver_row(estate, ledger, r, clock(), channels, sleep)))
        except Exception as e:  # one broken row (bug, unconfigured channel) must not hold up the rest
            errors.append(e)
    if errors:
        raise errors[0]
    return out


def deliver_row(
    estate: Estate,
    ledger: Ledger,
    row: Notification,
    now: datetime,
    channels: ChannelFactory,
    sleep: Callable[[float], None] = time.sleep,
) -> Notification:
    """Send one stored message over the channel its endpoint (as stored with it) needs."""
    ack_url = ack_link(estate.emergency_plan.ack_base_url, row.token) if row.ack_required else None
    channel = channels(estate, stored_endpoint(row.channel, row.address, row.transport))
    return deliver(
        ledger, row.id, channel, message_of(row, ack_url), estate.emergency_plan.delivery, now, sleep
    )


def message_of(row: Notification, ack_url: str | None) -> Message:
    return Message(
        key=row.key,
        message_id=row.message_id,
        address=row.address,
        recipient_name=row.contact_name,
        subject=row.subject,
        text=row.body_text,
        html=row.body_html,
        language=row.language,
        event=row.event,
        customer_id=row.customer_id,
        severity=row.severity,
        drill=row.drill,
        ack_url=ack_url,
    )


def next_pause(policy: DeliveryPolicy, attempts: int) -> float:
    """Seconds before the next tick may try again: backoff, doubling, capped."""
    seconds = policy.backoff.total_seconds() * 2 ** max(0, attempts - 1)
    return min(seconds, policy.max_backoff.total_seconds())


def lease_length(policy: DeliveryPolicy, channel: Channel) -> timedelta:
    """How long one attempt holds its row: a send in which every network wait times out, then the
    longest quick pause before the holder tries again; never less than LEASE_FLOOR."""
    send = channel.send_timeout * WAITS_PER_SEND
    pause = policy.quick_backoff * 2 ** max(0, policy.quick_retries - 1)
    return max(LEASE_FLOOR, send + pause)


def advancing(now: datetime) -> Clock:
    """The caller's clock, moved on by the real time spent since: a lease taken late in a long
    delivery run must still last its full length (monotonic, so wall-clock jumps do not matter)."""
    start = time.monotonic()
    return lambda: now + timedelta(seconds=time.monotonic() - start)


def deliver(
    ledger: Ledger,
    row_id: int,
    channel: Channel,
    message: Message,
    policy: DeliveryPolicy,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> Notification:
    """Try now (with a few quick retries); record every attempt and the outcome.

    Returns the row untouched when it is not ours to send: finished meanwhile, or leased by an
    attempt still in flight elsewhere.
    """
    clock = advancing(now)
    lease = lease_length(policy, channel)
    held: int | None = None  # the attempt whose lease this call holds
    for quick in range(policy.quick_retries + 1):
        at = clock()
        attempts = store.claim_next_attempt(ledger, row_id, at, at + lease, held)
        if attempts is None:
            return store.row(ledger, row_id)
        held = attempts
        try:
            channel.send(message)
        except DeliveryError as e:
            permanent = isinstance(e, PermanentDeliveryError) or attempts >= policy.max_attempts
            last_quick = quick == policy.quick_retries
            row = _record_failure(
                ledger, row_id, attempts, redact(str(e)), clock(), permanent, last_quick, policy
            )
            if permanent or last_quick:
                return row
            sleep(policy.quick_backoff.total_seconds() * 2**quick)  # still holding the lease
            continue
        except Exception as e:
            # A channel bug, not a delivery outcome: still record it and back off, and give up after
            # max_attempts so that escalation acts, instead of a row pending silently on every tick.
            error = redact(f"{type(e).__name__}: {e}")
            _record_failure(
                ledger, row_id, attempts, error, clock(), attempts >= policy.max_attempts, True, policy
            )
            raise
        return _record_sent(ledger, row_id, clock())
    raise AssertionError("unreachable")


def _record_sent(ledger: Ledger, row_id: int, now: datetime) -> Notification:
    row = store.record_sent(ledger, row_id, now)
    ledger.audit(
        "notify",
        "notification.sent",
        f"notification:{row_id}",
        {
            "customer": row.customer_id,
            "event": row.event,
            "to": row.contact_name,
            "channel": row.channel,
            "attempts": row.attempts,
        },
    )
    return row


def _record_failure(
    ledger: Ledger,
    row_id: int,
    attempt: int,
    error: str,
    now: datetime,
    permanent: bool,
    last_quick: bool,
    policy: DeliveryPolicy,
) -> Notification:
    retry_at = now + timedelta(seconds=next_pause(policy, attempt)) if last_quick and not permanent else None
    row, ours = store.record_failure(ledger, row_id, attempt, error, permanent, retry_at)
    if not ours:
        return row  # another run's attempt decides (see store.record_failure)
    if permanent:
        ledger.audit(
            "notify",
            "notification.failed",
            f"notification:{row_id}",
            {
                "customer": row.customer_id,
                "event": row.event,
                "to": row.contact_name,
                "attempts": row.attempts,
                "error": row.failure,
            },
        )
    return row
