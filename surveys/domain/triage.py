"""What an alert asks staff to do beyond acknowledging it: urgency, re-checks, rules to judge by hand.

Read from the alert's reasons and the rules of the definition version the response was answered in
(`instruments.alerts`): a rule with ``"urgent": true`` makes the alert urgent (a level-2 review
within hours, e.g. pale or blotchy skin within 48 hours of the session); a rule with a
``"task": {"kind": "recheck", "hours_after_session": 72}`` asks for a re-check at that time after
the session; a reason ``<rule>_unevaluated`` is a rule that could not be evaluated (the time since
the session was unknown) and must be judged by hand. Nothing is stored: it is derived each time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from instruments import Instrument
from instruments.alerts import UNEVALUATED_SUFFIX
from surveys.domain.models import Alert, Response, TreatmentSession


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What an alert asks for: `recheck_at` in UTC (from the start of the session's local day in the
    study's zone, as the rules' hours since the session are counted), `unevaluated` the rule ids to
    judge by hand."""

    urgent: bool = False
    recheck_at: datetime | None = None
    unevaluated: tuple[str, ...] = ()

    @property
    def any(self) -> bool:
        """True when there is something to show."""
        return self.urgent or self.recheck_at is not None or bool(self.unevaluated)


def follow_up(alert: Alert, instrument: Instrument | None, session_day: date | None,
              zone: tzinfo) -> FollowUp:
    """The follow-up of one alert, given its definition version, its session's local date (or None)
    and the study's time zone (where that date's midnight is)."""
    if instrument is None:
        return FollowUp()
    rules = {rule["id"]: rule for rule in instrument.alert_rules}
    matched = [rules[reason] for reason in alert.reasons if reason in rules]
    urgent = any(rule.get("urgent") for rule in matched)
    hours = [rule["task"]["hours_after_session"] for rule in matched
             if rule.get("task", {}).get("kind") == "recheck"]
    recheck_at = None
    if hours and session_day is not None:
        start = datetime.combine(session_day, time(), tzinfo=zone).astimezone(UTC)
        recheck_at = start + timedelta(hours=float(min(hours)))
    unevaluated = tuple(reason.removesuffix(UNEVALUATED_SUFFIX) for reason in alert.reasons
                        if reason.endswith(UNEVALUATED_SUFFIX))
    return FollowUp(urgent=urgent, recheck_at=recheck_at, unevaluated=unevaluated)


def session_days(session: Session, alerts: Iterable[Alert]) -> dict[int, date]:
    """Response id -> the date of the treatment session it follows, for these alerts (one query)."""
    response_ids = [alert.response_id for alert in alerts]
    if not response_ids:
        return {}
    rows = session.execute(
        select(Response.id, TreatmentSession.date)
        .join(TreatmentSession, TreatmentSession.id == Response.session_id)
        .where(Response.id.in_(response_ids))
    )
    return {rid: day for rid, day in rows}
