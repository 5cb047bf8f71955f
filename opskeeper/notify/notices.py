"""Advance notices: "maintenance scheduled" the tier's notice period before each planned window,
and a correction when a window already announced has moved (blackout, reschedule).

The calendar plans the windows; this module only compares them with what the ledger says was
announced. The topic ``maintenance:<cadence>:<period>`` ties notices of one piece of work together;
the dedup key adds the window start, so each distinct window is announced exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from opskeeper.calendar import period_of
from opskeeper.config.estate import Estate
from opskeeper.config.types import Cadence, Severity
from opskeeper.ledger import Ledger
from opskeeper.ledger import notify as store
from opskeeper.ledger.notify import DeliveryStatus
from opskeeper.notify.events import Event
from opskeeper.notify.records import NotificationRecord, decode_context
from opskeeper.notify.service import Notifier


class Window(Protocol):
    start: datetime
    end: datetime


def topic_of(cadence: Cadence | str, period_key: str) -> str:
    return f"maintenance:{Cadence(cadence).value}:{period_key}"


def _items(planned: Iterable[Any], estate: Estate) -> list[tuple[str, Cadence, str, Window, bool]]:
    """Accept (customer_id, cadence, window[, period_key]) tuples or the calendar's PlannedRun objects.

    Without a period key the window's own period is assumed; pass the key (PlannedRun does) so that
    work moved across a period boundary is still recognised as the same work. A PlannedRun carries the
    planner's decision that its notice is due now (also a catch-up notice, shorter than the tier's);
    a bare tuple is announced once its window is within the tier's notice period.
    """
    out = []
    for p in planned:
        if isinstance(p, tuple):
            customer_id, cadence, window = p[:3]
            tz = estate.customer(customer_id).timezone
            period = p[3] if len(p) > 3 else period_of(Cadence(cadence), window.start, tz).key
            decided = False
        else:
            if p.window is None or str(getattr(p, "status", "")) in ("done", "covered"):
                continue
            customer_id, cadence, window, period = p.customer_id, p.cadence, p.window, p.period.key
            decided = True
        out.append((customer_id, Cadence(cadence), period, window, decided))
    return out


def announced(ledger: Ledger, customer_id: str, topic: str) -> tuple[datetime, datetime] | None:
    """The window most recently announced on this topic (None: never announced)."""
    rows = [r for r in store.topic_rows(ledger, customer_id, topic) if r.status != DeliveryStatus.FAILED]
    if not rows:
        return None
    ctx = decode_context(rows[-1].context)
    return ctx["window_start"], ctx["window_end"]


def send_maintenance_notices(
    estate: Estate, ledger: Ledger, now: datetime, planned: Iterable[Any], notifier: Notifier | None = None
) -> list[NotificationRecord]:
    """Announce windows entering their notice period; correct windows that moved since announced.

    The message and the ledger row carry the real lead time (window start - now) and the tier's
    notice period, so a catch-up notice shorter than the contract's says so.
    """
    notifier = notifier or Notifier()
    sent: list[NotificationRecord] = []
    for customer_id, cadence, period, window, decided in _items(planned, estate):
        customer = estate.customer(customer_id)
        if window.start <= now:
            continue  # already running or past: "started" is the maintenance flow's message
        topic = topic_of(cadence, period)
        before = announced(ledger, customer_id, topic)
        notice = estate.tier_of(customer).maintenance_notice
        if before is None and not decided and now < window.start - notice:
            continue  # not yet time to announce
        if before is not None and (before[0], before[1]) == (window.start, window.end):
            continue  # this window is what the customer already knows
        lead = window.start - now
        context = {
            "cadence": cadence.value,
            "window_start": window.start,
            "window_end": window.end,
            "systems": [s.name or s.id for s in customer.systems],
            "correction": before is not None,
            "previous_start": before[0] if before else None,
            "previous_end": before[1] if before else None,
            "lead_time": lead,
            "notice_period": notice,
            "short_notice": lead < notice,
        }
        sent += notifier.notify(
            estate,
            ledger,
            event=Event.MAINTENANCE_SCHEDULED,
            customer_id=customer_id,
            severity=Severity.ROUTINE,
            context=context,
            topic=topic,
            now=now,
            dedup_key=_dedup(topic, window, before),
        )
    return sent


def _dedup(topic: str, window: Window, before: tuple[datetime, datetime] | None) -> str:
    """Start, end and what it corrects: a window whose end alone moved, or that moved back to an
    earlier announced slot, is a new message (a start-only key would find the old rows and send nothing)."""
    stamp = "%Y%m%dT%H%MZ"
    key = f"{topic}@{window.start.strftime(stamp)}-{window.end.strftime(stamp)}"
    return key + (f"<{before[0].strftime(stamp)}-{before[1].strftime(stamp)}" if before else "")
