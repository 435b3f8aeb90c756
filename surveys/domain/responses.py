"""Storing answers, scores and safety alerts: one response per patient, timepoint and instrument."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from instruments import Instrument, resolve, score, validate_answers, visible_items
from instruments.alerts import AlertContext, AlertResult, evaluate_alerts
from instruments.conditions import referenced_items
from surveys.domain.links import PatientLike, SessionLike
from surveys.domain.models import (
    Alert,
    AlertResolution,
    Answer,
    AnswerVersion,
    Patient,
    Response,
    Score,
    Study,
    TreatmentSession,
)
from surveys.domain.notices import owe_notice
from surveys.domain.patients import local_day_start
from surveys.infra.db import utcnow

#: Alerts of this level and above are e-mailed to on-call (level 1 waits for the next visit).
NOTIFIED_LEVEL = 2


class ResponseClosed(ValueError):
    """The response was already submitted and cannot change."""


# Statements run on every saved answer, built once (no per-call construction or cache-key work).
_RESPONSE_OF = select(Response).where(
    Response.patient_id == bindparam("patient_id"),
    Response.timepoint == bindparam("timepoint"),
    Response.instrument_id == bindparam("instrument_id"),
)
_ANSWER_VALUES = select(Answer.item_id, Answer.code, Answer.text).where(
    Answer.response_id == bindparam("response_id")
)
_ALERT_OF = select(Alert).where(Alert.response_id == bindparam("response_id"))
# Answer rows are written with Core statements on the table: no ORM objects or unit of work for a
# row that is written once and read back as plain values (`current_answers`).
_ANSWERS = Answer.__table__
_INSERT_ANSWERS = insert(_ANSWERS)
_UPDATE_ANSWER = (
    update(_ANSWERS)
    .where(_ANSWERS.c.response_id == bindparam("response"), _ANSWERS.c.item_id == bindparam("item"))
    .values(code=bindparam("new_code"), text=bindparam("new_text"), answered_at=bindparam("at"),
            language=bindparam("new_language"))
)
_DELETE_ANSWERS = delete(_ANSWERS).where(
    _ANSWERS.c.response_id == bindparam("response"),
    _ANSWERS.c.item_id.in_(bindparam("items", expanding=True)),
)
# Before an answer is changed or cleared, its value is copied to the history, in one statement.
_VERSIONS = AnswerVersion.__table__
_KEEP_EARLIER_VALUES = insert(_VERSIONS).from_select(
    ["response_id", "item_id", "code", "text", "answered_at", "superseded_at"],
    select(_ANSWERS.c.response_id, _ANSWERS.c.item_id, _ANSWERS.c.code, _ANSWERS.c.text,
           _ANSWERS.c.answered_at, bindparam("at", type_=_VERSIONS.c.superseded_at.type))
    .where(_ANSWERS.c.response_id == bindparam("response"),
           _ANSWERS.c.item_id.in_(bindparam("items", expanding=True))),
)


def _study_protocol_version(patient_id: int) -> Any:
    """The patient's study's current protocol version, read by the INSERT itself (no extra trip)."""
    return (select(Study.protocol_version).join(Patient, Patient.study_id == Study.id)
            .where(Patient.id == patient_id).scalar_subquery())


def start_response(
    session: Session,
    patient: PatientLike,
    timepoint: str,
    instrument: Instrument,
    language: str,
    treatment_session: SessionLike | None = None,
    *,
    mode: str = "own_device",
    assisted_by_id: int | None = None,
    window_extended: bool = False,
) -> Response:
    """The patient's response for this timepoint and instrument, created on first use.

    `language` is the language the response was started in (each answer keeps its own);
    `mode` the mode of administration (models.MODES) and `assisted_by_id` the staff member who
    assisted; `window_extended` flags a response given in a window staff extended.
    """
    key = {"patient_id": patient.id, "timepoint": timepoint, "instrument_id": instrument.id}
    existing = session.scalar(_RESPONSE_OF, key)
    if existing is not None:
        return existing
    response = Response(
        patient_id=patient.id, timepoint=timepoint, instrument_id=instrument.id,
        instrument_version=instrument.version, protocol_version=_study_protocol_version(patient.id),
        language=language,
        session_id=treatment_session.id if treatment_session else None,
        mode=mode, assisted_by_id=assisted_by_id, window_extended=window_extended,
    )
    try:
        with session.begin_nested():
            session.add(response)
    except IntegrityError:  # a concurrent request created it first: use theirs
        found = session.scalar(_RESPONSE_OF, key)
        if found is None:
            raise
        return found
    return response


def answered_in(
    library: Mapping[str, Instrument], instrument_id: str, version: str | None
) -> Instrument | None:
    """The definition a stored response was answered in: its own version, never another's rules.

    None when the library no longer holds that id or version (callers then show raw codes or
    refuse); `version` None (nothing stored yet) gives the current definition.
    """
    try:
        return resolve(library, instrument_id, version)
    except KeyError:
        return None


def answer_value(code: int | None, text: str | None) -> int | str | None:
    """A stored answer's value: its text for a free-text item, else its code."""
    return text if text is not None else code


