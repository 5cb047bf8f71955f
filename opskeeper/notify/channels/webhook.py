"""Webhooks: generic JSON, Slack- and Teams-compatible payloads, posted directly (urllib).

Every request carries ``Idempotency-Key`` (the message key), so a receiver can drop a copy that
a crash between sending and recording made us send again. HTTP 408/429/5xx and connection
errors are worth retrying; other 4xx are not.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta
from enum import StrEnum
from typing import Any, assert_never

from opskeeper.config.notify import WebhookEndpoint
from opskeeper.notify.interface import Channel, DeliveryError, Message, PermanentDeliveryError


class WebhookKind(StrEnum):
    JSON = "json"
    SLACK = "slack"
    TEAMS = "teams"


def payload(kind: WebhookKind, message: Message) -> dict[str, Any]:
    match kind:
        case WebhookKind.JSON:
            return {
                "id": message.key,
                "message_id": message.message_id,
                "event": message.event,
                "customer": message.customer_id,
                "severity": message.severity,
                "drill": message.drill,
                "language": message.language,
                "subject": message.subject,
                "text": message.text,
                "ack_url": message.ack_url,
            }
        case WebhookKind.SLACK:
            return {"text": f"*{message.subject}*\n{message.text}"}
        case WebhookKind.TEAMS:  # a Workflows (Power Automate) "post card" payload
            card = {
                "type": "AdaptiveCard",
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "wrap": True},
                    {"type": "TextBlock", "text": message.text, "wrap": True},
                ],
            }
            if message.ack_url:
                card["actions"] = [{"type": "Action.OpenUrl", "title": "Acknowledge", "url": message.ack_url}]
            content = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            return {"type": "message", "attachments": [content]}
        case _:
            assert_never(kind)


class WebhookChannel(Channel):
    name = "webhook"

    def __init__(self, kind: WebhookKind | str = WebhookKind.JSON, timeout: float = 15.0) -> None:
        self.kind = WebhookKind(kind)
        self.timeout = timeout
        self.send_timeout = timedelta(seconds=timeout)

    def send(self, message: Message) -> None:
        body = json.dumps(payload(self.kind, message), ensure_ascii=False).encode()
        where = f"webhook {WebhookEndpoint(address=message.address, format=self.kind.value).shown()}"
        request = urllib.request.Request(
            message.address,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Idempotency-Key": message.key,
                "User-Agent": "opskeeper-notify/1",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as e:
            error = DeliveryError if e.code in (408, 429) or e.code >= 500 else PermanentDeliveryError
            raise error(f"{where}: HTTP {e.code} {e.reason}") from e
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            raise DeliveryError(f"{where}: {reason}") from e
