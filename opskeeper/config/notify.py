"""The emergency plan: who is told what, how fast, and how escalation goes (owned by the notify area)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal, Self, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from opskeeper.config.secrets import SecretRef
from opskeeper.config.types import Duration, Severity

# What customers configure and severity plans list: one name per endpoint kind below.
ChannelKind = Literal["email", "webhook"]
EmailRoute = Literal["outbox", "smtp"]  # how e-mail leaves: the outbox folder or an SMTP relay
WebhookFormat = Literal["json", "slack", "teams"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- endpoints: where a contact is reached --------------------------------------------------------------
# Each kind owns what the ledger stores for it (``address``, ``transport(plan)``, ``stored``) and how
# its address is shown (``shown``): nothing outside its own class and channel knows a kind's secrets.
# A new kind goes here (and into ``Endpoint`` and ``ChannelKind``); see notify/channels/factory.py.


class EmailEndpoint(_Model):
    """An e-mail address; the mail leaves ``via`` the outbox or SMTP (default: the plan's ``channel``)."""

    kind: Literal["email"] = "email"
    address: str
    via: EmailRoute | None = None

    def transport(self, plan: EmergencyPlan) -> str:
        """How messages to it leave, as recorded with each one (and used again to retry it)."""
        return self.via or plan.channel

    def shown(self) -> str:
        return self.address  # an e-mail address is no credential

    @classmethod
    def stored(cls, address: str, transport: str) -> Self:
        return cls.model_validate({"address": address, "via": transport})


class WebhookEndpoint(_Model):
    """An HTTP(S) URL that takes a JSON, Slack- or Teams-compatible POST."""

    kind: Literal["webhook"] = "webhook"
    address: str  # the URL; Slack/Teams URLs carry their secret in the path
    format: WebhookFormat = "json"

    def transport(self, plan: EmergencyPlan) -> str:
        return self.format

    def shown(self) -> str:
        """Scheme, host and port only: the path (Slack, Teams) and any user:password are secrets."""
        parts = urlsplit(self.address)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or ''}{port}/…"

    @classmethod
    def stored(cls, address: str, transport: str) -> Self:
        return cls.model_validate({"address": address, "format": transport})


Endpoint = Annotated[EmailEndpoint | WebhookEndpoint, Field(discriminator="kind")]
ENDPOINT_KINDS: dict[str, type[EmailEndpoint | WebhookEndpoint]] = {
    get_args(cls.model_fields["kind"].annotation)[0]: cls for cls in get_args(get_args(Endpoint)[0])
}
assert set(ENDPOINT_KINDS) == set(get_args(ChannelKind)), "ChannelKind must name every endpoint kind"


def stored_endpoint(kind: str, address: str, transport: str) -> Endpoint:
    """The endpoint a ledger row was written for (its ``channel``, ``address`` and ``transport``)."""
    try:
        cls = ENDPOINT_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown channel {kind!r}; expected one of {', '.join(ENDPOINT_KINDS)}") from None
    return cls.stored(address, transport)


class EscalationStep(_Model):
    after: Duration  # without acknowledgement, counted from the first message
    level: int = Field(ge=1, le=9)  # contacts of this escalation level; 9 = provider on-call


class SeverityPlan(_Model):
    roles: list[str] = Field(default_factory=list)  # contact roles told; empty: escalation level 1
    channels: list[ChannelKind] = Field(default_factory=lambda: list[ChannelKind](get_args(ChannelKind)))
    update_every: Duration | None = None
    escalation: list[EscalationStep] = Field(default_factory=list)
    # Must the customer acknowledge? Default: yes when the plan escalates, no otherwise.
    ack_required: bool | None = None

    @property
    def needs_ack(self) -> bool:
        return self.ack_required if self.ack_required is not None else bool(self.escalation)


class DrillAnnouncement(_Model):
    mode: Literal["announced", "silent"] = "announced"
    roles: list[str] = Field(default_factory=list)  # empty: the roles of the severity plan
    prefix: str = "DRILL"  # English marker; zh-CN and ru use their own (【演练】, [УЧЕНИЯ])


class SmtpSettings(_Model):
    """How e-mail leaves when ``channel: smtp``."""

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretRef | None = None
    sender: str  # the From address, e.g. "Northwind Ops <ops@northwind.example>"
    ca_file: str | None = None  # trust this CA (a private relay); default: the system store
    timeout: Duration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _auth(self) -> SmtpSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("smtp: give both 'username' and 'password' (a secret reference), or neither")
        return self


class DeliveryPolicy(_Model):
    """Retries: a few quick ones in the same call, then with growing pauses on later ticks."""

    quick_retries: int = Field(default=2, ge=0, le=5)
    quick_backoff: Duration = timedelta(seconds=1)
    backoff: Duration = timedelta(minutes=1)  # first pause between ticks; doubles each attempt
    max_backoff: Duration = timedelta(hours=1)
    max_attempts: int = Field(default=8, ge=1, le=50)  # then the message fails and escalates


def _default_severities() -> dict[Severity, SeverityPlan]:
    return {
        Severity.EMERGENCY: SeverityPlan(
            escalation=[
                EscalationStep(after=timedelta(minutes=30), level=2),
                EscalationStep(after=timedelta(minutes=60), level=9),
            ]
        ),
        Severity.HIGH: SeverityPlan(escalation=[EscalationStep(after=timedelta(hours=2), level=2)]),
        Severity.ROUTINE: SeverityPlan(),
    }


class EmergencyPlan(_Model):
    severities: dict[Severity, SeverityPlan] = Field(default_factory=_default_severities)
    drills: DrillAnnouncement = Field(default_factory=DrillAnnouncement)
    channel: EmailRoute = "outbox"  # how e-mail leaves: outbox folder (default) or SMTP
    smtp: SmtpSettings | None = None
    outbox_dir: str | None = None  # default: $OPSKEEPER_HOME/outbox
    ack_base_url: str = "http://127.0.0.1:8765"  # where `opskeeper serve` answers ack links
    delivery: DeliveryPolicy = Field(default_factory=DeliveryPolicy)

    @model_validator(mode="after")
    def _smtp_given(self) -> EmergencyPlan:
        if self.channel == "smtp" and self.smtp is None:
            raise ValueError("emergency_plan: 'channel: smtp' needs an 'smtp' section (host, sender, ...)")
        return self

    def plan_for(self, severity: Severity) -> SeverityPlan:
        return self.severities.get(severity) or SeverityPlan()
