"""Catch-up after downtime: how much notice a period's work may get when the full notice no longer fits.

A tier says ``catch_up: {policy: short, min_lead: 4h}``: when no window left in the period can be
announced the full ``maintenance_notice`` ahead (the scheduler was down, the customer was added
mid-period, blackouts ate the announced window), the work may use a window announced at least
``min_lead`` ahead. ``full`` (the default) never shortens the notice: the period is missed instead.
``none`` runs in the next open window with whatever notice is left.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator

from opskeeper.config.types import Duration


class CatchUpPolicy(StrEnum):
    FULL = "full"  # only ever the tier's full notice
    SHORT = "short"  # at least min_lead of notice
    NONE = "none"  # any notice at all, however short


class CatchUp(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    policy: CatchUpPolicy = CatchUpPolicy.FULL
    min_lead: Duration | None = None

    @model_validator(mode="after")
    def _lead(self) -> CatchUp:
        if self.policy is CatchUpPolicy.SHORT:
            if self.min_lead is None or self.min_lead <= timedelta(0):
                raise ValueError("catch_up: policy 'short' needs a positive 'min_lead' (e.g. 4h)")
        elif self.min_lead is not None:
            raise ValueError(f"catch_up: 'min_lead' only goes with policy 'short', not {self.policy.value!r}")
        return self

    def lead_needed(self) -> timedelta | None:
        """The shortest notice a catch-up window may get; None: no catch-up (policy full)."""
        if self.policy is CatchUpPolicy.SHORT:
            return self.min_lead
        if self.policy is CatchUpPolicy.NONE:
            return timedelta(0)
        return None
