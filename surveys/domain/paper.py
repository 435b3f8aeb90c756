"""Questionnaires staff record for a patient: paper forms transcribed, and interviews read out.

One service call stores a whole questionnaire: validated against the instrument like an answer
given on a phone (unknown items, codes outside the options, answers to questions the other
answers hide are refused, nothing stored), scored, and checked by the same alert rules (a red
flag raises an alert as usual). The response records the mode of administration and the staff
member who recorded it (`assisted_by_id`):

- "paper_entry" (`enter_paper`): the patient filled in a paper form, staff transcribe it later;
  `started_at` and `submitted_at` are the start of the local day the patient filled it in (in the
  study's zone) and `entered_at` when it was transcribed; a day after the window's own close (in an
  extension staff granted) flags the response `window_extended`.
- "staff_interview" (`enter_interview`): staff read the questions and choices to the patient, in
  the clinic or by phone, and record the answers as given; `submitted_at` is now, so the window
  must be answerable now (an extended window included: the response is flagged like the patient's
  own answers there).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from instruments import Instrument
from instruments.alerts import AlertContext
from surveys.domain.audit import record
from surveys.domain.models import Patient, Response, StaffUser
from surveys.domain.patients import local_day_start, study_today, study_zone
from surveys.domain.protocol import ProtocolInstrument
from surveys.domain.responses import alert_context, save_answers, start_response, submit_response
from surveys.domain.schedule import Window
from surveys.infra.db import utcnow


class StaffEntryError(ValueError):
    """A questionnaire staff record that cannot be stored, with a message for them (translated)."""


def enter_paper(
    session: Session, patient: Patient, window: Window, entry: ProtocolInstrument, instrument: Instrument,
    answers: Mapping[str, object], *, filled_on: date, language: str, staff: StaffUser, actor: str,
) -> Response:
    """Store a transcribed paper questionnaire as a submitted response; flushes, never commits.

    `answers` maps item ids to codes (or text); items left out were not answered on paper.
    `filled_on` is the local day the patient filled it in: not in the future, and within the
    window (from the day it opened to the day it closes). Raises StaffEntryError for these and
    when the patient already has a response to this part (online or on paper), and
    `instruments.AnswerError` for answers the instrument refuses; nothing is stored then.
    """
    study = patient.study
    if filled_on > study_today(study):
        raise StaffEntryError(_("The date the patient filled it in cannot be in the future."))
    filled_at = local_day_start(study, filled_on)
    if window.opens_at is None or filled_on < window.opens_at.astimezone(study_zone(study)).date():
        raise StaffEntryError(_("That date is before this questionnaire's window opened."))
    if window.closes_at is not None and filled_at >= window.closes_at:
        raise StaffEntryError(_("That date is after this questionnaire's window closed."))
    response = _store(session, patient, window, entry, instrument, answers, at=filled_at, language=language,
                      mode="paper_entry", staff=staff)
    response.entered_at = utcnow()
    # Filled in after the window's own close, inside the extension staff granted: flagged as the
    # patient's own answers there are.
    response.window_extended = window.own_closes_at is not None and filled_at >= window.own_closes_at
    session.flush()
    record(session, actor, "response.paper_entry", entity="response", entity_id=response.id,
           study_id=patient.study_id,
           details={"patient": patient.code, "timepoint": window.timepoint, "instrument": instrument.id,
                    "filled_on": filled_on.isoformat()})
    return response


def enter_interview(
    session: Session, patient: Patient, window: Window, entry: ProtocolInstrument, instrument: Instrument,
    answers: Mapping[str, object], *, language: str, staff: StaffUser, actor: str,
    now: datetime | None = None,
) -> Response:
    """Store the answers a patient gave to staff reading the questionnaire out, as a submitted
    response at `now` (UTC; default the current time); flushes, never commits.

    `answers` maps item ids to codes (or text); items left out were not answered. Raises
    StaffEntryError when the patient is not active, the window is not answerable now, or the
    patient already has a response to this part, and `instruments.AnswerError` for answers the
    instrument refuses; nothing is stored then.
    """
    if patient.status != "active":
        raise StaffEntryError(_("Patient %(code)s is not active: nothing to answer.", code=patient.code))
    if not window.answerable:
        raise StaffEntryError(_("This questionnaire's window is not open now."))
    at = now or utcnow()
    response = _store(session, patient, window, entry, instrument, answers, at=at, language=language,
                      mode="staff_interview", staff=staff)
    response.window_extended = window.extended
    session.flush()
    record(session, actor, "response.staff_interview", entity="response", entity_id=response.id,
           study_id=patient.study_id,
           details={"patient": patient.code, "timepoint": window.timepoint, "instrument": instrument.id,
                    "language": language})
    return response


def _store(
    session: Session, patient: Patient, window: Window, entry: ProtocolInstrument, instrument: Instrument,
    answers: Mapping[str, object], *, at: datetime, language: str, mode: str, staff: StaffUser,
) -> Response:
    """Start, answer, score and submit one response given at `at` (UTC) in one go; flushed."""
    existing = session.scalar(select(Response.id).where(
        Response.patient_id == patient.id, Response.timepoint == window.timepoint,
        Response.instrument_id == instrument.id))
    if existing is not None:
        raise StaffEntryError(
            _("This patient already has answers to this questionnaire; nothing was stored."))
    treatment = None
    if window.definition.anchor == "each_session" and window.session_number is not None:
        treatment = next((s for s in patient.sessions if s.number == window.session_number), None)
    response = start_response(session, patient, window.timepoint, instrument, language, treatment,
                              mode=mode, assisted_by_id=staff.id)
    response.started_at = at
    save_answers(session, response, instrument, {k: v for k, v in answers.items() if v is not None},
                 language=language)
    context: AlertContext = alert_context(session, response, now=at)
    submit_response(session, response, instrument, context, section=entry.section)
    response.submitted_at = at
    return response
