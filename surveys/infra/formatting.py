"""Dates, times and numbers as a person reads them: in the interface language (Babel) and in the
study's time zone (zoneinfo). Stored times stay UTC; only what is shown is converted.

Jinja filters (registered by `init_app`):
- `value|local_datetime(zone)`: an aware UTC datetime -> "2 déc. 2026 14:05 CET" (zone named);
- `value|local_date(zone)`: a datetime -> its local date ("2 déc. 2026"); a date is shown as is;
- `closes_at|last_open_day(zone)`: the last local day a window closing at `closes_at` is answerable;
- `value|number(digits)`: "1 234,5" in French, "1,234.5" in English; None -> "–".
`zone` is a study (its `timezone`), an IANA name, or None for the server's DEFAULT_TIMEZONE.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date as babel_format_date
from babel.dates import format_time as babel_format_time
from babel.numbers import format_decimal
from flask import Flask, current_app, has_app_context
from flask_babel import get_locale

#: The zone new studies get, and the one used where no study is at hand (env DEFAULT_TIMEZONE).
FALLBACK_TIMEZONE = "Europe/Paris"
EMPTY = "–"


def _locale() -> Any:
    return get_locale() or "en"


def zone_of(zone: Any) -> tzinfo:
    """A tzinfo from a study (its `timezone`), an IANA name or None (the server's default zone)."""
    name = getattr(zone, "timezone", zone)
    if not name and has_app_context():
        name = current_app.config.get("DEFAULT_TIMEZONE")
    try:
        return ZoneInfo(name or FALLBACK_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(FALLBACK_TIMEZONE)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def local_datetime(value: datetime | None, zone: Any = None, seconds: bool = False) -> str:
    """A UTC instant as local date and time in `zone`, with the zone's abbreviation (CET, EST...)."""
    if value is None:
        return EMPTY
    local = _aware(value).astimezone(zone_of(zone))
    clock = babel_format_time(local, "medium" if seconds else "short", locale=_locale())
    return f"{babel_format_date(local.date(), 'medium', locale=_locale())} {clock} {local.strftime('%Z')}"


def local_date(value: datetime | date | None, zone: Any = None, fmt: str = "medium") -> str:
    """The local calendar date of an instant in `zone` (a plain date is shown as it is)."""
    if value is None:
        return EMPTY
    if isinstance(value, datetime):
        value = _aware(value).astimezone(zone_of(zone)).date()
    return babel_format_date(value, fmt, locale=_locale())


def last_open_day(closes_at: datetime | None, zone: Any = None, fmt: str = "medium") -> str:
    """The last local day on which a window that closes at the instant `closes_at` can be answered.

    A window is answerable while now < closes_at: when it closes at local midnight starting 2 December,
    the last day shown is 1 December ("open until 1 December"), never the first day it is closed.
    """
    if closes_at is None:
        return EMPTY
    return local_date(_aware(closes_at) - timedelta(microseconds=1), zone, fmt)


def number(value: float | int | None, digits: int = 1) -> str:
    """A number in the interface language, with `digits` decimals (0 for counts)."""
    if value is None or value != value:  # None or NaN
        return EMPTY
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(value, format=pattern, locale=_locale())


def percent(value: float | None) -> str:
    """A share (0-1) as a whole percentage in the interface language ("42 %" in French)."""
    if value is None or value != value:
        return EMPTY
    from babel.numbers import format_percent

    return format_percent(value, locale=_locale())


def init_app(app: Flask) -> None:
    """Register the filters with the app's Jinja environment."""
    app.jinja_env.filters.update(
        local_datetime=local_datetime, local_date=local_date, last_open_day=last_open_day, number=number,
        percent=percent,
    )
