"""Enrollment and treatment sessions: the services behind the coordinator's forms and the CLI."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from surveys.domain.audit import record
from surveys.domain.formulations import study_formulations
from surveys.domain.links import PatientLike, StudyLike, issue_link
from surveys.domain.models import SEXES, Patient, Study, TreatmentSession, WindowExtension
from surveys.domain.pregnancy_check import PregnancyCheck, needs_check
from surveys.domain.protocol import Protocol, parse_protocol_text
from surveys.domain.schedule import Anchors, Window, compute_schedule, is_baseline
from surveys.infra.db import utcnow
from surveys.infra.formatting import local_date
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
    """Bad enrollment or session data, with a message for the person who typed it; `problems` maps
    each refused enrollment field to its reason (see `enrollment_problems`)."""

    def __init__(self, message: str, problems: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.problems = dict(problems or {})


def study_zone(study: StudyLike) -> ZoneInfo:
    """The study's time zone (Study.timezone, an IANA name); UTC when the name is unknown."""
    try:
        return ZoneInfo(getattr(study, "timezone", None) or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def study_today(study: StudyLike, now: datetime | None = None) -> date:
    """Today's date in the study's time zone (the clinic's calendar day)."""
    return (now or utcnow()).astimezone(study_zone(study)).date()


def local_day_start(study: StudyLike, day: date) -> datetime:
    """The UTC instant a local calendar day starts in the study's zone."""
    return datetime.combine(day, time(0, 0), tzinfo=study_zone(study)).astimezone(UTC)


def study_protocol(study: StudyLike) -> Protocol:
    """The study's stored protocol snapshot, parsed (once per distinct content: see parse_protocol_text)."""
    return parse_protocol_text(json.dumps(study.protocol, sort_keys=True), source=f"study {study.code}")


def enrollment_problems(
    session: Session,
    study: Study,
    code: str,
    *,
    sex: str | None = None,
    birth_year: int | None = None,
    diagnosis: str | None = None,
    prior_treatments: Sequence[str] = (),
    email: str | None = None,
    language: str | None = None,
    enrolled_on: date | None = None,
) -> dict[str, str]:
    """Every reason an enrollment cannot be recorded, by field (the arguments' names); empty when none.

    In: the values `enroll_patient` takes (None: not given, not checked; `code` None is not checked
    either). Out: field name -> translated reason: a code that is malformed or already enrolled in the
    study, a value outside its choices, a birth year outside 110..12 years ago, a malformed e-mail, too
    many or too long prior treatments, an enrollment day after the study's today.
    """
    problems: dict[str, str] = {}
    if enrolled_on is not None and enrolled_on > study_today(study):
        problems["enrolled_on"] = _("The enrollment date cannot be in the future.")
    if code is not None:
        code = code.strip()
        if not CODE_PATTERN.match(code):
            problems["code"] = _("The patient code must be 1-32 letters, digits, '-' or '_' and start with a "
                                 "letter or digit.")
        elif session.scalar(select(Patient.id).where(Patient.study_id == study.id, Patient.code == code)):
            problems["code"] = _("Patient %(code)s is already enrolled in %(study)s.", code=code,
                                 study=study.code)
    if sex is not None and sex not in SEXES:
        problems["sex"] = _("Sex must be one of %(values)s.", values=", ".join(SEXES))
    this_year = utcnow().year
    if birth_year is not None and not (this_year - 110 <= birth_year <= this_year - 12):
        problems["birth_year"] = _("Birth year must be between %(first)s and %(last)s.",
                                   first=this_year - 110, last=this_year - 12)
    if diagnosis is not None and diagnosis not in DIAGNOSES:
        problems["diagnosis"] = _("Diagnosis must be one of %(values)s.", values=", ".join(DIAGNOSES))
    if language is not None and language not in LANGUAGES:
        problems["language"] = _("Language must be one of %(values)s.", values=", ".join(LANGUAGES))
    email = (email or "").strip() or None
    if email is not None and (len(email) > 254 or not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email)):
        problems["email"] = _("The e-mail address does not look valid.")
    treatments = [t.strip() for t in prior_treatments if t and t.strip()]
    if any(len(t) > 64 for t in treatments) or len(treatments) > 20:
        problems["prior_treatments"] = _("Prior treatments: at most 20, each at most 64 characters.")
    return problems


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
    enrolled_on: date | None = None,
) -> tuple[Patient, str]:
    """Enroll a patient and issue a personal link (the printed handout's); returns the patient and the token.

    `enrolled_on` back-dates the enrollment to a local calendar day of the study (its start, stored
    as UTC), for patients already in treatment; it cannot be in the future. `enrolled_at` (UTC)
    sets the exact instant instead (tests, the demo). Raises EnrollmentError on bad data.
    """
    code = code.strip()
    email = (email or "").strip() or None
    problems = enrollment_problems(session, study, code, sex=sex, birth_year=birth_year, diagnosis=diagnosis,
                                   prior_treatments=prior_treatments, email=email, language=language,
                                   enrolled_on=enrolled_on)
    if problems:
        raise EnrollmentError(" ".join(problems.values()), problems)
    if enrolled_on is not None:
        enrolled_at = local_day_start(study, enrolled_on)
    treatments = [t.strip() for t in prior_treatments if t and t.strip()]
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
    token = issue_link(session, patient, kind="handout")
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
    planned: bool = False,
    pregnancy_check: PregnancyCheck | None = None,
) -> TreatmentSession:
    """Record (or correct) a treatment session; the patient's windows follow the new date.

    `day` is the clinic's local calendar day. A session done (`planned=False`) cannot be later
    than today in the study's zone; it may be earlier than the enrollment (a patient enrolled
    already in treatment: their baseline then shows as missing, never invented). A planned
    session (`planned=True`) is today or later; recording the same number again without
    `planned` confirms it was done. Sessions are numbered in date order, one per day, and a
    session cannot be done while an earlier one is still planned.

    Nothing is recorded for an erased patient; for a withdrawn one, no session dated after the day
    they left (a treatment given later is no study session: it would move their schedule).

    A session whose agents hold a 5-alpha-reductase inhibitor, for a patient not recorded as male,
    needs `pregnancy_check` (`surveys.domain.pregnancy_check`) when it is new, planned, confirmed as
    done, or its agents change; a correction of a done session keeps the check it has. Any "yes"
    refuses the session (a contraindication). The check is stored with the session and audited;
    given for a session that needs none, it is ignored. Raises EnrollmentError.
    """
    if not 1 <= number <= 100:
        raise EnrollmentError(_("The session number must be between 1 and 100."))
    _check_participation(patient, day)
    today = study_today(patient.study)
    if not planned and day > today:
        raise EnrollmentError(
            _("A session date cannot be in the future; record it once it has happened, or plan it.")
        )
    if planned and day < today:
        raise EnrollmentError(_("A planned session is today or later; record a past session as done."))
    if day < date(2000, 1, 1):
        raise EnrollmentError(_("A session date before 2000 is not plausible."))
    if len(agents) > 200 or len(notes) > 5000:
        raise EnrollmentError(_("Agents: at most 200 characters; notes: at most 5000."))
    others = {s.number: s for s in patient.sessions}
    existing = others.pop(number, None)
    if number > 1 and number - 1 not in others:
        raise EnrollmentError(_("Record session %(previous)s before session %(number)s.",
                                 previous=number - 1, number=number))
    if not planned:
        still_planned = sorted(n for n, s in others.items() if n < number and s.planned)
        if still_planned:
            raise EnrollmentError(_("Session %(number)s is still planned: record it as done (or move it) "
                                    "first.", number=still_planned[0]))
    elif any(not s.planned for n, s in others.items() if n > number):
        raise EnrollmentError(_("A session cannot be planned before a session already done."))
    before = [s.date for n, s in others.items() if n < number]
    after = [s.date for n, s in others.items() if n > number]
    if (before and day <= max(before)) or (after and day >= min(after)):
        raise EnrollmentError(_("Session dates must follow the session numbers, one session per day."))
    check = _pregnancy_check(patient, existing, agents=agents, planned=planned, given=pregnancy_check)
    if existing is None:
        existing = TreatmentSession(
            patient_id=patient.id, number=number, date=day, agents=agents, notes=notes, planned=planned
        )
        session.add(existing)
        old = None
    else:
        old = {"date": existing.date.isoformat(), "agents": existing.agents, "planned": existing.planned}
        existing.date, existing.agents, existing.notes, existing.planned = day, agents, notes, planned
    if check is not None:
        existing.pregnant, existing.breastfeeding = check.pregnant, check.breastfeeding
        existing.trying_to_conceive = check.trying_to_conceive
        existing.pregnancy_checked_at, existing.pregnancy_checked_by = utcnow(), actor
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
            "new": {"date": day.isoformat(), "agents": agents, "planned": planned},
            **({"pregnancy_check": check.as_dict()} if check is not None else {}),
        },
    )
    return existing


