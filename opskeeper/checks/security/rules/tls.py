"""TLS certificates near expiry: files on the host and the configured endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from cryptography import x509

from opskeeper.checks.security.model import CheckContext, Facts, ObjectResult
from opskeeper.checks.security.registry import check
from opskeeper.config.types import FindingSeverity


def _judge(obj: str, pem: str, ctx: CheckContext) -> ObjectResult:
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as e:
        return ObjectResult(obj, True, f"not a parsable certificate ({e}); skipped")
    expires: datetime = cert.not_valid_after_utc
    left = expires - ctx.now
    subject = cert.subject.rfc4514_string() or "(empty subject)"
    ok = left > timedelta(days=ctx.policy.cert_warn_days)
    state = "expired" if left <= timedelta(0) else f"expires in {left.days} days"
    return ObjectResult(obj, ok, f"{subject}: {state} ({expires:%Y-%m-%d})")


@check(
    "tls.cert-expiry",
    title="TLS certificate expired or expiring soon",
    title_i18n={"zh-CN": "TLS 证书已过期或即将过期", "ru": "Сертификат TLS истёк или скоро истечёт"},
    severity=FindingSeverity.HIGH,
    rationale="An expired certificate breaks clients or trains users to click through warnings.",
    remediation="Renew the certificate (and its automation) and reload the service that uses it.",
    needs=("certs",),
)
def cert_expiry(facts: Facts, ctx: CheckContext) -> Iterator[ObjectResult]:
    data = facts.data("certs")
    found = False
    for c in data["certs"]:
        found = True
        obj = c["path"] if c["index"] == 0 else f"{c['path']}#{c['index']}"
        yield _judge(obj, c["pem"], ctx)
    for ep in facts.extra.get("tls_endpoints", []):
        found = True
        if ep["pem"] is None:  # unreachable now: neither passed nor resolved
            yield ObjectResult(f"tls:{ep['endpoint']}", None, f"could not fetch: {ep['error']}")
        else:
            yield _judge(f"tls:{ep['endpoint']}", ep["pem"], ctx)
    if not found:
        yield ObjectResult("certs:*", True, "no certificates under " + ", ".join(ctx.policy.cert_paths))
