"""The one clock: every "what time is it" in opskeeper asks a :class:`Clock` that was passed down.

Only this module reads the wall clock. The product runs on :data:`SYSTEM`; a run made "at" a given
time (a test, ``schedule show --at``, ``simulate``) runs on a :class:`FixedClock` (time stands still
or is moved by hand) or an :class:`AnchoredClock` (starts at the given time and advances with the real
elapsed time, so durations stay true). Every time is timezone-aware UTC.

Elapsed time (timeouts, durations, rate limits) is measured with ``time.monotonic``, which no clock
changes: a step's timeout is real seconds whatever the run's date.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


class ClockError(ValueError):
    """A clock was given a naive datetime."""


def aware(at: datetime) -> datetime:
    """``at`` in UTC; a naive time is a bug in the caller, never silently taken as local or UTC."""
    if at.tzinfo is None:
        raise ClockError(f"naive datetime {at.isoformat()} given to a clock; use a timezone-aware time")
    return at.astimezone(UTC)


@runtime_checkable
class Clock(Protocol):
    """What time it is, as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time: the only place opskeeper reads the wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM: Clock = SystemClock()


class FixedClock:
    """Stands still at ``at`` until moved by :meth:`advance` or :meth:`set` (tests, simulation)."""

    def __init__(self, at: datetime) -> None:
        self._at = aware(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = aware(at)

    def advance(self, delta: timedelta) -> datetime:
        self._at += delta
        return self._at

    def __repr__(self) -> str:
        return f"FixedClock({self._at.isoformat()})"


class AnchoredClock:
    """Starts at ``at`` and advances with the real elapsed (monotonic) time since it was made.

    A run pinned to a time keeps its steps, samples and end in order and with true durations.
    """

    def __init__(self, at: datetime) -> None:
        self._at = aware(at)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._at + timedelta(seconds=time.monotonic() - self._t0)

    def __repr__(self) -> str:
        return f"AnchoredClock({self._at.isoformat()})"


def anchored(at: datetime | None, base: Clock = SYSTEM) -> Clock:
    """``base`` when no time is pinned, else a clock that starts at ``at`` and runs on."""
    return base if at is None else AnchoredClock(at)