def _check_participation(patient: Patient, day: date) -> None:
    left = local_date(patient.status_on) if patient.status_on else "?"
    if patient.status == "erased":
        raise EnrollmentError(_("The data of patient %(code)s were erased on %(date)s: nothing can be "
                                "recorded for them.", code=patient.code, date=left))
    if patient.status == "withdrawn" and (patient.status_on is None or day > patient.status_on):
        raise EnrollmentError(_("Patient %(code)s left the study on %(date)s: a treatment given after that "
                                "day is not recorded as a study session.", code=patient.code, date=left))


def _pregnancy_check(patient: Patient, existing: TreatmentSession | None, *, agents: str, planned: bool,
                     given: PregnancyCheck | None) -> PregnancyCheck | None:
    """The check to store with the session (None: keep what it has), or EnrollmentError when a
    check it needs is missing or says "yes"."""
    if not needs_check(patient.sex, agents, study_formulations(patient.study)):
        return None
    kept = (existing is not None and existing.pregnancy_checked_at is not None and not existing.planned
            and not planned and existing.agents == agents)
    if given is None:
        if kept:
            return None
        raise EnrollmentError(_(
            "This formulation holds a 5-alpha-reductase inhibitor (dutasteride or finasteride): answer the "
            "pre-session pregnancy check (pregnant, breastfeeding, trying to conceive) before recording it."
        ))
    if given.any_yes:
        raise EnrollmentError(_(
            "Not recorded: a 5-alpha-reductase inhibitor (dutasteride or finasteride) is contraindicated "
            "in pregnancy, while breastfeeding and when trying to conceive. Choose a formulation without "
            "one, or postpone the session."
        ))
    return given


