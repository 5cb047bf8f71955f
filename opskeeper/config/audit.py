"""Audit anchors: where the audit head is written outside the ledger, and how often (see opskeeper.anchors)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from opskeeper.config.types import Duration


class AuditSettings(BaseModel):
    """``audit:`` in the estate. Without ``anchor_targets``, anchors go to ``$OPSKEEPER_HOME/anchors``."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    anchor_targets: list[str] = Field(default_factory=list)  # names of backup_targets
    every: Duration = timedelta(days=1)  # the tick anchors the head when the newest anchor is older
    # Anchors of these other ledgers at the targets are not checked against this one: a ledger that was
    # replaced on purpose, or another installation sharing the target. Any other ledger's anchor fails
    # `audit verify` (that is how a wiped or replaced ledger shows).
    other_ledgers: list[Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]] = Field(default_factory=list)
