"""The emergency plan as data: who is told (roles, levels), over which channels, by when.

Pure functions of the estate: no ledger, no network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from opskeeper.config.estate import Customer, Estate
from opskeeper.config.notify import EmailEndpoint, Endpoint, WebhookEndpoint
from opskeeper.config.types import Language, Severity

ONCALL_LEVEL = 9  # the provider's own on-call, after the customer's escalation levels


@dataclass(frozen=True)
class Recipient:
    name: str
    role: str
    level: int
    endpoint: Endpoint
    languages: tuple[Language, ...]  # preferred first; the renderer falls back to English last

    @property
    def channel(self) -> str:
        """The endpoint's kind: part of each message's idempotency key."""
        return self.endpoint.kind


def idempotency_key(event: str, customer_id: str, contact: str, channel: str, dedup_key: str) -> str:
    raw = "\x1f".join((event, customer_id, contact, channel, dedup_key))
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def group_key(event: str, customer_id: str, dedup_key: str) -> str:
    """All messages about one thing (every contact, channel and escalation level) share this."""
    return hashlib.sha256("\x1f".join((event, customer_id, dedup_key)).encode()).hexdigest()[:40]


def recipients(
    estate: Estate, customer: Customer, severity: Severity, *, drill: bool, level: int | None = None
) -> list[Recipient]:
    """The first round (``level=None``: the plan's roles, else level-1 contacts) or one escalation level."""
    plan = estate.emergency_plan
    sev = plan.plan_for(severity)
    langs = (customer.language, customer.fallback_language)
    if level == ONCALL_LEVEL:
        return _oncall(estate, sev.channels)
    if level is not None:
        contacts = [c for c in customer.contacts if c.escalation_level == level]
    else:
        roles = (plan.drills.roles or sev.roles) if drill else sev.roles
        contacts = [c for c in customer.contacts if c.role in roles] if roles else []
        if not contacts:
            contacts = [c for c in customer.contacts if c.escalation_level == 1] or customer.contacts[:1]
    out: list[Recipient] = []
    for c in contacts:
        prefs = (c.language, *langs) if c.language else langs
        out += [
            Recipient(c.name, c.role, c.escalation_level, e, prefs)
            for e in c.endpoints
            if e.kind in sev.channels
        ]
    return out


def _oncall(estate: Estate, channels: Sequence[str]) -> list[Recipient]:
    p = estate.provider
    # The internal on-call always gets its webhook, whatever the customer plan's channels say.
    endpoints: list[tuple[Endpoint, bool]] = []
    if p.oncall_email:
        endpoints.append((EmailEndpoint(address=p.oncall_email), False))
    if p.oncall_webhook:
        endpoints.append((WebhookEndpoint(address=p.oncall_webhook), True))
    name = f"{p.name} on-call"
    return [
        Recipient(name, "oncall", ONCALL_LEVEL, e, (Language.EN,))
        for e, always in endpoints
        if always or e.kind in channels
    ]


def nobody_at(estate: Estate, customer: Customer, severity: Severity, level: int) -> str | None:
    """Why an escalation to ``level`` would tell nobody, or None when someone there can be told."""
    if level == ONCALL_LEVEL:
        return oncall_unreachable(estate, severity)
    if recipients(estate, customer, severity, drill=False, level=level):
        return None
    named = [c.name for c in customer.contacts if c.escalation_level == level]
    if not named:
        return f"customer {customer.id!r} has no contact with escalation_level {level}"
    channels = ", ".join(estate.emergency_plan.plan_for(severity).channels) or "none"
    return (
        f"customer {customer.id!r}: no contact at escalation_level {level} ({', '.join(named)}) "
        f"has an address on the channels of severity {severity.value} ({channels})"
    )


def oncall_unreachable(estate: Estate, severity: Severity) -> str | None:
    """Why the provider's on-call (level 9) cannot be told about this severity, or None."""
    channels = estate.emergency_plan.plan_for(severity).channels
    if _oncall(estate, channels):
        return None
    if not (estate.provider.oncall_email or estate.provider.oncall_webhook):
        return "level 9 is the provider's on-call, but provider.oncall_email / oncall_webhook are not set"
    return (
        f"level 9 is the provider's on-call, but it has only provider.oncall_email and severity "
        f"{severity.value} uses channels ({', '.join(channels) or 'none'}); set provider.oncall_webhook"
    )
