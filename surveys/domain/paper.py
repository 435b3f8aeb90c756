"""Paper questionnaires transcribed by staff: stored like the patient's own answers.

One service call stores a whole questionnaire: validated against the instrument like an answer
given on a phone (unknown items, codes outside the options, answers to questions the other
answers hide are refused, nothing stored), scored, and checked by the same alert rules (a red
flag raises an alert as usual). The response records the mode of administration "paper_entry",
the staff member who transcribed it (`assisted_by_id`), when the patient filled it in
(`started_at` and `submitted_at`: the start of that local day in the study's zone) and when it
was transcribed (`entered_at`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

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


class PaperEntryError(ValueError):
    """A paper questionnaire that cannot be stored, with a message for the person transcribing it."""


def enter_paper(
    session: Session, patient: Patient, window: Window, entry: ProtocolInstrument, instrument: Instrument,
    answers: Mapping[str, object], *, filled_on: date, language: str, staff: StaffUser, actor: str,
) -> Response:
    """Store a transcribed paper questionnaire as a submitted response; flushes, never commits.

    `answers` maps item ids to codes (or text); items left out were not answered on paper.
    `filled_on` is the local day the patient filled it in: not in the future, and within the
    window (from the day it opened to the day it closes). Raises PaperEntryError for these and
    when the patient already has a response to this part (online or on paper), and
    `instruments.AnswerError` for answers the instrument refuses; nothing is stored then.
    """
    study = patient.study
    if filled_on > study_today(study):
        raise PaperEntryError("The date the patient filled it in cannot be in the future.")
    filled_at = local_day_start(study, filled_on)
    if window.opens_at is None or filled_on < window.opens_at.astimezone(study_zone(study)).date():
        raise PaperEntryError("That date is before this questionnaire's window opened.")
    if window.closes_at is not None and filled_at >= window.closes_at:
        raise PaperEntryError("That date is after this questionnaire's window closed.")
    existing = session.scalar(select(Response.id).where(
        Response.patient_id == patient.id, Response.timepoint == window.timepoint,
        Response.instrument_id == instrument.id))
    if existing is not None:
        raise PaperEntryError("This patient already has answers to this questionnaire; nothing was stored.")
    treatment = None
    if window.definition.anchor == "each_session" and window.session_number is not None:
        treatment = next((s for s in patient.sessions if s.number == window.session_number), None)
    response = start_response(session, patient, window.timepoint, instrument, language, treatment,
                              mode="paper_entry", assisted_by_id=staff.id)
    response.started_at = filled_at
    save_answers(session, response, instrument, {k: v for k, v in answers.items() if v is not None},
                 language=language)
    context: AlertContext = alert_context(session, response, now=filled_at)
    submit_response(session, response, instrument, context, section=entry.section)
    response.submitted_at = filled_at
    response.entered_at = utcnow()
    session.flush()
    record(session, actor, "response.paper_entry", entity="response", entity_id=response.id,
           study_id=patient.study_id,
           details={"patient": patient.code, "timepoint": window.timepoint, "instrument": instrument.id,
                    "filled_on": filled_on.isoformat()})
    return response

