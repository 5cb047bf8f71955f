"""The channel seam: a rendered message goes out through one ``Channel`` (outbox, SMTP, webhook).

``channels/factory.py:open_channel`` opens the channel a contact's endpoint needs (the endpoint
kinds are a union in config/notify.py); its docstring says where a new channel goes.

A channel either returns (the message left) or raises: ``DeliveryError`` when trying again
may help (connection refused, 5xx, 429, SMTP 4xx), ``PermanentDeliveryError`` when it cannot
(bad address, 4xx, SMTP 5xx). Channels never swallow failures.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import timedelta

from opskeeper.errors import OpskeeperError


class NotifyError(OpskeeperError):
    """Base error of the notification area."""

    exit_code = 1


class DeliveryError(NotifyError):
    """Sending failed; a later attempt may succeed."""


class PermanentDeliveryError(DeliveryError):
    """Sending failed and retrying the same message cannot help."""


@dataclass(frozen=True)
class Message:
    """One message to one recipient over one channel; ``key`` is its idempotency key."""

    key: str
    message_id: str  # stable: the same message always carries the same Message-ID
    address: str  # e-mail address or webhook URL
    recipient_name: str
    subject: str
    text: str
    html: str
    language: str
    event: str
    customer_id: str
    severity: str
    drill: bool
    ack_url: str | None = None


class Channel(ABC):
    """Delivers messages of one kind. Implementations: OutboxChannel, SmtpChannel, WebhookChannel."""

    name: str
    # The longest one network wait of a send may take (connect, one reply); zero: no network.
    send_timeout: timedelta = timedelta(0)

    @abstractmethod
    def send(self, message: Message) -> None:
        """Deliver or raise DeliveryError / PermanentDeliveryError (naming the address)."""
