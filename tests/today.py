"""The day the app counts in, for tests that build dates relative to today."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from surveys.domain.models import DEFAULT_TIMEZONE


def local_today(zone: str = DEFAULT_TIMEZONE) -> date:
    """Today in a study's time zone (by default the test studies' zone, Europe/Paris).

    Windows, enrollment and session dates are local days of the study; `date.today()` is the
    machine's day (UTC here) and is a day behind for an hour or two every night, so a test built
    on it fails only at those hours.
    """
    return datetime.now(ZoneInfo(zone)).date()
