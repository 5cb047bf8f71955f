"""Open the channel an endpoint needs, as the estate configures it. The one dispatch over channels.

Where a new channel goes (e.g. SMS), three files and nothing else:

1. ``opskeeper/config/notify.py``: its endpoint model (``kind``, ``address``, ``transport``,
   ``shown``, ``stored``), added to ``Endpoint`` and ``ChannelKind``. Contacts list it under
   ``endpoints:``, severity plans under ``channels:``; the ledger, ``notify pending``, the
   evidence pack and redaction take it from the model.
2. ``opskeeper/notify/channels/<name>.py``: a ``Channel`` (interface.py) that sends one ``Message``
   or raises ``DeliveryError`` / ``PermanentDeliveryError`` naming the endpoint by ``shown()``.
3. Here: one ``isinstance`` case in :func:`open_channel`; mypy's ``assert_never`` refuses a union
   member without one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import assert_never

from opskeeper.config.estate import Estate
from opskeeper.config.notify import EmailEndpoint, EmailRoute, Endpoint, WebhookEndpoint
from opskeeper.notify.channels.outbox import OutboxChannel
from opskeeper.notify.channels.smtp import SmtpChannel
from opskeeper.notify.channels.webhook import WebhookChannel
from opskeeper.notify.interface import Channel, NotifyError
from opskeeper.paths import home_dir

# What the Notifier calls to get a channel; tests and the simulator pass one that sends nowhere.
ChannelFactory = Callable[[Estate, Endpoint], Channel]


def open_channel(estate: Estate, endpoint: Endpoint) -> Channel:
    """The channel that delivers to ``endpoint`` (as stored with its message: see ``stored_endpoint``)."""
    if isinstance(endpoint, EmailEndpoint):
        return _email(estate, endpoint.via or estate.emergency_plan.channel)
    if isinstance(endpoint, WebhookEndpoint):
        return WebhookChannel(endpoint.format)
    assert_never(endpoint)


def _email(estate: Estate, via: EmailRoute) -> Channel:
    match via:
        case "outbox":
            return OutboxChannel(outbox_dir(estate), sender_of(estate))
        case "smtp":
            if estate.emergency_plan.smtp is None:
                raise NotifyError("emergency_plan.smtp is not configured, but a message wants SMTP")
            return SmtpChannel(estate.emergency_plan.smtp)
        case _:
            assert_never(via)


def outbox_dir(estate: Estate) -> Path:
    configured = estate.emergency_plan.outbox_dir
    return Path(configured) if configured else home_dir() / "outbox"


def sender_of(estate: Estate) -> str:
    smtp = estate.emergency_plan.smtp
    return smtp.sender if smtp else f"{estate.provider.name} <notifications@opskeeper.invalid>"
