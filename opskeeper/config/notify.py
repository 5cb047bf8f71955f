"""The emergency plan: who is told what, how fast, and how escalation goes (owned by the notify area)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from opskeeper.config.secrets import SecretRef
from opskeeper.config.types import Duration, Severity

ChannelKind = Literal["email", "webhook"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EscalationStep(_Model):
    after: Duration  # without acknowledgement, counted from the first message
    level: int = Field(ge=1, le=9)  # contacts of this escalation level; 9 = provider on-call


class SeverityPlan(_Model):
    roles: list[str] = Field(default_factory=list)  # contact roles told; empty: escalation level 1
    channels: list[ChannelKind] = Field(default_factory=lambda: list[ChannelKind](["email", "webhook"]))
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
    channel: Literal["outbox", "smtp"] = "outbox"  # how e-mail leaves: outbox folder (default) or SMTP
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
