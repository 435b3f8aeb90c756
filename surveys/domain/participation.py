"""A patient's participation over time: withdrawal (with a date and a reason) and completion.

A withdrawn patient is asked nothing more: their windows are closed (`patient_windows` keeps only
completed and closed ones for a patient who is not active), reminders stop (they go to active
patients only), and the patient's home says so. A patient is completed when the last window of
their schedule has closed: `complete_finished` marks them, run by `flask --app app patients
complete` (daily from cron). Until it runs, such a patient still shows as active, and nothing is
asked of them anyway (every window is closed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session, selectinload

from surveys.domain.audit import record
from surveys.domain.models import WITHDRAWAL_REASONS, Patient, Response, Study, TreatmentSession
from surveys.domain.patients import patient_anchors, study_protocol
from surveys.domain.schedule import compute_schedule
from surveys.infra.db import utcnow
from surveys.infra.formatting import local_date

MAX_NOTE = 2000
#: The withdrawal reason that withholds the patient's data from analysis until they are erased.
DISCARD_DATA = "consent_withdrawn_discard_data"
#: How staff collect answers in the clinic: answers given now (tablet, interview) or a paper form
#: the patient filled in earlier and staff transcribe.
COLLECTION_KINDS = ("tablet", "interview", "paper")


class ParticipationError(ValueError):
    """A withdrawal or reinstatement that cannot be recorded, with the reason; `problems` maps each
    refused field of a withdrawal ('on', 'reason', 'note'; 'patient' for its status) to its reason."""

    def __init__(self, message: str, problems: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.problems = dict(problems or {})


def local_day(study: Study, moment: datetime) -> date:
    """The date of a UTC moment in the study's time zone."""
    return moment.astimezone(ZoneInfo(study.timezone)).date()


def data_withheld(patient: Patient) -> bool:
    """Whether the patient's collected data are withheld from analysis: consent withdrawn, data not
    to be kept, and not erased yet (a tombstone holds no data to withhold)."""
    return patient.status == "withdrawn" and patient.withdrawal_reason == DISCARD_DATA


def data_analysable() -> ColumnElement[bool]:
    """SQL condition on `Patient`: the patient's data may be analysed (exported, drawn, counted).

    False for a patient who withdrew consent without keeping their data (`data_withheld`) and for an
    erased patient (nothing left but a tombstone). Every reader of answers, scores, free text,
    sessions, alerts or background facts for an analysis output adds it; the right-of-access export
    alone does not. A withdrawal undone makes the data analysable again (nothing is copied).
    """
    return and_(Patient.status != "erased", Patient.withdrawal_reason.is_distinct_from(DISCARD_DATA))


def collection_refusal(patient: Patient, kind: str) -> str | None:
    """Why staff may not record answers of `kind` (one of `COLLECTION_KINDS`) for the patient, as a
    translated sentence naming the participation and its date; None when they may.

    Nothing is recorded for an erased patient or one who withdrew consent without keeping the data;
    answers given now (tablet, interview) only for an active patient; a paper form also for a patient
    who left or completed the study (the form's own date is checked against the date they left).
    """
    day = local_date(patient.status_on) if patient.status_on else "?"
    if patient.status == "erased":
        return _("The data of patient %(code)s were erased on %(date)s: nothing can be recorded for them.",
                 code=patient.code, date=day)
    if data_withheld(patient):
        return _("Patient %(code)s withdrew consent on %(date)s and asked that the data not be kept: nothing "
                 "can be recorded for them.", code=patient.code, date=day)
    if patient.status == "active" or kind == "paper":
        return None
    if patient.status == "withdrawn":
        return _("Patient %(code)s left the study on %(date)s: nothing more is asked of them (a paper form "
                 "filled in before that day can still be transcribed).", code=patient.code, date=day)
    return _("Patient %(code)s completed the study on %(date)s: nothing more is asked of them (a paper form "
             "filled in before that day can still be transcribed).", code=patient.code, date=day)