def extend_window(
    session: Session, patient: Patient, timepoint: str, closes_on: date, *, actor: str, reason: str,
    protocol: Protocol | None = None,
) -> WindowExtension:
    """Reopen or extend one patient's window to the end of a local day, with a reason (audited).

    `timepoint` is a window id of the patient's schedule (`T0`, `S2`, `W8`); `closes_on` is a local
    calendar day of the study, today or later, at most 90 days ahead. A second extension of the
    same window replaces the first (the audit trail keeps both). Answers given after the
    window's own close are flagged as given in an extended window. Raises EnrollmentError.
    """
    reason = (reason or "").strip()
    if not reason:
        raise EnrollmentError(_("Give a reason for reopening or extending the window."))
    if len(reason) > 2000:
        raise EnrollmentError(_("The reason: at most 2000 characters."))
    today = study_today(patient.study)
    if closes_on < today:
        raise EnrollmentError(_("The new closing day must be today or later."))
    if closes_on > today + timedelta(days=90):
        raise EnrollmentError(_("A window can be extended by at most 90 days."))
    opened_window(patient, timepoint, _("Window %(timepoint)s has not opened yet; nothing to extend.",
                                        timepoint=timepoint), protocol)
    extension = session.scalar(
        select(WindowExtension).where(WindowExtension.patient_id == patient.id,
                                      WindowExtension.timepoint == timepoint)
    )
    old = extension.closes_on.isoformat() if extension else None
    if extension is None:
        extension = WindowExtension(patient_id=patient.id, timepoint=timepoint, closes_on=closes_on,
                                    reason=reason, created_by=actor)
        patient.window_extensions.append(extension)
    else:
        extension.closes_on, extension.reason, extension.created_by = closes_on, reason, actor
        extension.created_at = utcnow()
    session.flush()
    record(session, actor, "window.extend", entity="patient", entity_id=patient.id, study_id=patient.study_id,
           details={"patient": patient.code, "timepoint": timepoint, "old_closes_on": old,
                    "closes_on": closes_on.isoformat(), "reason": reason})
    return extension


