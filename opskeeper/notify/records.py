"""Frozen views of ledger rows handed to callers, and the JSON form of a template context."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opskeeper.config.notify import stored_endpoint
from opskeeper.config.secrets import redact
from opskeeper.i18n import Localized
from opskeeper.ledger.notify import Notification

ACK_PATH = "/ack/"


def ack_link(base_url: str, token: str) -> str:
    """The link format served by :func:`opskeeper.notify.ackserver.start_ack_server`."""
    return f"{base_url.rstrip('/')}{ACK_PATH}{token}"


@dataclass(frozen=True)
class NotificationRecord:
    id: int
    key: str
    event: str
    customer_id: str
    severity: str
    drill: bool
    contact_name: str
    level: int
    channel: str
    transport: str
    address: str
    language: str
    subject: str
    status: str
    attempts: int
    created_at: datetime
    deadline_at: datetime | None
    sent_at: datetime | None
    failure: str | None
    ack_required: bool
    acked_at: datetime | None
    acked_by: str | None
    escalation_level: int
    breached_at: datetime | None
    message_id: str
    token: str
    unreached_levels: tuple[int, ...] = ()  # escalation levels of the group that had nobody to tell

    @classmethod
    def of(cls, row: Notification) -> NotificationRecord:
        values = {name: getattr(row, name) for name in cls.__dataclass_fields__}
        values["unreached_levels"] = tuple(row.unreached_levels or ())
        values["address"] = stored_endpoint(row.channel, row.address, row.transport).shown()
        return cls(**values)


def encode_context(context: dict[str, Any]) -> dict[str, Any]:
    """JSON for the ledger; datetimes and durations tagged so that escalation can render again."""
    return {k: _encode(v) for k, v in context.items()}


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$td": value.total_seconds()}
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Localized):  # every language is kept: escalation renders for other recipients
        return value.map(redact).to_json()
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def decode_context(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _decode(v) for k, v in data.items()}


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$dt"}:
            return datetime.fromisoformat(value["$dt"])
        if set(value) == {"$td"}:
            return timedelta(seconds=value["$td"])
        text = Localized.from_json(value)
        if text is not None:
            return text
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value
