"""What one drill's steps share: its backups, facts learned on the way, data restored, findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opskeeper.drills.backups import FoundSnapshot, SystemBackups
from opskeeper.drills.errors import ActionFailed
from opskeeper.drills.evaluate import Finding

STATE_PARAM = "_drill"  # the step parameter that carries the DrillState to drill actions


@dataclass
class DrillState:
    backups: SystemBackups
    baselines: dict[str, dict[str, str]] = field(default_factory=dict)  # data set -> path -> sha256
    pg_baselines: dict[str, dict[str, str]] = field(default_factory=dict)  # data set -> table -> fingerprint
    corrupted: dict[str, list[str]] = field(default_factory=dict)
    restored: list[FoundSnapshot] = field(default_factory=list)
    restored_paths: dict[str, list[str]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def newest_restored(self) -> datetime | None:
        return max((f.time for f in self.restored), default=None)

    def add_finding(self, finding: Finding) -> None:
        if all(f.fingerprint != finding.fingerprint for f in self.findings):
            self.findings.append(finding)


def state_of(params: dict[str, Any]) -> DrillState:
    state = params.get(STATE_PARAM)
    if not isinstance(state, DrillState):
        raise ActionFailed("this action runs only inside a drill (no drill state given)")
    return state


def public_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != STATE_PARAM}