def opened_window(patient: Patient, timepoint: str, not_open: str,
                  protocol: Protocol | None = None) -> Window:
    """The patient's window `timepoint` (T0, S2, W12...) now, when it has opened; EnrollmentError
    otherwise: a timepoint not in their schedule, or `not_open` (the caller's message) when upcoming."""
    windows = compute_schedule(protocol or study_protocol(patient.study), patient_anchors(patient), utcnow())
    window = next((w for w in windows if w.timepoint == timepoint), None)
    if window is None or window.opens_at is None:
        raise EnrollmentError(_("Patient %(code)s has no scheduled window %(timepoint)s.", code=patient.code,
                                timepoint=timepoint))
    if window.state == "upcoming":
        raise EnrollmentError(not_open)
    return window


def patient_anchors(patient: PatientLike, extensions: dict[str, date] | None = None) -> Anchors:
    """The anchor dates of a patient's schedule (sessions, planned ones, extended windows).

    ORM patients carry their extensions in `window_extensions`; the values `open_link` reads carry
    them too. `extensions` overrides both (worklist reads them for a whole study at once). Days are
    counted in the study's time zone.
    """
    zone = getattr(patient, "timezone", None) or patient.study.timezone  # type: ignore[union-attr]
    ordered = sorted(patient.sessions, key=lambda s: s.number)
    if extensions is None:
        extensions = {e.timepoint: e.closes_on for e in getattr(patient, "window_extensions", ())}
    return Anchors(
        enrollment=patient.enrolled_at,
        sessions=tuple((s.number, s.date) for s in ordered),
        agents=tuple(s.agents or "" for s in ordered),
        planned=frozenset(s.number for s in ordered if s.planned),
        extensions=extensions,
        zone=zone,
    )


def study_anchors(session: Session, study: Study,
                  statuses: Collection[str] = ("active",)) -> dict[int, Anchors]:
    """The anchors of every patient of a study in the given participation statuses, by patient id.

    Plain rows in three statements for the whole study (patients, sessions, window extensions),
    the same anchors `patient_anchors` gives one ORM patient; days counted in the study's zone.
    """
    chosen = (Patient.study_id == study.id) & Patient.status.in_(tuple(statuses))
    enrolled = {pid: at for pid, at in session.execute(select(Patient.id, Patient.enrolled_at).where(chosen))}
    sessions: dict[int, list[tuple[int, date]]] = defaultdict(list)
    agents: dict[int, list[str]] = defaultdict(list)
    planned: dict[int, set[int]] = defaultdict(set)
    for pid, number, day, agent_text, is_planned in session.execute(
        select(TreatmentSession.patient_id, TreatmentSession.number, TreatmentSession.date,
               TreatmentSession.agents, TreatmentSession.planned)
        .join(Patient, Patient.id == TreatmentSession.patient_id).where(chosen)
        .order_by(TreatmentSession.patient_id, TreatmentSession.number)
    ):
        sessions[pid].append((number, day))
        agents[pid].append(agent_text or "")
        if is_planned:
            planned[pid].add(number)
    extensions: dict[int, dict[str, date]] = defaultdict(dict)
    for pid, tp, closes_on in session.execute(
        select(WindowExtension.patient_id, WindowExtension.timepoint, WindowExtension.closes_on)
        .join(Patient, Patient.id == WindowExtension.patient_id).where(chosen)
    ):
        extensions[pid][tp] = closes_on
    return {pid: Anchors(enrollment=at, sessions=tuple(sessions.get(pid, ())),
                         agents=tuple(agents.get(pid, ())), zone=study.timezone,
                         planned=frozenset(planned.get(pid, ())), extensions=extensions.get(pid, {}))
            for pid, at in enrolled.items()}


def baseline_window(windows: Sequence[Window]) -> Window | None:
    """The patient's baseline (pre-treatment) window, if the protocol has one."""
    return next((w for w in windows if is_baseline(w.definition)), None)


def patient_schedule(
    patient: Patient, protocol: Protocol, now: datetime | None = None, completed: Sequence[str] = ()
) -> list[Window]:
    """The patient's windows now; a withdrawn patient has nothing answerable."""
    windows = compute_schedule(protocol, patient_anchors(patient), now or utcnow(), completed)
    if patient.status != "active":
        return [w for w in windows if w.state in ("completed", "closed")]
    return windows