def current_answers(session: Session, response: Response) -> dict[str, int | str | None]:
    """The stored answers of a response, by item id."""
    rows = session.execute(_ANSWER_VALUES, {"response_id": response.id})
    return {item: answer_value(code, text) for item, code, text in rows}


def save_answers(
    session: Session, response: Response, instrument: Instrument, answers: Mapping[str, object],
    language: str | None = None,
) -> dict[str, int | str | None]:
    """Validate and upsert some answers of an open response; returns all answers after saving.

    Raises `instruments.AnswerError` for an unknown item, a bad code or an answer to an item that
    the other answers hide; nothing is stored then. Re-sending the same answers changes nothing.
    """
    if response.status == "submitted":
        raise ResponseClosed("This questionnaire was already submitted.")
    session.flush()  # a response just added gets its id
    return write_answers(session, response.id, instrument, current_answers(session, response), answers,
                         language=language or response.language)


def write_answers(
    session: Session, response_id: int, instrument: Instrument, stored: Mapping[str, int | str | None],
    answers: Mapping[str, object], *, language: str | None = None,
) -> dict[str, int | str | None]:
    """`save_answers` for a caller that has just read the open response's `stored` answers itself.

    Writes only what changed, with Core statements: new rows, changed rows, and the rows of items
    the new answers hide (a "yes" changed to "no"), which are dropped, not kept stale. A value that is
    changed or dropped is first copied to the answer's history (`answer_version`), so an earlier
    answer is never lost; a first answer costs no extra statement. New and changed answers record
    `language`, the language the item was shown in.
    """
    merged = {**stored, **dict(answers)}
    # A stored answer whose item the new answers hide is dropped, while a *new* answer to a hidden
    # item stays an error for validate_answers to report.
    shown = _shown_ids(instrument, merged)
    for item_id in stored:
        if item_id not in answers and item_id not in shown:
            merged[item_id] = None
    cleaned = validate_answers(instrument, merged)
    now = utcnow()
    added, changed, hidden = [], [], []
    for item_id, value in cleaned.items():
        code, text = (None, value) if isinstance(value, str) else (value, None)
        if item_id not in stored:
            if value is not None:
                added.append({"response_id": response_id, "item_id": item_id, "code": code, "text": text,
                              "answered_at": now, "language": language})
        elif value is None:
            hidden.append(item_id)
        elif stored[item_id] != value:
            changed.append({"response": response_id, "item": item_id, "new_code": code, "new_text": text,
                            "at": now, "new_language": language})
    connection = session.connection()
    if changed or hidden:  # keep the values being replaced (the answer history); first answers skip this
        replaced = [row["item"] for row in changed] + hidden
        connection.execute(_KEEP_EARLIER_VALUES, {"response": response_id, "items": replaced, "at": now})
    if added:
        connection.execute(_INSERT_ANSWERS, added)
    if changed:
        connection.execute(_UPDATE_ANSWER, changed)
    if hidden:
        connection.execute(_DELETE_ANSWERS, {"response": response_id, "items": hidden})
    return {k: v for k, v in cleaned.items() if v is not None}


def _shown_ids(instrument: Instrument, answers: Mapping[str, object]) -> set[str]:
    """Ids of the items shown for these answers (unknown ids are ignored here, rejected later)."""
    known = {k: v for k, v in answers.items() if instrument.has_item(k)}
    return {item.id for item in visible_items(instrument, known, instrument.languages[0])}


def store_scores(
    session: Session, response: Response, instrument: Instrument, answers: Mapping[str, object],
    section: str | None = None,
) -> None:
    """(Re)compute and store the response's scores, status and flags with the scoring version.

    A response asked for one section only (e.g. the checklist's red flags at follow-ups) is
    complete when that section is: the whole-instrument status would call it incomplete.
    """
    result = score(instrument, answers, section)
    session.execute(delete(Score).where(Score.response_id == response.id))
    for scale, value in result.scores.items():
        session.add(
            Score(
                response_id=response.id, scale=scale,
                value=None if value is None else float(value),
                band=result.bands.get(scale), scoring_version=result.scoring_version,
            )
        )
    response.score_status = result.status
    response.flags = list(result.flags)
    session.flush()


def alert_context(
    session: Session, response: Response, now: datetime | None = None, instrument: Instrument | None = None
) -> AlertContext:
    """What the alert rules need beyond the answers: time since the session, previous values.

    Hours since the session count from the start of the session's local day in the study's time
    zone (a session is recorded as a local calendar day), up to `now` (UTC; the clock when None).

    Previous values: the previous session's `<symptom>_grade` scores (post-injection checklist), and,
    for an instrument compared with its baseline (a `worse_than_previous` rule on another score, e.g.
    the systemic side effects), the same instrument's scores at the baseline timepoint T0.
    """
    hours = None
    previous: dict[str, int] | None = None
    if response.session_id is not None:
        treatment = session.get(TreatmentSession, response.session_id)
        if treatment is not None:
            start = local_day_start(treatment.patient.study, treatment.date)
            hours = ((now or utcnow()) - start).total_seconds() / 3600
            previous = _previous_grades(session, response, treatment.number)
    if instrument is not None and response.timepoint != BASELINE and _compares_with_baseline(instrument):
        previous = {**_baseline_scores(session, response), **(previous or {})} or None
    return AlertContext(hours_since_session=hours, previous_grades=previous, scores=None)


