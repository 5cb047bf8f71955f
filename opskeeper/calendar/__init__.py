"""The calendar: maintenance windows, blackouts, cadence periods, support hours and deadlines.

Everything is computed in the customer's zone (zoneinfo) and handed out as aware UTC
datetimes, so comparisons and arithmetic mean real elapsed time across DST changes.
"""

from opskeeper.calendar.deadlines import (
    Coverage,
    SupportCalendar,
    business_time_between,
    response_deadline,
    support_calendar,
    support_intervals,
    tier_deadline,
    tier_time_left,
)
from opskeeper.calendar.intervals import CalendarError, Interval, localize, merge, subtract
from opskeeper.calendar.periods import Period, next_period, period_of
from opskeeper.calendar.schedule import (
    CustomerSchedule,
    MovedBy,
    PlannedRun,
    PlanStatus,
    Schedule,
)
from opskeeper.calendar.windows import (
    WindowOccurrence,
    WindowStatus,
    blackout_at,
    blackout_intervals,
    next_open_window,
    open_windows,
    window_occurrences,
    window_open_at,
    window_status,
)

__all__ = [
    "CalendarError",
    "Coverage",
    "CustomerSchedule",
    "Interval",
    "MovedBy",
    "Period",
    "PlanStatus",
    "PlannedRun",
    "Schedule",
    "SupportCalendar",
    "WindowOccurrence",
    "WindowStatus",
    "blackout_at",
    "blackout_intervals",
    "business_time_between",
    "localize",
    "merge",
    "next_open_window",
    "next_period",
    "open_windows",
    "period_of",
    "response_deadline",
    "subtract",
    "support_calendar",
    "support_intervals",
    "tier_deadline",
    "tier_time_left",
    "window_occurrences",
    "window_open_at",
    "window_status",
]
