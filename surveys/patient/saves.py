"""Saving one screen of a patient's questionnaire: one transaction, and what the patient sees next.

Called by the answer view (`patient_views.answer`) once the form is valid. Unlike the services,
this commits: the answer must be stored before the reply says so, and a race between two
requests of the same patient (a double tap, a resend after a dropped connection) is settled by
retrying the whole transaction, so the loser finds the winner's rows and changes nothing.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import bindparam, select, update
from sqlalchemy import false as sql_false
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from instruments import AnswerError, Instrument
from instruments.alerts import evaluate_alerts, rule_pathway
from instruments.conditions import referenced_items
from surveys.domain import flow as flow
from surveys.domain.links import PatientLike, SessionLike
from surveys.domain.models import Alert, Answer, Patient, Response
from surveys.domain.notices import take_owed
from surveys.domain.protocol import ProtocolInstrument
from surveys.domain.responses import (
    ResponseClosed,
    answer_value,
    raise_alert,
    start_response,
    submit_response,
    write_answers,
)
from surveys.domain.schedule import Window

SAVE_ATTEMPTS = 3
Outcome = Literal["saved", "finished", "emergency", "crisis", "same_day", "closed"]

# Built once: they run on every saved answer.
_ALERT_REASONS = select(Alert.reasons).where(Alert.response_id == bindparam("response_id"))
_FLAG_EXTENDED = (
    update(Response.__table__).where(Response.__table__.c.id == bindparam("response_id"))
    .values(window_extended=True)
)
_SQLITE_WRITE_LOCK = update(Patient).where(sql_false()).values(id=Patient.id)
_PATIENT_ROW_LOCK = select(Patient.id).where(Patient.id == bindparam("patient_id")).with_for_update()
# The open response's id and status with its answers, read as plain rows once the patient is locked.
_RESPONSE_AND_ANSWERS = (
    select(Response.id, Response.status, Answer.item_id, Answer.code, Answer.text)
    .outerjoin(Answer, Answer.response_id == Response.id)
    .where(Response.patient_id == bindparam("patient_id"), Response.timepoint == bindparam("timepoint"),
           Response.instrument_id == bindparam("instrument_id"))
)


@dataclass(frozen=True, slots=True)
class Saved:
    """What a saved answer leads to, and the item to put on screen next within its part.

    outcome: "saved" (next item), "finished" (the part was submitted), "emergency" / "same_day"
    (the answer reports a level-3 / level-2 alert: advice first), "crisis" (a level-3 alert on the
    crisis pathway, e.g. PHQ-9 item 9: the crisis contacts first), "closed" (the response was
    already submitted or its window closed: nothing stored).
    """

    outcome: Outcome
    cursor: str
    notices: tuple[int, ...] = ()  # alert notices this answer made owed, to deliver after the commit


def save_screen(
    session: Session, patient: PatientLike, window: Window, entry: ProtocolInstrument, instrument: Instrument,
    item_id: str, value: Any, *, going_back: bool, lang: str, order_lang: str | None = None,
    mode: str = "own_device", assisted_by_id: int | None = None,
) -> Saved:
    """Store one answer in one transaction (committed); AnswerError when the value is not allowed.

    `lang` is the language the item was shown in (recorded on the answer; a new response starts in
    it); `order_lang` the language whose item order the part follows (the one it was started in);
    `mode` and `assisted_by_id` the mode of administration a new response records.

    A double tap or a resend lands on the same response and answer rows (unique keys) and changes
    nothing; two racing requests are retried, so the loser finds the winner's rows. The alert
    notices the answer made owed are committed with it; `Saved.notices` names them for delivery.
    """
    treatment = _treatment(patient, window)
    rule_levels = {rule["id"]: rule["level"] for rule in instrument.alert_rules}
    session.commit()  # end the look-up's read transaction: the save starts a fresh one
    for attempt in range(1, SAVE_ATTEMPTS + 1):
        take_owed(session)  # only the notices of the attempt that commits count
        try:
            _lock_patient(session, patient.id)
            response_id, stored = _open_response(session, patient, window, instrument, lang, treatment,
                                                 mode, assisted_by_id)
            answers = write_answers(session, response_id, instrument, stored, {item_id: value}, language=lang)
            before, alert = [], None
            if instrument.alert_rules:  # most instruments have none: spare the alert queries
                before = session.scalar(_ALERT_REASONS, {"response_id": response_id}) or []
                alert = raise_alert(session, session.get_one(Response, response_id), instrument, answers)
            items = flow.shown_items(instrument, answers, order_lang or lang, entry.section)
            move_to = flow.item_before(items, item_id) if going_back else flow.item_after(items, item_id)
            finished = not going_back and move_to is None and flow.is_finished(items, answers)
            if finished:
                response = session.get_one(Response, response_id)
                submit_response(session, response, instrument, section=entry.section)
            elif move_to is None and not going_back:
                move_to = flow.resume_item(items, answers)
            session.commit()
            break
        except AnswerError:
            session.rollback()
            raise
        except ResponseClosed:
            session.rollback()
            return Saved("closed", item_id)
        except (IntegrityError, OperationalError):
            session.rollback()
            if attempt == SAVE_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311 (jitter, not a secret)
    cursor = move_to.id if move_to else item_id
    notices = tuple(take_owed(session))
    reported = set(alert.reasons if alert else ()) - set(before)
    if alert is not None and not reported:
        reported = _still_reported(instrument, item_id, alert.reasons, answers)
    levels = {rule_levels.get(reason, 0) for reason in reported}
    if 3 in levels:
        crisis = any(rule_levels.get(reason) == 3 and rule_pathway(instrument.alert_rules, reason) == "crisis"
                     for reason in reported)
        return Saved("crisis" if crisis else "emergency", cursor, notices)
    if 2 in levels:
        return Saved("same_day", cursor, notices)
    return Saved("finished" if finished else "saved", cursor, notices)


def _still_reported(instrument: Instrument, item_id: str, reasons: list[str], answers: Any) -> set[str]:
    """The alert reasons about this item that its answer still reports.

    A resend of the answer that raised an alert (its reply lost on a bad network, or the patient
    going back and confirming it) raises nothing new, yet must show the same advice again.
    """
    about = {rule["id"] for rule in instrument.alert_rules
             if rule["id"] in reasons and item_id in referenced_items(rule["when"])}
    if not about:
        return set()
    return about & set(evaluate_alerts(instrument, answers).reasons)


def _open_response(
    session: Session, patient: PatientLike, window: Window, instrument: Instrument, lang: str,
    treatment: SessionLike | None, mode: str = "own_device", assisted_by_id: int | None = None,
) -> tuple[int, dict[str, int | str | None]]:
    """The id of the patient's open response to this part (created on its first answer) and its
    stored answers, read as plain rows; ResponseClosed once it was submitted."""
    key = {"patient_id": patient.id, "timepoint": window.timepoint, "instrument_id": instrument.id}
    rows = session.execute(_RESPONSE_AND_ANSWERS, key).all()
    if not rows:
        started = start_response(session, patient, window.timepoint, instrument, lang, treatment,
                                 window_extended=window.extended, mode=mode, assisted_by_id=assisted_by_id)
        return started.id, {}
    if rows[0].status == "submitted":
        raise ResponseClosed("This questionnaire was already submitted.")
    if window.extended:  # answered on, after the window's own close: flagged (rare, so checked here)
        session.execute(_FLAG_EXTENDED, {"response_id": rows[0].id})
    stored = {row.item_id: answer_value(row.code, row.text) for row in rows if row.item_id is not None}
    return rows[0].id, stored


def _lock_patient(session: Session, patient_id: int) -> None:
    """Serialise concurrent saves of one patient before anything is read.

    PostgreSQL: a row lock on the patient. SQLite: its single write lock, taken by a write that
    changes nothing; taken first, SQLite waits for it (busy timeout) instead of failing a
    transaction whose earlier reads went stale.
    """
    connection = session.connection()  # Core: no ORM bulk-update bookkeeping for a lock
    if connection.dialect.name == "sqlite":
        connection.execute(_SQLITE_WRITE_LOCK)
    else:
        connection.execute(_PATIENT_ROW_LOCK, {"patient_id": patient_id})


def _treatment(patient: PatientLike, window: Window) -> SessionLike | None:
    """The treatment session a follow-up window hangs on (None for the other windows)."""
    number = flow.treatment_number(window)
    if number is None or window.definition.anchor != "each_session":
        return None
    return next((s for s in patient.sessions if s.number == number), None)