def awaiting_erasure(session: Session, study: Study | None = None) -> list[Patient]:
    """Patients whose consent was withdrawn without keeping their data and who are not erased yet,
    oldest withdrawal first (of one study, or of every study)."""
    query = (select(Patient).where(Patient.status == "withdrawn", Patient.withdrawal_reason == DISCARD_DATA)
             .order_by(Patient.status_on, Patient.code))
    if study is not None:
        query = query.where(Patient.study_id == study.id)
    return list(session.scalars(query))


def last_answer_day(session: Session, patient: Patient) -> date | None:
    """The local date (study time zone) of the patient's last submitted questionnaire, or None."""
    last = session.scalar(select(func.max(Response.submitted_at)).where(Response.patient_id == patient.id))
    return local_day(patient.study, last) if last is not None else None


def check_leaving_day(session: Session, patient: Patient, on: date) -> None:
    """Refuse a date of leaving the study (withdrawal) earlier than the patient's last answer or the
    last treatment session recorded as done.

    A patient who answered or came for a session on a day was still taking part that day: a date
    before it would leave answers or a study session after the patient left, and call "lost to
    follow-up" someone who still came. `on` is a local date of the study. Raises
    `ParticipationError` naming the day. Planned sessions do not count: they have not happened.
    """
    answered = last_answer_day(session, patient)
    if answered is not None and on < answered:
        raise ParticipationError(_("The patient last answered a questionnaire on %(day)s: give a date on or "
                                   "after that day.", day=local_date(answered)))
    treated = session.scalar(select(func.max(TreatmentSession.date)).where(
        TreatmentSession.patient_id == patient.id, TreatmentSession.planned.is_(False)))
    if treated is not None and on < treated:
        raise ParticipationError(_("The patient's last treatment session was on %(day)s: give a date on or "
                                   "after that day.", day=local_date(treated)))


def withdrawal_problems(session: Session, patient: Patient, *, on: date | None, reason: str | None,
                        note: str | None) -> dict[str, str]:
    """Every reason a withdrawal cannot be recorded, by field; empty when it can.

    In: the local date the patient left (None: not given, not checked), the reason (one of
    `WITHDRAWAL_REASONS`; None: not checked) and the note. Out: 'patient' (not active: nothing else is
    checked), 'reason', 'note' ("other" needs one; at most `MAX_NOTE` characters) and 'on' (between
    the enrollment and today, not before the last answer: `check_leaving_day`), each a translated reason.
    """
    if patient.status != "active":
        return {"patient": _("Only an active patient can be withdrawn (this one is %(status)s).",
                             status=patient.status)}
    problems: dict[str, str] = {}
    if reason is not None and reason not in WITHDRAWAL_REASONS:
        problems["reason"] = _("Choose a reason for the withdrawal.")
    note = (note or "").strip()
    if reason == "other" and not note:
        problems["note"] = _("Say why the patient left the study.")
    elif len(note) > MAX_NOTE:
        problems["note"] = _("The note must be at most %(n)s characters.", n=MAX_NOTE)
    if on is not None:
        enrolled, today = local_day(patient.study, patient.enrolled_at), local_day(patient.study, utcnow())
        if not enrolled <= on <= today:
            problems["on"] = _("The withdrawal date must be between the enrollment (%(first)s) and today "
                               "(%(last)s).", first=local_date(enrolled), last=local_date(today))
        else:
            try:
                check_leaving_day(session, patient, on)
            except ParticipationError as exc:
                problems["on"] = str(exc)
    return problems


def withdraw_patient(session: Session, patient: Patient, *, on: date, reason: str, note: str = "",
                     actor: str) -> None:
    """Record that an active patient left the study on `on` (a local date) for `reason`.

    `reason` is one of `WITHDRAWAL_REASONS`; "other" needs a `note` (free text, kept out of the
    audit trail, deleted by erasure). `DISCARD_DATA` withholds the patient's data from analysis
    from now on (`data_analysable`) until erasure. The date lies between the enrollment date and today (local
    dates of the study), and not before the local day of the patient's last submitted answer
    (`check_leaving_day`). Raises `ParticipationError` naming every problem at once
    (`withdrawal_problems`); flushes; the caller commits.
    """
    problems = withdrawal_problems(session, patient, on=on, reason=reason, note=note)
    if problems:
        raise ParticipationError(" ".join(problems.values()), problems)
    note = (note or "").strip()
    patient.status, patient.status_on = "withdrawn", on
    patient.withdrawal_reason, patient.status_note = reason, note or None
    session.flush()
    record(session, actor, "patient.withdraw", entity="patient", entity_id=patient.id,
           study_id=patient.study_id,
           details={"patient": patient.code, "on": on.isoformat(), "reason": reason})


