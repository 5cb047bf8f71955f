"""Prefect task of the tick: anchor the audit head outside the ledger when due (opskeeper.anchors)."""

from __future__ import annotations

import logging
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

from opskeeper.anchors.places import LOCAL_WARNING
from opskeeper.anchors.write import anchor_if_due
from opskeeper.config.estate import Estate
from opskeeper.config.secrets import redact
from opskeeper.errors import OpskeeperError
from opskeeper.ledger import Ledger


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except MissingContextError:  # called as a plain function (tests, scripts)
        return logging.getLogger(__name__)


@task(name="anchor-audit-head", cache_policy=NO_CACHE)
def anchor_audit_head(estate: Estate, now: datetime) -> str:
    """Write the audit head to the anchor targets when the newest anchor is older than audit.every.

    A failure is logged and returned, never raised: anchoring must not stop the tick's other work.
    """
    log = _logger()
    try:
        outcome = anchor_if_due(estate, Ledger.open(), now)
    except Exception as e:  # not only OpskeeperError: a bug or a driver error must not stop the tick either
        why = str(e) if isinstance(e, OpskeeperError) else f"{type(e).__name__}: {e}"
        log.warning("audit anchor not written: %s", redact(why))
        return f"failed: {redact(why)}"
    if outcome is None:
        return "not due"
    for p in outcome.failed:
        log.warning("audit anchor not written to %s: %s", p.target, p.error)
    if outcome.local_only:
        log.warning(LOCAL_WARNING)
    done = ", ".join(f"{p.target} {p.status.value}" for p in outcome.places)
    return f"#{outcome.anchor.seq}: {done}"
