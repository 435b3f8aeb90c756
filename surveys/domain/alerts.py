"""Safety alerts on the staff side: the queue, the evidence, and the lifecycle.

An alert is open when raised; a contact attempt (coordinators and clinicians record them) puts it
in progress; only a resolution (clinicians and admins) closes it, with an outcome, a note and the
clinician's assessment of the adverse event (CTCAE-style grade 1-5, relatedness to the treatment,
seriousness); a resolved alert can be reopened with a reason. Every step is audited (free texts as
their SHA-256 only: the trail is immutable, the words must stay erasable). The notices
to on-call live in `notices`, the re-notification of forgotten alerts in `escalation`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from instruments import Instrument
from instruments.alerts import UNEVALUATED_SUFFIX
from surveys.domain.alert_models import (
    CONTACT_CHANNELS,
    CONTACT_RESULTS,
    OUTCOMES,
    RELATEDNESS,
    AlertContactAttempt,
    AlertResolution,
)
from surveys.domain.audit import record
from surveys.domain.models import Alert, Answer, Response, StaffUser, Study
from surveys.infra.db import utcnow

MAX_NOTE_LENGTH = 2000

STATE_LABELS = {"open": _l("open"), "in_progress": _l("in progress"), "resolved": _l("resolved")}
CHANNEL_LABELS = {"phone": _l("phone"), "sms": _l("text message"), "email": _l("e-mail"),
                  "in_person": _l("in person"), "other": _l("other")}
RESULT_LABELS = {"reached": _l("reached"), "not_reached": _l("not reached"),
                 "message_left": _l("message left")}
OUTCOME_LABELS = {"advice_given": _l("advice given"), "seen_in_clinic": _l("seen in clinic"),
                  "emergency_care": _l("sent to emergency care"), "no_action_needed": _l("no action needed")}
RELATEDNESS_LABELS = {"not_related": _l("not related"), "unlikely": _l("unlikely"),
                      "possible": _l("possible"), "probable": _l("probable"), "definite": _l("definite")}
#: CTCAE v5.0 general grade descriptions (NCI, Common Terminology Criteria for Adverse Events).
GRADE_LABELS = {1: _l("1 - mild"), 2: _l("2 - moderate"), 3: _l("3 - severe or medically significant"),
                4: _l("4 - life-threatening"), 5: _l("5 - death related to the adverse event")}


def _digest(text: str) -> str:
    """The SHA-256 of a free text, for the audit trail: the trail is immutable and the words must stay
    erasable (right to erasure), while the digest still proves what the row said."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AlertError(ValueError):
    """A lifecycle step that cannot be recorded, with the reason (shown to the user)."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """One answer shown beside an alert: the question, the answer as it was when the alert was
    raised, whether a rule read it, and the answer now when the patient changed it later
    (`changed_to`: the new answer, or "" when it was cleared; None when unchanged)."""

    item_id: str
    question: str
    answer: str
    raised: bool
    free_text: bool = False
    changed_to: str | None = None
    changed_at: datetime | None = None


def alert_queue(session: Session, study: Study, *, include_resolved: bool = True,
                limit: int = 200) -> list[Alert]:
    """The study's alerts: unresolved first, worst level first, open before in progress, longest
    waiting first (since the level was reached); then resolved ones, latest resolution first."""
    unresolved = Alert.state != "resolved"
    query = (
        select(Alert)
        .where(Alert.study_id == study.id)
        .options(joinedload(Alert.patient),
                 selectinload(Alert.attempts).joinedload(AlertContactAttempt.recorded_by),
                 selectinload(Alert.resolutions).joinedload(AlertResolution.resolved_by),
                 selectinload(Alert.resolutions).joinedload(AlertResolution.reopened_by),
                 selectinload(Alert.notices),
                 joinedload(Alert.response).selectinload(Response.answers))
        .order_by(case((unresolved, 0), else_=1), case((unresolved, -Alert.level), else_=0),
                  case((Alert.state == "open", 0), (Alert.state == "in_progress", 1), else_=2),
                  case((unresolved, Alert.level_at)), Alert.resolved_at.desc(), Alert.id)
        .limit(limit)
    )
    if not include_resolved:
        query = query.where(unresolved)
    return list(session.scalars(query).unique())


def open_alert_count(session: Session, study: Study) -> dict[int, int]:
    """How many alerts of each level are not resolved (open or in progress)."""
    rows = session.execute(
        select(Alert.level, func.count(Alert.id))
        .where(Alert.study_id == study.id, Alert.state != "resolved").group_by(Alert.level)
    )
    counts = {1: 0, 2: 0, 3: 0}
    for level, count in rows:
        counts[level] = count
    return counts


def study_alert(session: Session, study: Study, alert_id: int) -> Alert | None:
    """An alert of this study (None for another study's alert: callers answer 404)."""
    return session.scalar(
        select(Alert).where(Alert.id == alert_id, Alert.study_id == study.id)
        .options(selectinload(Alert.response).selectinload(Response.answers),
                 selectinload(Alert.attempts), selectinload(Alert.resolutions))
    )


def _note(note: str | None, what: str, *, required: bool) -> str:
    text = (note or "").strip()
    if required and not text:
        raise AlertError(str(_l("%(what)s is required.", what=what)))
    if len(text) > MAX_NOTE_LENGTH:
        raise AlertError(str(_l("%(what)s: at most %(n)s characters.", what=what, n=MAX_NOTE_LENGTH)))
    return text


def record_contact_attempt(session: Session, alert: Alert, user: StaffUser, *, channel: str, result: str,
                           note: str = "", attempted_at: datetime | None = None) -> AlertContactAttempt:
    """Record an attempt to reach the patient (UTC time, default now); audited.

    channel: one of CONTACT_CHANNELS; result: one of CONTACT_RESULTS. An open alert goes in
    progress; a resolved one stays resolved (reopen it first). Raises AlertError for a bad value
    or a time in the future.
    """
    if channel not in CONTACT_CHANNELS:
        raise AlertError(str(_l("Choose how the patient was contacted.")))
    if result not in CONTACT_RESULTS:
        raise AlertError(str(_l("Choose whether the patient was reached.")))
    text = _note(note, str(_l("The note")), required=False)
    now = utcnow()
    at = attempted_at or now
    if at > now:
        raise AlertError(str(_l("A contact attempt cannot be in the future.")))
    if alert.state == "resolved":
        raise AlertError(str(_l("This alert is resolved: reopen it to record more.")))
    attempt = AlertContactAttempt(alert_id=alert.id, attempted_at=at, recorded_at=now, recorded_by_id=user.id,
                                  channel=channel, result=result, note=text)
    session.add(attempt)
    old_state = alert.state
    alert.state = "in_progress"
    if alert.first_contact_at is None or at < alert.first_contact_at:
        alert.first_contact_at = at
    session.flush()
    record(session, f"staff:{user.id}", "alert.contact_attempt", entity="alert", entity_id=alert.id,
           study_id=alert.study_id,
           details={"patient_id": alert.patient_id, "patient": alert.patient.code, "level": alert.level,
                    "attempt_id": attempt.id,
                    "channel": channel, "result": result, "note_sha256": _digest(text),
                    "attempted_at": at.isoformat(),
                    "old": {"state": old_state}, "new": {"state": alert.state}})
    return attempt


def resolve_alert(session: Session, alert: Alert, user: StaffUser, *, outcome: str, note: str,
                  ctcae_grade: int | None, relatedness: str, serious: bool | None) -> AlertResolution:
    """Close an alert with its outcome, a note and the clinician's assessment; audited.

    outcome: one of OUTCOMES; ctcae_grade: 1-5 (CTCAE-style, the clinician's grade of the event,
    not the patient's words); relatedness: one of RELATEDNESS; serious: True/False (required).
    Raises AlertError when something is missing or the alert is already resolved.
    """
    if alert.state == "resolved":
        raise AlertError(str(_l("This alert is already resolved.")))
    if outcome not in OUTCOMES:
        raise AlertError(str(_l("Choose the outcome.")))
    if ctcae_grade not in GRADE_LABELS:
        raise AlertError(str(_l("Choose the grade of the event (1 to 5).")))
    if relatedness not in RELATEDNESS:
        raise AlertError(str(_l("Choose how related the event is to the treatment.")))
    if serious is None:
        raise AlertError(str(_l("Say whether the event is serious.")))
    text = _note(note, str(_l("The resolution note")), required=True)
    now = utcnow()
    resolution = AlertResolution(alert_id=alert.id, resolved_at=now, resolved_by_id=user.id, outcome=outcome,
                                 note=text, ctcae_grade=ctcae_grade, relatedness=relatedness, serious=serious)
    session.add(resolution)
    old_state = alert.state
    alert.state, alert.resolved_at = "resolved", now
    session.flush()
    record(session, f"staff:{user.id}", "alert.resolve", entity="alert", entity_id=alert.id,
           study_id=alert.study_id,
           details={"patient_id": alert.patient_id, "patient": alert.patient.code, "level": alert.level,
                    "resolution_id": resolution.id,
                    "old": {"state": old_state},
                    "new": {"state": "resolved", "outcome": outcome, "note_sha256": _digest(text),
                            "ctcae_grade": ctcae_grade, "relatedness": relatedness, "serious": serious}})
    return resolution


def reopen_alert(session: Session, alert: Alert, user: StaffUser, reason: str) -> Alert:
    """Bring a resolved alert back (in progress when it has contact attempts, else open); audited.

    The resolution stays on record, marked reopened with who, when and why. Raises AlertError when
    the alert is not resolved or no reason is given.
    """
    if alert.state != "resolved":
        raise AlertError(str(_l("Only a resolved alert can be reopened.")))
    text = _note(reason, str(_l("The reason")), required=True)
    now = utcnow()
    resolution = session.scalar(select(AlertResolution).where(AlertResolution.alert_id == alert.id)
                                .order_by(AlertResolution.id.desc()).limit(1))
    if resolution is not None:
        resolution.reopened_at, resolution.reopened_by_id, resolution.reopen_reason = now, user.id, text
    alert.state = "in_progress" if alert.first_contact_at is not None else "open"
    alert.resolved_at = None
    session.flush()
    record(session, f"staff:{user.id}", "alert.reopen", entity="alert", entity_id=alert.id,
           study_id=alert.study_id,
           details={"patient_id": alert.patient_id, "patient": alert.patient.code, "level": alert.level,
                    "reason_sha256": _digest(text),
                    "old": {"state": "resolved"}, "new": {"state": alert.state}})
    return alert


def _condition_items(condition: Any) -> Iterator[str]:
    """Every item id a rule condition reads, however deeply nested."""
    if isinstance(condition, Mapping):
        if isinstance(condition.get("item"), str):
            yield condition["item"]
        yield from (item for item in condition.get("same", ()) if isinstance(item, str))
        for key in ("all", "any"):
            for inner in condition.get(key, ()):
                yield from _condition_items(inner)
        if "not" in condition:
            yield from _condition_items(condition["not"])


def alert_evidence(alert: Alert, instrument: Instrument | None, lang: str = "en") -> list[Evidence]:
    """The answers behind an alert, as they were when it was raised (a later change beside each):
    every item its matched rules read, then the patient's own words."""
    current = {a.item_id: a for a in alert.response.answers}
    then: dict[str, Any] = dict(alert.answers_when_raised or {})
    if not then:  # alerts from before the answer history: their answers as they are now
        then = {item_id: a.text if a.code is None else a.code for item_id, a in current.items()}
    if instrument is None:  # the definition is gone: show the raw codes rather than nothing
        return [Evidence(item_id, item_id, str(value), False) for item_id, value in sorted(then.items())]
    rules = {rule["id"]: rule for rule in instrument.alert_rules}
    cited: list[str] = []
    for reason in alert.reasons:
        rule = rules.get(reason) or rules.get(reason.removesuffix(UNEVALUATED_SUFFIX), {})
        for item_id in _condition_items(rule.get("when")):
            if item_id not in cited and item_id in then:
                cited.append(item_id)
    order = {item.id: n for n, item in enumerate(instrument.items_in_order(
        lang if lang in instrument.languages else instrument.languages[0]))}
    rows = [_evidence(instrument, item_id, then[item_id], current.get(item_id), lang, raised=True)
            for item_id in sorted(cited, key=lambda i: order.get(i, 10_000))]
    for item_id in sorted(then, key=lambda i: order.get(i, 10_000)):
        if isinstance(then[item_id], str) and item_id not in cited and instrument.has_item(item_id):
            rows.append(_evidence(instrument, item_id, then[item_id], current.get(item_id), lang,
                                  raised=False))
    return rows


def _label(instrument: Instrument, item_id: str, value: Any, lang: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    item = instrument.item(item_id)
    try:
        option = item.option(value)
        return option.labels.get(lang) or next(iter(option.labels.values()))
    except KeyError:
        return f"code {value}"


def _evidence(instrument: Instrument, item_id: str, value: Any, now: Answer | None, lang: str, *,
              raised: bool) -> Evidence:
    item = instrument.item(item_id)
    question = item.texts.get(lang) or next(iter(item.texts.values()))
    now_value = None if now is None else (now.text if now.code is None else now.code)
    changed_to = changed_at = None
    if now_value != value:
        changed_to = _label(instrument, item_id, now_value, lang)
        changed_at = now.answered_at if now is not None else None
    return Evidence(item.id, question, _label(instrument, item_id, value, lang), raised,
                    free_text=isinstance(value, str), changed_to=changed_to, changed_at=changed_at)