BASELINE = "T0"


def _compares_with_baseline(instrument: Instrument) -> bool:
    return any("worse_than_previous" in str(rule["when"]) and "_grade" not in str(rule["when"])
               for rule in instrument.alert_rules)


def _baseline_scores(session: Session, response: Response) -> dict[str, int]:
    rows = session.execute(
        select(Score.scale, Score.value).join(Response, Response.id == Score.response_id).where(
            Response.patient_id == response.patient_id, Response.instrument_id == response.instrument_id,
            Response.timepoint == BASELINE, Response.status == "submitted", Score.value.is_not(None))
    )
    return {scale: int(value) for scale, value in rows}


def _previous_grades(session: Session, response: Response, number: int) -> dict[str, int] | None:
    if number <= 1:
        return None
    rows = session.execute(
        select(Score.scale, Score.value)
        .join(Response, Response.id == Score.response_id)
        .join(TreatmentSession, TreatmentSession.id == Response.session_id)
        .where(
            Response.patient_id == response.patient_id,
            Response.instrument_id == response.instrument_id,
            TreatmentSession.number == number - 1,
            Score.scale.like("%_grade"),
            Score.value.is_not(None),
        )
    )
    grades = {scale: int(value) for scale, value in rows}
    return grades or None


def raise_alert(
    session: Session, response: Response, instrument: Instrument, answers: Mapping[str, object],
    context: AlertContext | None = None,
) -> Alert | None:
    """Evaluate the alert rules; create the response's alert or raise its level. Never lowers one."""
    if context is None:
        context = alert_context(session, response, instrument=instrument)
    scores = score(instrument, answers).scores
    context = AlertContext(
        hours_since_session=context.hours_since_session,
        previous_grades=context.previous_grades,
        scores=scores,
    )
    result: AlertResult = evaluate_alerts(instrument, answers, context)
    if result.level < 1:
        return None
    alert = session.scalar(_ALERT_OF, {"response_id": response.id})
    patient = response.patient
    now = utcnow()
    if alert is None:
        alert = Alert(study_id=patient.study_id, patient_id=patient.id, response_id=response.id,
                      level=result.level, reasons=list(result.reasons), created_at=now, level_at=now,
                      state="open", answers_when_raised=dict(answers))
        session.add(alert)
        session.flush()
        if alert.level >= NOTIFIED_LEVEL:
            owe_notice(session, alert, "raised", alert.level)
    elif result.level > alert.level or set(result.reasons) - set(alert.reasons):
        raised = result.level > alert.level
        fired = set(result.reasons) - set(alert.reasons)
        alert.reasons = sorted(set(alert.reasons) | set(result.reasons))
        # The evidence keeps each answer as it was when it first counted: the items of the rules that
        # fire now are taken as they are now, the others keep their earlier value.
        fresh = {item for rule in instrument.alert_rules if rule["id"] in fired
                 for item in referenced_items(rule["when"]) if item in answers}
        alert.answers_when_raised = {**dict(answers), **alert.answers_when_raised,
                                     **{item: answers[item] for item in fresh}}
        if raised:
            alert.level, alert.level_at = result.level, now
            reopen_for_worse_answer(session, alert, now)
            if alert.level >= NOTIFIED_LEVEL:
                owe_notice(session, alert, "escalation", alert.level)
    session.flush()
    return alert


def reopen_for_worse_answer(session: Session, alert: Alert, now: datetime) -> None:
    """A resolved alert whose level rises is open again (its resolution marked reopened by the patient)."""
    if alert.state != "resolved":
        return
    resolution = session.scalar(select(AlertResolution).where(AlertResolution.alert_id == alert.id)
                                .order_by(AlertResolution.id.desc()).limit(1))
    if resolution is not None and resolution.reopened_at is None:
        resolution.reopened_at = now
        resolution.reopen_reason = f"level rose to {alert.level} (patient's answer)"
    alert.state = "in_progress" if alert.first_contact_at is not None else "open"
    alert.resolved_at = None


def submit_response(
    session: Session, response: Response, instrument: Instrument, context: AlertContext | None = None,
    section: str | None = None,
) -> Response:
    """Mark a response submitted, score it and evaluate alerts. A re-sent submit is a no-op."""
    if response.status == "submitted":
        return response
    answers = current_answers(session, response)
    store_scores(session, response, instrument, answers, section)
    raise_alert(session, response, instrument, answers, context)
    response.status = "submitted"
    response.submitted_at = utcnow()
    session.flush()
    return response
