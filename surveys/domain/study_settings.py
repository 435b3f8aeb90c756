"""A study's settings over its life: validation of each setting, and audited changes.

The settings are columns of `Study` (migration 0004): the page (`surveys/staff/study_views.py`) and
the command (`flask --app app studies set`) both go through `validate_settings` then
`update_settings`, so a value refused by one is refused by the other with the same message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from babel import Locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from surveys.domain.audit import record
from surveys.domain.models import Study
from surveys.infra.i18n import LANGUAGES
from surveys.infra.zones import is_zone_name, zone_names

#: The settings a clinic may change, in the order the page and the audit trail show them.
SETTINGS = (
    "name", "contact", "clinic_phone", "oncall_email", "backup_oncall_email", "emergency_number",
    "emergency_country", "timezone", "default_language", "show_scores_to_patients",
    "reminder_start_hour", "reminder_end_hour", "renotify_level3_minutes", "clinic_day_end_hour",
    "consent_required", "consent_on_phone",
)
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{1,30}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
MAX_RENOTIFY_MINUTES = 24 * 60


class SettingsError(ValueError):
    """Settings that cannot be stored; `problems` maps each refused setting to the reason."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{name}: {text}" for name, text in self.problems.items()))


@dataclass(frozen=True, slots=True)
class SettingChange:
    """One setting that changed: its name, the old and the new value."""

    name: str
    old: Any
    new: Any


def known_timezones() -> frozenset[str]:
    """The IANA time zone names a study may follow (`surveys.infra.zones`: no `localtime`, `Factory`)."""
    return zone_names()


@lru_cache(maxsize=1)
def known_countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes known to Babel's CLDR data (regions like '001' and groupings left out)."""
    groupings = {"EU", "EZ", "UN", "QO", "ZZ"}
    return frozenset(code for code in Locale("en").territories
                     if len(code) == 2 and code.isalpha() and code not in groupings)


def _text(value: Any, *, required: bool, max_length: int, label: str, problems: dict[str, str],
          name: str) -> str | None:
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            problems[name] = _("%(label)s is required.", label=label)
        return None
    if len(text) > max_length:
        problems[name] = _("%(label)s must be at most %(n)s characters.", label=label, n=max_length)
    return text


def _hour(value: Any, low: int, high: int, name: str, problems: dict[str, str]) -> int | None:
    try:
        hour = int(str(value).strip())
    except (TypeError, ValueError):
        problems[name] = _("Give a whole hour from %(low)s to %(high)s.", low=low, high=high)
        return None
    if not low <= hour <= high:
        problems[name] = _("Give a whole hour from %(low)s to %(high)s.", low=low, high=high)
        return None
    return hour


def _boolean(value: Any, name: str, problems: dict[str, str]) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on"):
        return True
    if text in ("0", "false", "no", "n", "off"):
        return False
    problems[name] = _("Answer yes or no.")
    return None


def validate_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """Check the given settings (any subset of `SETTINGS`) and return them cleaned.

    In: setting name -> raw value (text from a form or the command line, or typed values).
    Out: the same names with clean values (stripped text, None for an emptied optional field,
    ints for hours and minutes, bools). Hours are local hours of the study's time zone;
    `renotify_level3_minutes` is minutes. Raises `SettingsError` naming every refused setting;
    the pair rule reminder_start_hour < reminder_end_hour is checked by `update_settings`,
    which knows the stored value of the other half.
    """
    problems: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name not in SETTINGS:
            problems[name] = _("There is no such setting.")
        elif name == "name":
            clean[name] = _text(value, required=True, max_length=200, label=_("The name"),
                                problems=problems, name=name)
        elif name == "contact":
            clean[name] = _text(value, required=False, max_length=2000, label=_("The contact"),
                                problems=problems, name=name) or ""
        elif name in ("clinic_phone", "emergency_number"):
            text = _text(value, required=name == "emergency_number", max_length=32,
                         label=_("The number"), problems=problems, name=name)
            if text and name not in problems and not _PHONE.match(text):
                problems[name] = _("'%(value)s' is not a telephone number (digits, spaces, + ( ) . -).",
                                   value=text)
            clean[name] = text
        elif name in ("oncall_email", "backup_oncall_email"):
            text = _text(value, required=False, max_length=254, label=_("The e-mail address"),
                         problems=problems, name=name)
            if text and name not in problems and not _EMAIL.match(text):
                problems[name] = _("'%(value)s' is not an e-mail address.", value=text)
            clean[name] = text
        elif name == "emergency_country":
            text = (str(value or "")).strip().upper()
            if text not in known_countries():
                problems[name] = _("'%(value)s' is not an ISO 3166 two-letter country code (e.g. FR).",
                                   value=text)
            clean[name] = text
        elif name == "timezone":
            text = str(value or "").strip()
            if not is_zone_name(text):
                problems[name] = _("'%(value)s' is not a time zone name (e.g. Europe/Paris).", value=text)
            clean[name] = text
        elif name == "default_language":
            text = str(value or "").strip().lower()
            if text not in LANGUAGES:
                problems[name] = _("Choose one of: %(choices)s.", choices=", ".join(LANGUAGES))
            clean[name] = text
        elif name in ("show_scores_to_patients", "consent_required", "consent_on_phone"):
            clean[name] = _boolean(value, name, problems)
        elif name == "reminder_start_hour":
            clean[name] = _hour(value, 0, 23, name, problems)
        elif name in ("reminder_end_hour", "clinic_day_end_hour"):
            clean[name] = _hour(value, 1, 24, name, problems)
        elif name == "renotify_level3_minutes":
            try:
                minutes = int(str(value).strip())
            except (TypeError, ValueError):
                minutes = 0
            if not 1 <= minutes <= MAX_RENOTIFY_MINUTES:
                problems[name] = _("Give a whole number of minutes from 1 to %(n)s.", n=MAX_RENOTIFY_MINUTES)
            clean[name] = minutes
    if problems:
        raise SettingsError(problems)
    return clean