def reinstate_patient(session: Session, patient: Patient, *, actor: str) -> None:
    """Undo a withdrawal recorded by mistake: the patient is active again, windows reopen by the
    schedule. The old date and reason go to the audit trail; data withheld by a withdrawal of consent
    without keeping them are analysable again. Raises `ParticipationError`."""
    if patient.status != "withdrawn":
        raise ParticipationError(_("Only a withdrawn patient can be reinstated."))
    old = {"on": patient.status_on.isoformat() if patient.status_on else None,
           "reason": patient.withdrawal_reason}
    patient.status, patient.status_on = "active", None
    patient.withdrawal_reason = patient.status_note = None
    session.flush()
    record(session, actor, "patient.reinstate", entity="patient", entity_id=patient.id,
           study_id=patient.study_id, details={"patient": patient.code, "old": old})


def last_window_close(patient: Patient, study: Study, now: datetime) -> datetime | None:
    """When the patient's last window closed (UTC), or None while any window is still to come.

    A window still open, upcoming or without dates (its anchor, e.g. a first session, is not
    recorded yet) means the patient is not finished.
    """
    windows = compute_schedule(study_protocol(study), patient_anchors(patient), now)
    if not windows or any(w.closes_at is None or w.closes_at > now for w in windows):
        return None
    return max(w.closes_at for w in windows if w.closes_at is not None)


def complete_finished(session: Session, *, study: Study | None = None, now: datetime | None = None,
                      actor: str = "cron") -> list[Patient]:
    """Mark completed every active patient whose last window has closed; returns them.

    `status_on` is the local date of the last day the last window was open (windows close at
    the start of their closing day), or the local day of the patient's last answer when that is
    later (a paper form transcribed after the close). Idempotent: completed patients are not
    active. Flushes and audits each one (`patient.complete`, with source "schedule"); the caller
    commits.
    """
    now = now or utcnow()
    query = (select(Patient).where(Patient.status == "active")
             .options(selectinload(Patient.sessions), selectinload(Patient.study)).order_by(Patient.id))
    if study is not None:
        query = query.where(Patient.study_id == study.id)
    done: list[Patient] = []
    for patient in session.scalars(query):
        closed = last_window_close(patient, patient.study, now)
        if closed is None:
            continue
        patient.status = "completed"
        last_open = local_day(patient.study, closed - timedelta(microseconds=1))
        # Never before the patient's last answer (a paper form transcribed late): the rule of
        # `check_leaving_day`, applied by dating the completion instead of refusing it.
        answered = last_answer_day(session, patient)
        patient.status_on = max(last_open, answered) if answered is not None else last_open
        record(session, actor, "patient.complete", entity="patient", entity_id=patient.id,
               study_id=patient.study_id,
               details={"patient": patient.code, "on": patient.status_on.isoformat(), "source": "schedule"})
        done.append(patient)
    session.flush()
    return done


def status_label(status: str) -> str:
    """The translated name of a participation status."""
    return {"active": _("active"), "withdrawn": _("withdrawn"), "completed": _("completed"),
            "erased": _("erased")}.get(status, status)


def reason_label(reason: str | None) -> str:
    """The translated name of a withdrawal reason."""
    labels = {
        "consent_withdrawn_keep_data": _("Consent withdrawn, data already collected kept"),
        "consent_withdrawn_discard_data": _("Consent withdrawn, data already collected not to be kept"),
        "lost_to_follow_up": _("Lost to follow-up"),
        "clinician_decision": _("Clinician decision"),
        "other": _("Other"),
    }
    return labels.get(reason or "", reason or "")


def reason_choices() -> Sequence[tuple[str, str]]:
    """(code, label) pairs for a form."""
    return [(reason, reason_label(reason)) for reason in WITHDRAWAL_REASONS]
