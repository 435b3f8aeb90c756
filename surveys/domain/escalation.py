"""Nobody forgets an alert: re-notification of alerts that nobody has tried to contact.

`flask --app app alerts escalate` (from cron, every minute) owes a `reminder` notice to the on-call
and backup addresses (Study.oncall_email, Study.backup_oncall_email) for:

- an open level-3 alert with no contact attempt `Study.renotify_level3_minutes` after it reached
  level 3, and again after each further such delay (steps `level3:1`, `level3:2`, ...);
- an open level-2 alert with no contact attempt when the clinic's day ends
  (`Study.clinic_day_end_hour`, local time in `Study.timezone`) on the day it was raised, or the
  next day when it was raised after that hour, and again at each later day's end (steps
  `level2:<local date>`).

Each step is owed once whatever the overlap of runs (the notice's unique key), and delivered once
(the outbox's claim). A contact attempt stops the reminders; a resolution closes the alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveys.domain.alert_models import Alert
from surveys.domain.models import Study
from surveys.domain.notices import owe_notice


@dataclass(frozen=True, slots=True)
class Reminder:
    """A reminder step that is due for an alert."""

    alert_id: int
    level: int
    step: str


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _day_end(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """When the clinic's day `day` (a local date) ends: `hour` o'clock there (24 = the next midnight)."""
    if hour == 24:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return datetime.combine(day, time(hour), tzinfo=zone)


def level3_step(level_at: datetime, minutes: int, now: datetime) -> str | None:
    """`level3:<n>` once n whole delays have passed since the alert reached level 3, else None."""
    passed = int((now - level_at).total_seconds() // (60 * minutes))
    return f"level3:{passed}" if passed >= 1 else None


def level2_step(level_at: datetime, end_hour: int, timezone: str, now: datetime) -> str | None:
    """`level2:<local date>` for the latest clinic day that ended (in the study's zone) after the
    alert was raised, else None. The hour is placed on each local date, so DST changes are safe."""
    zone = _zone(timezone)
    raised = level_at.astimezone(zone)
    first = raised.date()  # the clinic day the alert arrived in: today's, or tomorrow's after hours
    if raised >= _day_end(first, end_hour, zone):
        first += timedelta(days=1)
    local_now = now.astimezone(zone)
    latest = local_now.date()
    if local_now < _day_end(latest, end_hour, zone):
        latest -= timedelta(days=1)
    return f"level2:{latest.isoformat()}" if latest >= first else None


def due_reminders(session: Session, now: datetime) -> list[Reminder]:
    """Every reminder step due at `now` (UTC) for open level 2-3 alerts with no contact attempt."""
    rows = session.execute(
        select(
            Alert.id,
            Alert.level,
            Alert.level_at,
            Study.renotify_level3_minutes,
            Study.clinic_day_end_hour,
            Study.timezone,
        )
        .join(Study, Study.id == Alert.study_id)
        .where(Alert.state == "open", Alert.first_contact_at.is_(None), Alert.level >= 2)
        .order_by(Alert.id)
    )
    due = []
    for alert_id, level, level_at, minutes, end_hour, timezone in rows:
        if level == 3:
            step = level3_step(level_at, minutes, now)
        else:
            step = level2_step(level_at, end_hour, timezone, now)
        if step is not None:
            due.append(Reminder(alert_id, level, step))
    return due


def owe_reminders(session: Session, now: datetime) -> list[int]:
    """Owe a reminder notice for each step due at `now` not owed before; returns the new notice ids.

    Flushes; the caller commits, then delivers (`notices.deliver_notices`).
    """
    owed = []
    for reminder in due_reminders(session, now):
        alert = session.get_one(Alert, reminder.alert_id)
        notice_id = owe_notice(session, alert, "reminder", reminder.level, reminder.step)
        if notice_id is not None:
            owed.append(notice_id)
    return owed
