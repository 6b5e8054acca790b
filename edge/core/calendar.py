"""Which calendar message, if any, answers a call at a given local time (pure)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from edge.config import WEEKDAYS, CalendarConfig, clock_minutes


@dataclass(frozen=True)
class CalendarMessage:
    """A message that answers the call instead of staff: its name (for the basis), prompt and mode."""

    name: str
    prompt: str
    hold: bool = False
    """After the message the call is passed through ("please hold") instead of released."""


def calendar_message(calendar: CalendarConfig, local: dt.datetime) -> CalendarMessage | None:
    """The message for a call arriving at ``local`` time, or None when the office takes calls.

    Order matters: a moved office speaks first, then holidays, closed days and hours, then lunch.
    """
    if not calendar.enabled:
        return None
    today = local.date()
    moved = calendar.moved
    if moved is not None and moved.first <= today <= moved.last:
        return CalendarMessage("moved", moved.prompt, moved.hold)
    if today in calendar.holidays:
        return CalendarMessage("holiday", "after_hours")
    hours = calendar.office_hours
    minute = local.hour * 60 + local.minute
    if WEEKDAYS[local.weekday()] not in hours.days:
        return CalendarMessage("after_hours", "after_hours")
    if not clock_minutes(hours.open) <= minute < clock_minutes(hours.close):
        return CalendarMessage("after_hours", "after_hours")
    lunch = calendar.lunch
    if lunch.enabled and clock_minutes(lunch.start) <= minute < clock_minutes(lunch.end):
        return CalendarMessage("lunch", "lunch")
    return None
