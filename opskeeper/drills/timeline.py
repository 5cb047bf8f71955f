"""The drill timeline: every event with its time; measurement reads it, the report draws it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from opskeeper.clock import SYSTEM


class Event(StrEnum):
    DECLARED = "declared"
    PREFLIGHT_OK = "preflight_ok"
    STEADY_STATE_BEFORE = "steady_state_before"
    APPROVED = "approved"
    FAULT_STARTED = "fault_started"
    FAULT_INJECTED = "fault_injected"
    DETECTED = "detected"
    RECOVERY_STARTED = "recovery_started"
    SERVICE_RESTORED = "service_restored"
    DATA_VERIFIED = "data_verified"
    STEADY_STATE_AFTER = "steady_state_after"
    CLEANUP_STARTED = "cleanup_started"
    CLEANUP_DONE = "cleanup_done"
    CLEANUP_FAILED = "cleanup_failed"
    ABORTED = "aborted"
    ERROR = "error"  # an unexpected exception stopped the drill (detail: its type and message, redacted)
    STEP = "step"  # one step or probe finished (detail says which)
    EVALUATED = "evaluated"


# The milestones drawn on the chart, in the order a good drill reaches them.
MILESTONES: tuple[Event, ...] = (
    Event.DECLARED,
    Event.FAULT_INJECTED,
    Event.DETECTED,
    Event.RECOVERY_STARTED,
    Event.SERVICE_RESTORED,
    Event.DATA_VERIFIED,
    Event.CLEANUP_DONE,
)


@dataclass(frozen=True)
class TimelineEvent:
    kind: Event
    at: datetime
    detail: str = ""
    ok: bool = True
    duration_s: float | None = None  # for STEP events


@dataclass
class Timeline:
    """Append-only list of events. ``clock`` is injectable so tests can build any timeline."""

    events: list[TimelineEvent] = field(default_factory=list)
    clock: Callable[[], datetime] = SYSTEM.now
    observers: list[Callable[[TimelineEvent], None]] = field(default_factory=list)

    def record(
        self,
        kind: Event,
        detail: str = "",
        *,
        ok: bool = True,
        at: datetime | None = None,
        duration_s: float | None = None,
    ) -> TimelineEvent:
        event = TimelineEvent(kind, at or self.clock(), detail, ok, duration_s)
        self.events.append(event)
        for observer in self.observers:
            try:
                observer(event)
            except Exception:  # observers never break a drill (they may lose an event)
                pass
        return event

    def first(self, kind: Event) -> TimelineEvent | None:
        return next((e for e in self.events if e.kind is kind), None)

    def at(self, kind: Event) -> datetime | None:
        event = self.first(kind)
        return event.at if event else None

    def has(self, kind: Event) -> bool:
        return self.first(kind) is not None

    def milestones(self) -> list[TimelineEvent]:
        return [e for e in self.events if e.kind in (*MILESTONES, Event.CLEANUP_FAILED, Event.ERROR)]

    def steps(self) -> list[TimelineEvent]:
        return [e for e in self.events if e.kind is Event.STEP]

    @classmethod
    def of(cls, events: Iterable[TimelineEvent]) -> Timeline:
        return cls(events=sorted(events, key=lambda e: e.at))
