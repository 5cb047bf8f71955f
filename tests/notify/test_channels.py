"""The channel seam: endpoints open their channel through one factory, and each kind shows its own address."""

from __future__ import annotations

import pytest

from opskeeper.config.loader import load_estate
from opskeeper.config.notify import EmailEndpoint, SmtpSettings, WebhookEndpoint, stored_endpoint
from opskeeper.notify.channels.factory import open_channel
from opskeeper.notify.channels.outbox import OutboxChannel
from opskeeper.notify.channels.smtp import SmtpChannel
from opskeeper.notify.channels.webhook import WebhookChannel, WebhookKind
from opskeeper.notify.interface import NotifyError
from tests.notify.conftest import estate_file
from tests.notify.test_delivery import INCIDENT, T0


def test_each_endpoint_opens_its_channel(estate) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(open_channel(estate, EmailEndpoint(address="a@b.example")), OutboxChannel)
    with pytest.raises(NotifyError, match="emergency_plan.smtp is not configured"):
        open_channel(estate, EmailEndpoint(address="a@b.example", via="smtp"))
    estate.emergency_plan.channel = "smtp"
    estate.emergency_plan.smtp = SmtpSettings(host="127.0.0.1", sender="ops@x.example")
    assert isinstance(open_channel(estate, EmailEndpoint(address="a@b.example")), SmtpChannel)
    assert isinstance(open_channel(estate, EmailEndpoint(address="a@b.example", via="outbox")), OutboxChannel)
    hook = open_channel(estate, WebhookEndpoint(address="https://h.example/x", format="teams"))
    assert isinstance(hook, WebhookChannel) and hook.kind is WebhookKind.TEAMS


def test_a_row_gives_back_the_endpoint_it_was_written_for(estate) -> None:  # type: ignore[no-untyped-def]
    plan = estate.emergency_plan
    for endpoint in (
        EmailEndpoint(address="a@b.example"),
        WebhookEndpoint(address="https://h.example/x", format="slack"),
    ):
        back = stored_endpoint(endpoint.kind, endpoint.address, endpoint.transport(plan))
        assert back.kind == endpoint.kind and back.address == endpoint.address
        assert back.transport(plan) == endpoint.transport(plan)
    assert (
        stored_endpoint("email", "a@b.example", "smtp").transport(plan) == "smtp"
    )  # the route it was sent by
    with pytest.raises(ValueError, match="unknown channel 'pager'"):
        stored_endpoint("pager", "+49", "sms")


def test_a_webhook_shows_scheme_host_and_port_only() -> None:
    hook = WebhookEndpoint(address="https://bot:s3cret@hooks.example:8443/services/T0/B1/secret?x=1")
    assert hook.shown() == "https://hooks.example:8443/…"
    assert (
        WebhookEndpoint(address="https://hooks.slack.com/services/T0/B1/xyz").shown()
        == "https://hooks.slack.com/…"
    )
    assert EmailEndpoint(address="a@b.example").shown() == "a@b.example"


def test_contact_endpoints_in_the_file_reach_a_slack_webhook(tmp_path, ledger, notifier, webhook) -> None:  # type: ignore[no-untyped-def]
    listed = (
        "{name: Ирина Петрова, role: it-manager, escalation_level: 1, endpoints: ["
        f"{{kind: webhook, address: '{webhook.url('/T0/secret')}', format: slack}}]}}"
    )
    path = estate_file(
        tmp_path,
        replace={
            "{name: Ирина Петрова, role: it-manager, escalation_level: 1, email: i.petrova@volga.example}": listed
        },
    )
    estate = load_estate(path)
    [rec] = notifier.notify(estate, ledger, event="incident_declared", customer_id="volga", severity="emergency",
                            context=INCIDENT, dedup_key="INC-9", now=T0)  # fmt: skip
    assert (rec.status, rec.channel, rec.transport) == ("sent", "webhook", "slack")
    assert rec.address == f"http://127.0.0.1:{webhook.port}/…"  # the path is the secret: never shown
    [(path_, headers, body)] = webhook.requests
    assert path_ == "/T0/secret" and headers["Idempotency-Key"] == rec.key and body["text"].startswith("*")
