"""Enrollment and session recording: clear refusals, nothing half-stored, schedules follow sessions."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from surveys.domain.links import hash_token, issue_link, open_link
from surveys.domain.models import AuditEvent, Patient, PatientLink, Response, TreatmentSession
from surveys.domain.patients import (
    EnrollmentError,
    enroll_patient,
    extend_window,
    patient_schedule,
    record_session,
    study_protocol,
)
from surveys.infra.db import db
from tests.today import local_today


def test_enrolling_issues_a_link_stored_only_as_a_hash(make_study) -> None:
    study = make_study()
    patient, token = enroll_patient(db.session, study, "A-001", actor="test", sex="female", birth_year=1980)
    assert len(token) >= 22  # >= 128 bits in URL-safe base64
    link = open_link(db.session, token)
    assert link is not None and link.patient.id == patient.id
    stored = db.session.scalar(select(PatientLink.token_hash).where(PatientLink.patient_id == patient.id))
    assert stored == hash_token(token) and token not in stored


def test_reissuing_a_link_revokes_the_old_one(make_patient) -> None:
    patient = make_patient()
    new = issue_link(db.session, patient)
    assert open_link(db.session, patient.token).revoked_at is not None
    assert open_link(db.session, new).revoked_at is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"code": "has space"}, "patient code"),
        ({"code": ""}, "patient code"),
        ({"sex": "unknown"}, "Sex must be"),
        ({"birth_year": 1800}, "Birth year"),
        ({"diagnosis": "baldness"}, "Diagnosis"),
        ({"language": "de"}, "Language"),
        ({"email": "not-an-address"}, "e-mail"),
        ({"prior_treatments": ["x" * 65]}, "Prior treatments"),
    ],
)
def test_bad_enrollment_data_is_refused_with_a_message(make_study, kwargs, message) -> None:
    study = make_study()
    kwargs = dict(kwargs)  # parametrized dicts are shared between the database backends
    code = kwargs.pop("code", "B-1")
    with pytest.raises(EnrollmentError, match=message):
        enroll_patient(db.session, study, code, actor="test", **kwargs)
    assert db.session.scalar(select(func.count()).select_from(Patient)) == 0


def test_a_code_is_unique_within_a_study_but_not_across_studies(make_study) -> None:
    one, two = make_study(), make_study()
    enroll_patient(db.session, one, "SAME", actor="test")
    enroll_patient(db.session, two, "SAME", actor="test")
    with pytest.raises(EnrollmentError, match="already enrolled"):
        enroll_patient(db.session, one, "SAME", actor="test")


def test_sessions_must_follow_their_numbers(make_patient) -> None:
    patient = make_patient(enrolled_days_ago=60)
    record_session(db.session, patient, actor="t", number=1, day=local_today() - timedelta(days=40))
    with pytest.raises(EnrollmentError, match="Record session 2"):
        record_session(db.session, patient, actor="t", number=3, day=local_today() - timedelta(days=5))
    with pytest.raises(EnrollmentError, match="follow the session numbers"):
        record_session(db.session, patient, actor="t", number=2, day=local_today() - timedelta(days=50))
    with pytest.raises(EnrollmentError, match="future"):
        record_session(db.session, patient, actor="t", number=2, day=local_today() + timedelta(days=1))


def test_a_patient_already_in_treatment_is_enrolled_with_earlier_sessions(make_study) -> None:
    study = make_study()
    patient, _token = enroll_patient(db.session, study, "LATE", actor="t",
                                     enrolled_on=local_today() - timedelta(days=1))
    record_session(db.session, patient, actor="t", number=1, day=local_today() - timedelta(days=90))
    record_session(db.session, patient, actor="t", number=2, day=local_today() - timedelta(days=60))
    windows = {w.timepoint: w for w in patient_schedule(patient, study_protocol(study))}
    assert windows["T0"].state == "closed"  # missing, never invented
    assert not db.session.scalars(select(Response).where(Response.patient_id == patient.id)).all()
    with pytest.raises(EnrollmentError, match="future"):
        enroll_patient(db.session, study, "SOON", actor="t", enrolled_on=local_today() + timedelta(days=2))


def test_a_session_planned_ahead_anchors_the_baseline_until_it_is_done(make_patient) -> None:
    patient = make_patient(enrolled_days_ago=2)
    planned = record_session(db.session, patient, actor="t", number=1, planned=True,
                             day=local_today() + timedelta(days=7))
    assert planned.planned
    protocol = study_protocol(patient.study)
    windows = {w.timepoint: w for w in patient_schedule(patient, protocol)}
    assert windows["T0"].due_at is not None and "S1" not in windows
    with pytest.raises(EnrollmentError, match="still planned"):
        record_session(db.session, patient, actor="t", number=2, day=local_today())
    with pytest.raises(EnrollmentError, match="today or later"):
        record_session(db.session, patient, actor="t", number=1, planned=True,
                       day=local_today() - timedelta(days=1))
    done = record_session(db.session, patient, actor="t", number=1, day=local_today())
    assert not done.planned
    assert "S1" in {w.timepoint for w in patient_schedule(patient, protocol)}


def test_staff_extend_one_patients_window_with_a_reason_and_it_is_audited(make_patient) -> None:
    patient = make_patient(enrolled_days_ago=20, sessions_days_ago=(5,))
    protocol = study_protocol(patient.study)
    assert {w.timepoint: w.state for w in patient_schedule(patient, protocol)}["T0"] == "closed"
    with pytest.raises(EnrollmentError, match="reason"):
        extend_window(db.session, patient, "T0", local_today() + timedelta(days=3), actor="t", reason=" ")
    with pytest.raises(EnrollmentError, match="no scheduled window"):
        extend_window(db.session, patient, "W99", local_today(), actor="t", reason="asked")
    extend_window(db.session, patient, "T0", local_today() + timedelta(days=3), actor="t",
                  reason="Patient forgot; answered from memory of before treatment")
    db.session.refresh(patient)
    window = {w.timepoint: w for w in patient_schedule(patient, protocol)}["T0"]
    assert window.answerable and window.extended
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "window.extend"))
    assert event.details["timepoint"] == "T0" and "forgot" in event.details["reason"]


def test_moving_a_session_date_moves_the_schedule_and_is_audited(make_patient) -> None:
    patient = make_patient(enrolled_days_ago=60)
    record_session(db.session, patient, actor="t", number=1, day=local_today() - timedelta(days=40))
    protocol = study_protocol(patient.study)
    before = {w.timepoint: w.opens_at for w in patient_schedule(patient, protocol)}
    record_session(db.session, patient, actor="t", number=1, day=local_today() - timedelta(days=30))
    after = {w.timepoint: w.opens_at for w in patient_schedule(patient, protocol)}
    assert after["W12"] - before["W12"] == timedelta(days=10)
    assert db.session.scalar(select(func.count()).select_from(TreatmentSession)) == 1
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "session.update"))
    assert event.details["old"]["date"] != event.details["new"]["date"]


def test_a_withdrawn_patient_has_nothing_to_answer(make_patient) -> None:
    patient = make_patient(sessions_days_ago=(3,))
    patient.status = "withdrawn"
    windows = patient_schedule(patient, study_protocol(patient.study))
    assert not any(w.answerable for w in windows)


def test_a_changed_protocol_is_never_served_stale(make_study) -> None:
    study = make_study()
    first = study_protocol(study)
    assert study_protocol(study) is first  # parsed once while it stays the same
    changed = copy.deepcopy(study.protocol)
    changed["timepoints"][0]["label"]["en"] = "Before your first session"
    study.protocol = changed
    assert study_protocol(study).timepoints[0].label["en"] == "Before your first session"
    study.protocol["timepoints"][0]["label"]["en"] = "Changed in place"  # not even seen by the ORM
    assert study_protocol(study).timepoints[0].label["en"] == "Changed in place"
