"""Enrollment and treatment sessions: the services behind the coordinator's forms and the CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from surveys.domain.audit import record
from surveys.domain.links import PatientLike, StudyLike, issue_link
from surveys.domain.models import SEXES, Patient, Study, TreatmentSession
from surveys.domain.protocol import Protocol, parse_protocol_text
from surveys.domain.schedule import Anchors, Window, compute_schedule
from surveys.infra.db import utcnow
from surveys.infra.i18n import LANGUAGES

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
DIAGNOSES = (
    "androgenetic_alopecia",
    "female_pattern_hair_loss",
    "telogen_effluvium",
    "alopecia_areata",
    "other",
)


class EnrollmentError(ValueError):
    """Bad enrollment or session data, with a message for the person who typed it."""


def study_protocol(study: StudyLike) -> Protocol:
    """The study's stored protocol snapshot, parsed (once per distinct content: see parse_protocol_text)."""
    return parse_protocol_text(json.dumps(study.protocol, sort_keys=True), source=f"study {study.code}")


def enroll_patient(
    session: Session,
    study: Study,
    code: str,
    *,
    actor: str,
    sex: str | None = None,
    birth_year: int | None = None,
    diagnosis: str | None = None,
    prior_treatments: Sequence[str] = (),
    email: str | None = None,
    language: str = "en",
    enrolled_at: datetime | None = None,
) -> tuple[Patient, str]:
    """Enroll a patient and issue a personal link; returns the patient and the token."""
    code = code.strip()
    if not CODE_PATTERN.match(code):
        raise EnrollmentError(
            _("The patient code must be 1-32 letters, digits, '-' or '_' and start with a letter or digit.")
        )
    if sex is not None and sex not in SEXES:
        raise EnrollmentError(_("Sex must be one of %(values)s.", values=", ".join(SEXES)))
    this_year = utcnow().year
    if birth_year is not None and not (this_year - 110 <= birth_year <= this_year - 12):
        raise EnrollmentError(_("Birth year must be between %(first)s and %(last)s.",
                                 first=this_year - 110, last=this_year - 12))
    if diagnosis is not None and diagnosis not in DIAGNOSES:
        raise EnrollmentError(_("Diagnosis must be one of %(values)s.", values=", ".join(DIAGNOSES)))
    if language not in LANGUAGES:
        raise EnrollmentError(_("Language must be one of %(values)s.", values=", ".join(LANGUAGES)))
    email = (email or "").strip() or None
    if email is not None and (len(email) > 254 or not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email)):
        raise EnrollmentError(_("The e-mail address does not look valid."))
    treatments = [t.strip() for t in prior_treatments if t and t.strip()]
    if any(len(t) > 64 for t in treatments) or len(treatments) > 20:
        raise EnrollmentError(_("Prior treatments: at most 20, each at most 64 characters."))
    if session.scalar(select(Patient.id).where(Patient.study_id == study.id, Patient.code == code)):
        raise EnrollmentError(_("Patient %(code)s is already enrolled in %(study)s.",
                                 code=code, study=study.code))
    patient = Patient(
        study_id=study.id,
        code=code,
        sex=sex,
        birth_year=birth_year,
        diagnosis=diagnosis,
        prior_treatments=treatments,
        email=email,
        language=language,
        enrolled_at=enrolled_at or utcnow(),
    )
    session.add(patient)
    session.flush()
    token = issue_link(session, patient)
    record(
        session,
        actor,
        "patient.enroll",
        entity="patient",
        entity_id=patient.id,
        study_id=study.id,
        details={"code": code},
    )
    return patient, token


def record_session(
    session: Session,
    patient: Patient,
    *,
    actor: str,
    number: int,
    day: date,
    agents: str = "",
    notes: str = "",
) -> TreatmentSession:
    """Record (or correct) a treatment session; the patient's windows follow the new date."""
    if not 1 <= number <= 100:
        raise EnrollmentError(_("The session number must be between 1 and 100."))
    if day < patient.enrolled_at.date():
        raise EnrollmentError(_("A session cannot be before the patient's enrollment date."))
    if day > utcnow().date():
        raise EnrollmentError(_("A session date cannot be in the future; record it once it has happened."))
    if len(agents) > 200 or len(notes) > 5000:
        raise EnrollmentError(_("Agents: at most 200 characters; notes: at most 5000."))
    others = {s.number: s for s in patient.sessions}
    existing = others.pop(number, None)
    if number > 1 and number - 1 not in others:
        raise EnrollmentError(_("Record session %(previous)s before session %(number)s.",
                                 previous=number - 1, number=number))
    before = [s.date for n, s in others.items() if n < number]
    after = [s.date for n, s in others.items() if n > number]
    if (before and day <= max(before)) or (after and day >= min(after)):
        raise EnrollmentError(_("Session dates must follow the session numbers, one session per day."))
    if existing is None:
        existing = TreatmentSession(
            patient_id=patient.id, number=number, date=day, agents=agents, notes=notes
        )
        session.add(existing)
        old = None
    else:
        old = {"date": existing.date.isoformat(), "agents": existing.agents}
        existing.date, existing.agents, existing.notes = day, agents, notes
    session.flush()
    session.refresh(patient, ["sessions"])
    record(
        session,
        actor,
        "session.update" if old else "session.create",
        entity="treatment_session",
        entity_id=existing.id,
        study_id=patient.study_id,
        details={
            "patient": patient.code,
            "number": number,
            "old": old,
            "new": {"date": day.isoformat(), "agents": agents},
        },
    )
    return existing


def patient_anchors(patient: PatientLike) -> Anchors:
    """The anchor dates of a patient's schedule, with the study's time zone its days are counted in."""
    zone = getattr(patient, "timezone", None) or patient.study.timezone  # type: ignore[union-attr]
    return Anchors(
        enrollment=patient.enrolled_at,
        sessions=tuple((s.number, s.date) for s in sorted(patient.sessions, key=lambda s: s.number)),
        agents=" | ".join(s.agents for s in patient.sessions if s.agents),
        zone=zone,
    )


def patient_schedule(
    patient: Patient, protocol: Protocol, now: datetime | None = None, completed: Sequence[str] = ()
) -> list[Window]:
    """The patient's windows now; a withdrawn patient has nothing answerable."""
    windows = compute_schedule(protocol, patient_anchors(patient), now or utcnow(), completed)
    if patient.status != "active":
        return [w for w in windows if w.state in ("completed", "closed")]
    return windows