def current_settings(study: Study) -> dict[str, Any]:
    """The study's settings as a plain mapping (name -> stored value)."""
    return {name: getattr(study, name) for name in SETTINGS}


def check_settings(study: Study, values: Mapping[str, Any]) -> dict[str, Any]:
    """Check settings against their rules and against the study's stored values; store nothing.

    In: any subset of `SETTINGS` as raw values. Out: the clean values (as `validate_settings`).
    Raises one `SettingsError` naming every problem at once: each refused value, sending hours
    that would not satisfy start < end, and an on-call address that is set being emptied (level 2-3
    alert notices go there; a study created without one may keep none).
    """
    try:
        clean, problems = validate_settings(values), {}
    except SettingsError as exc:
        clean, problems = _cleaned_despite(values, exc.problems), dict(exc.problems)
    if "oncall_email" in values and "oncall_email" not in problems and study.oncall_email \
            and not str(values["oncall_email"] or "").strip():
        problems["oncall_email"] = _(
            "The on-call e-mail cannot be emptied: level 2 and 3 safety alerts are e-mailed there. "
            "To change it, give the new address.")
    start = clean.get("reminder_start_hour", study.reminder_start_hour)
    end = clean.get("reminder_end_hour", study.reminder_end_hour)
    if isinstance(start, int) and isinstance(end, int) and start >= end \
            and not {"reminder_start_hour", "reminder_end_hour"} & problems.keys():
        problems["reminder_end_hour"] = _(
            "Reminders must start before they end: start %(start)s:00, end %(end)s:00.",
            start=start, end=end)
    if problems:
        raise SettingsError(problems)
    return clean


def _cleaned_despite(values: Mapping[str, Any], problems: Mapping[str, str]) -> dict[str, Any]:
    """The values that passed their own check when others did not (for the cross checks)."""
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name in problems or name not in SETTINGS:
            continue
        try:
            clean.update(validate_settings({name: value}))
        except SettingsError:
            continue
    return clean


def update_settings(session: Session, study: Study, values: Mapping[str, Any], *,
                    actor: str) -> list[SettingChange]:
    """Validate and store changed settings; audit them as one event with old and new values.

    In: any subset of `SETTINGS` as raw values. Out: the changes made (empty when nothing
    differed; then nothing is recorded). Raises `SettingsError` naming every problem at once
    (`check_settings`) and changes nothing when any value is refused. Flushes; the caller
    commits. A new on-call address is read by the next alert notice: nothing is cached.
    """
    clean = check_settings(study, values)
    changes = [SettingChange(name, getattr(study, name), new) for name, new in clean.items()
               if getattr(study, name) != new]
    if not changes:
        return []
    for change in changes:
        setattr(study, change.name, change.new)
    session.flush()
    record(session, actor, "study.settings", entity="study", entity_id=study.id, study_id=study.id,
           details={"changes": {c.name: {"old": c.old, "new": c.new} for c in changes}})
    return changes
