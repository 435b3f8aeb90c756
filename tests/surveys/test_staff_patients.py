"""Coordinators: studies from protocol files, enrollment, sessions, links and handouts, the worklist."""

from __future__ import annotations

import email
import email.policy
import io
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from surveys.domain.models import AuditEvent, Patient, PatientLink, Study, TreatmentSession
from surveys.domain.protocol import DEFAULT_PROTOCOL
from surveys.infra.db import db
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing
from tests.today import local_today

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def coordinator(client: Any, login: Any, make_user: Any, make_study: Any) -> Any:
    study = make_study("COORD")
    user = make_user("coordinator", (study,))
    login(user)
    user.study = study
    db.session.commit()  # as in real life: what exists before a request is committed
    return user


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def last_event(action: str) -> AuditEvent:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())
    return db.session.scalar(query)


# --- studies -------------------------------------------------------------------------------------

def test_a_coordinator_creates_a_study_from_the_shipped_protocol_and_joins_it(client, coordinator) -> None:
    data = {"code": "new-1", "name": "Spring cohort", "emergency_number": "112",
            "protocol_source": "default", "oncall_email": "oncall@x.test"}
    response = client.post("/studies/new", data=data)
    assert response.status_code == 302 and response.headers["Location"] == "/studies/NEW-1/timeline"
    study = db.session.scalar(select(Study).where(Study.code == "NEW-1"))
    assert study.oncall_email == "oncall@x.test" and study in coordinator.studies
    page = text(client.get("/studies/NEW-1/timeline"))
    for timepoint in ("T0", "S", "W12", "EOT", "RF6", "RF12", "M6", "M12"):
        assert f"{timepoint}:" in page
    assert "WHO-5" in page or "Well-Being" in page


def test_a_study_from_an_uploaded_protocol_file(client, coordinator) -> None:
    raw = json.loads(DEFAULT_PROTOCOL.read_text())
    raw["id"] = "custom"
    data = {"code": "UP1", "name": "Uploaded", "emergency_number": "112", "protocol_source": "upload",
            "protocol_file": (io.BytesIO(json.dumps(raw).encode()), "protocol.json")}
    response = client.post("/studies/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    assert db.session.scalar(select(Study.protocol_id).where(Study.code == "UP1")) == "custom"


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "not valid JSON (line 1, column 2"),
    (b"[1, 2]", "must hold one JSON object"),
    (b"\xff\xfe", "not UTF-8"),
    (b'{"id": "x"}', "the protocol lacks: timepoints, title, version"),
    (None, "timepoint T0: the questionnaire “nonexistent” does not exist in this installation"),
    (b"", "Choose a protocol file"),
])
def test_a_bad_protocol_file_is_refused_with_the_reason_and_nothing_is_stored(client, coordinator, content,
                                                                                 message) -> None:
    if content is None:
        raw = json.loads(DEFAULT_PROTOCOL.read_text())
        raw["timepoints"][0]["instruments"].append("nonexistent")
        content = json.dumps(raw).encode()
    upload = (io.BytesIO(content), "protocol.json") if content else (io.BytesIO(b""), "")
    data = {"code": "BAD1", "name": "Bad", "emergency_number": "112", "protocol_source": "upload",
            "protocol_file": upload}
    response = client.post("/studies/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert message in text(response)
    assert count(Study, Study.code == "BAD1") == 0


def test_a_duplicate_study_code_is_refused(client, coordinator) -> None:
    data = {"code": "COORD", "name": "Again", "emergency_number": "112", "protocol_source": "default"}
    response = client.post("/studies/new", data=data)
    assert response.status_code == 400 and "already exists" in text(response)


def test_a_clinician_cannot_create_a_study(client, login, make_user) -> None:
    login(make_user("clinician"))
    assert client.get("/studies/new").status_code == 403


# --- enrollment ----------------------------------------------------------------------------------

GOOD = {"code": "P-100", "sex": "female", "birth_year": "1985", "diagnosis": "female_pattern_hair_loss",
        "prior_treatments": "minoxidil\nPRP\n", "email": "p100@example.test", "language": "fr"}


def test_enrollment_shows_the_link_once_with_a_qr_handout_and_the_link_works(client, coordinator) -> None:
    response = client.post(f"/studies/{coordinator.study.code}/enroll", data=GOOD)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    page = text(response)
    url = re.search(r'value="(http://localhost/p/[^"]+)"', page).group(1)
    assert 'src="data:image/svg+xml;base64,' in page
    patient = db.session.scalar(select(Patient).where(Patient.code == "P-100"))
    assert (patient.sex, patient.birth_year, patient.language) == ("female", 1985, "fr")
    assert patient.prior_treatments == ["minoxidil", "PRP"]
    token = url.rsplit("/", 1)[1]
    assert token not in json.dumps([link.token_hash for link in patient.links])  # only the hash is stored
    assert client.get(f"/p/{token}").status_code == 200
    assert last_event("patient.enroll").actor == f"staff:{coordinator.id}"


@pytest.mark.parametrize(("change", "message"), [
    ({"code": "has space"}, "patient code must be"),
    ({"code": ""}, "This field is required"),
    ({"code": "x" * 40}, "Field cannot be longer than 32"),
    ({"birth_year": "1850"}, "Birth year must be between"),
    ({"birth_year": "next year"}, "Not a valid integer"),
    ({"sex": "robot"}, "Not a valid choice"),
    ({"diagnosis": "baldness"}, "Not a valid choice"),
    ({"language": "de"}, "Not a valid choice"),
    ({"email": "not-an-address"}, "e-mail address does not look valid"),
    ({"prior_treatments": "x" * 70}, "at most 64 characters"),
    ({"enrolled_on": "last week"}, "Not a valid date value"),
    ({"enrolled_on": (local_today() + timedelta(days=2)).isoformat()}, "cannot be in the future"),
])
def test_bad_enrollment_input_is_a_400_with_a_message_and_stores_nothing(client, coordinator, change,
                                                                         message) -> None:
    before = count(AuditEvent)
    response = client.post(f"/studies/{coordinator.study.code}/enroll", data={**GOOD, **change})
    assert response.status_code == 400
    assert message in text(response)
    assert count(Patient) == 0 and count(PatientLink) == 0 and count(AuditEvent) == before


def test_an_enrollment_reports_every_problem_at_once(client, coordinator) -> None:
    """The form's refusals (birth year) and the domain's (code taken, e-mail, future date) in one 400."""
    assert client.post(f"/studies/{coordinator.study.code}/enroll", data=GOOD).status_code == 201
    before = count(AuditEvent)
    response = client.post(f"/studies/{coordinator.study.code}/enroll", data={
        **GOOD, "birth_year": "abc", "email": "not-an-address",
        "enrolled_on": (local_today() + timedelta(days=2)).isoformat()})
    page = text(response)
    assert response.status_code == 400 and "Nobody was enrolled" in page
    for message in ("already enrolled", "e-mail address does not look valid", "cannot be in the future",
                    "Not a valid integer value"):
        assert message in page, message
    assert count(Patient) == 1 and count(AuditEvent) == before


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])  # UTC+14, UTC-11
def test_the_enroll_form_back_dates_a_patient_already_in_treatment_in_the_studys_local_days(
        client, coordinator, zone) -> None:
    """The form's "enrolled on" is the CLI's --enrolled-on: a local day of the study, stored as its
    start; today in the study's zone is allowed whatever the UTC date, tomorrow there is not."""
    from surveys.domain.patients import local_day_start, study_today

    study = coordinator.study
    study.timezone = zone
    db.session.commit()
    today = study_today(study)
    tomorrow = client.post(f"/studies/{study.code}/enroll",
                           data={**GOOD, "enrolled_on": (today + timedelta(days=1)).isoformat()})
    assert tomorrow.status_code == 400 and "cannot be in the future" in text(tomorrow)
    assert count(Patient) == 0
    for code, day in (("P-TODAY", today), ("P-EARLIER", today - timedelta(days=40))):
        response = client.post(f"/studies/{study.code}/enroll", data={**GOOD, "code": code,
                                                                    "enrolled_on": day.isoformat()})
        assert response.status_code == 201, text(response)[:2000]
        patient = db.session.scalar(select(Patient).where(Patient.code == code))
        assert patient.enrolled_at == local_day_start(study, day)


def test_the_enroll_form_asks_for_the_enrollment_day_in_french(client, coordinator) -> None:
    coordinator.language = "fr"
    db.session.commit()
    page = text(client.get(f"/studies/{coordinator.study.code}/enroll"))
    assert "Inclus le" in page and 'type="date"' in page
    future = (local_today() + timedelta(days=3)).isoformat()
    refused = client.post(f"/studies/{coordinator.study.code}/enroll", data={**GOOD, "enrolled_on": future})
    assert refused.status_code == 400 and "ne peut pas être dans le futur" in text(refused)


def test_a_patient_code_cannot_be_enrolled_twice(client, coordinator, make_patient) -> None:
    make_patient(coordinator.study, "P-100")
    db.session.commit()
    response = client.post(f"/studies/{coordinator.study.code}/enroll", data=GOOD)
    assert response.status_code == 400 and "already enrolled" in text(response)


# --- sessions ------------------------------------------------------------------------------------

def test_recording_a_session_moves_the_patients_schedule(client, coordinator, make_patient) -> None:
    patient = make_patient(coordinator.study, "P-1", enrolled_days_ago=20, sex="male")
    worklist = f"/studies/{coordinator.study.code}/worklist"
    assert "S1:" not in text(client.get(worklist))
    day = local_today() - timedelta(days=3)
    data = {"number": "1", "day": day.isoformat(), "agents": "dutasteride 0.01%", "notes": "<b>tolerated</b>"}
    response = client.post(f"/studies/{coordinator.study.code}/patients/P-1/sessions", data=data)
    assert response.status_code == 302
    session = db.session.scalar(select(TreatmentSession).where(TreatmentSession.patient_id == patient.id))
    assert (session.number, session.date, session.agents) == (1, day, "dutasteride 0.01%")
    assert "S1: After session 1" in text(client.get(worklist))  # 72 h after: the checklist is due
    manage = text(client.get(f"/studies/{coordinator.study.code}/patients/P-1/manage"))
    assert "&lt;b&gt;tolerated&lt;/b&gt;" in manage and "<b>tolerated" not in manage
    event = last_event("session.create")
    assert event.details["new"] == {"date": day.isoformat(), "agents": "dutasteride 0.01%", "planned": False}


def test_enrolled_and_treated_today_the_baseline_stays_open_and_staff_are_warned(client, coordinator,
                                                                                make_patient) -> None:
    patient = make_patient(coordinator.study, "P-1", enrolled_days_ago=0)
    db.session.commit()
    response = client.post(f"/studies/{coordinator.study.code}/patients/P-1/sessions",
                           data={"number": "1", "day": local_today().isoformat()}, follow_redirects=True)
    page = text(response)
    assert "has not answered the baseline" in page and "Answer in clinic" in page
    home = text(client.get(f"/p/{patient.token}"))
    assert "Before treatment" in home
    assert client.get(f"/p/{patient.token}/q/T0/who5", follow_redirects=True).status_code == 200


def test_a_planned_session_can_be_recorded_ahead_and_is_shown_as_planned(client, coordinator,
                                                                        make_patient) -> None:
    make_patient(coordinator.study, "P-1", enrolled_days_ago=1)
    day = local_today() + timedelta(days=10)
    response = client.post(f"/studies/{coordinator.study.code}/patients/P-1/sessions",
                           data={"number": "1", "day": day.isoformat(), "planned": "y"})
    assert response.status_code == 302
    manage = text(client.get(f"/studies/{coordinator.study.code}/patients/P-1/manage"))
    from babel.dates import format_date

    assert "planned" in manage and format_date(day, "medium", locale="en") in manage  # the study's local day
    assert last_event("session.create").details["new"]["planned"] is True


def test_staff_reopen_a_missed_baseline_with_a_reason(client, coordinator, make_patient) -> None:
    patient = make_patient(coordinator.study, "P-1", enrolled_days_ago=20, sessions_days_ago=(4,))
    db.session.commit()
    url = f"/studies/{coordinator.study.code}/patients/P-1/windows/extend"
    until = local_today() + timedelta(days=2)
    refused = client.post(url, data={"timepoint": "T0", "closes_on": until.isoformat(), "reason": ""})
    assert refused.status_code == 400 and "Give a reason" in text(refused)
    assert client.get(f"/p/{patient.token}/q/T0/who5").status_code in (302, 303, 404, 410)
    response = client.post(url, data={"timepoint": "T0", "closes_on": until.isoformat(),
                                      "reason": "Phone was broken"})
    assert response.status_code == 302
    assert last_event("window.extend").details["reason"] == "Phone was broken"
    manage = text(client.get(f"/studies/{coordinator.study.code}/patients/P-1/manage"))
    assert "extended" in manage
    assert client.get(f"/p/{patient.token}/q/T0/who5", follow_redirects=True).status_code == 200


def test_correcting_a_session_date_records_old_and_new_values(client, coordinator, make_patient) -> None:
    make_patient(coordinator.study, "P-1", sessions_days_ago=(10,))
    day = local_today() - timedelta(days=8)
    response = client.post(f"/studies/{coordinator.study.code}/patients/P-1/sessions",
                           data={"number": "1", "day": day.isoformat()})
    assert response.status_code == 302
    event = last_event("session.update")
    assert event.details["old"]["date"] == (local_today() - timedelta(days=10)).isoformat()
    assert event.details["new"]["date"] == day.isoformat()


@pytest.mark.parametrize(("data", "message"), [
    ({"number": "1", "day": (local_today() + timedelta(days=1)).isoformat()}, "cannot be in the future"),
    ({"number": "3", "day": local_today().isoformat()}, "Record session 2 before session 3"),
    ({"number": "2", "day": (local_today() - timedelta(days=1)).isoformat(), "planned": "y"},
     "today or later"),
    ({"number": "0", "day": local_today().isoformat()}, "Number must be between 1 and 100"),
    ({"number": "1", "day": "31/02/2026"}, "Not a valid date value"),
    ({"number": "", "day": local_today().isoformat()}, "This field is required"),
    ({"number": "2", "day": (local_today() - timedelta(days=12)).isoformat()}, "must follow the session"),
])
def test_bad_session_input_is_a_400_with_a_message_and_stores_nothing(client, coordinator, make_patient, data,
                                                                      message) -> None:
    patient = make_patient(coordinator.study, "P-1", sessions_days_ago=(10,))
    db.session.commit()
    before = count(AuditEvent)
    response = client.post(f"/studies/{coordinator.study.code}/patients/P-1/sessions", data=data)
    assert response.status_code == 400
    assert message in text(response)
    assert count(TreatmentSession, TreatmentSession.patient_id == patient.id) == 1
    assert count(AuditEvent) == before


def test_patient_details_changes_are_audited_with_old_and_new_values(client, coordinator,
                                                                      make_patient) -> None:
    patient = make_patient(coordinator.study, "P-1")
    response = client.post(f"/studies/{coordinator.study.code}/patients/P-1/manage",
                           data={"email": "new@example.test", "language": "fr", "status": "withdrawn"})
    assert response.status_code == 302
    # The status is not a detail: withdrawal has its own form, with a date and a reason.
    assert (patient.email, patient.language, patient.status) == ("new@example.test", "fr", "active")
    event = last_event("patient.update")
    assert event.details["old"] == {"language": "en"} and event.details["new"] == {"language": "fr"}
    assert event.details["email"] == "added" and "new@example.test" not in str(event.details)  # erasable


def test_a_bad_e_mail_in_the_details_changes_nothing(client, coordinator, make_patient) -> None:
    patient = make_patient(coordinator.study, "P-1")
    db.session.commit()
    response = client.post(f"/studies/{coordinator.study.code}/patients/P-1/manage",
                           data={"email": "nope", "language": "fr", "status": "active"})
    assert response.status_code == 400 and "does not look valid" in text(response)
    assert patient.language == "en"


# --- links ---------------------------------------------------------------------------------------

def test_reissuing_a_link_kills_the_old_one(client, coordinator, make_patient) -> None:
    patient = make_patient(coordinator.study, "P-1")
    response = client.post(f"/studies/{coordinator.study.code}/patients/P-1/link")
    assert response.status_code == 201
    new = re.search(r'value="http://localhost/p/([^"]+)"', text(response)).group(1)
    assert client.get(f"/p/{patient.token}").status_code in (403, 404, 410)
    assert client.get(f"/p/{new}").status_code == 200
    assert last_event("link.issue").entity_id == str(patient.id)


def test_revoking_a_link_closes_it(client, coordinator, make_patient) -> None:
    patient = make_patient(coordinator.study, "P-1")
    assert client.post(f"/studies/{coordinator.study.code}/patients/P-1/link/revoke").status_code == 302
    assert client.get(f"/p/{patient.token}").status_code in (403, 404, 410)
    assert "revoked" in text(client.get(f"/studies/{coordinator.study.code}/patients/P-1/link"))


def test_a_new_link_can_be_e_mailed_from_the_worklist(client, coordinator, make_patient, tmp_path) -> None:
    make_patient(coordinator.study, "P-1", email="p1@example.test", language="fr")
    url = f"/studies/{coordinator.study.code}/patients/P-1/link/email"
    response = client.post(url, data={"back": "worklist"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/worklist")
    mails = list((tmp_path / "outbox").glob("*.eml"))
    assert len(mails) == 1
    mail = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    body = mail.get_content()
    assert mail["To"] == "p1@example.test"
    assert "Votre lien personnel" in body and "http://localhost/p/" in body


def test_an_e_mailed_link_expires_and_the_qr_code_still_works(client, coordinator, make_patient, tmp_path,
                                                               monkeypatch) -> None:
    from datetime import UTC, datetime

    from surveys.domain import links

    patient = make_patient(coordinator.study, "P-1", email="p1@example.test")
    client.post(f"/studies/{coordinator.study.code}/patients/P-1/link/email")
    [mail] = list((tmp_path / "outbox").glob("*.eml"))
    body = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default).get_content()
    mailed = re.search(r"http://localhost/p/(\S+)", body).group(1)
    assert "QR code" in body and "14" in body
    assert client.get(f"/p/{mailed}").status_code == 200
    assert client.get(f"/p/{patient.token}").status_code == 200  # both work side by side
    page = text(client.get(f"/studies/{coordinator.study.code}/patients/P-1/link"))
    assert "e-mailed" in page and "printed QR code" in page
    monkeypatch.setattr(links, "utcnow", lambda: datetime.now(UTC) + timedelta(days=15))
    assert client.get(f"/p/{mailed}").status_code == 410
    assert client.get(f"/p/{patient.token}").status_code == 200


def test_one_link_is_revoked_on_its_own(client, coordinator, make_patient) -> None:
    patient = make_patient(coordinator.study, "P-1", email="p1@example.test")
    client.post(f"/studies/{coordinator.study.code}/patients/P-1/link/email")
    mailed = db.session.scalar(select(PatientLink).where(PatientLink.patient_id == patient.id,
                                                         PatientLink.kind == "email"))
    other = make_patient(coordinator.study, "P-2")
    theirs = db.session.scalar(select(PatientLink.id).where(PatientLink.patient_id == other.id))
    base = f"/studies/{coordinator.study.code}/patients/P-1/link"
    assert client.post(f"{base}/{theirs}/revoke").status_code == 302  # not P-1's: nothing happens
    assert client.get(f"/p/{other.token}").status_code == 200
    assert client.post(f"{base}/{mailed.id}/revoke").status_code == 302
    db.session.refresh(mailed)
    assert mailed.revoked_at is not None
    assert client.get(f"/p/{patient.token}").status_code == 200  # the printed one keeps working
    assert last_event("link.revoke").details["link"] == mailed.id


def test_the_handout_prints_a_short_code_that_opens_the_questionnaires(client, coordinator) -> None:
    response = client.post(f"/studies/{coordinator.study.code}/enroll", data=GOOD)
    page = text(response)
    code = re.search(r'class="short-code"><strong>([A-Z0-9-]+)</strong>', page).group(1)
    assert len(code.replace("-", "")) == 10 and not set(code) & set("0O1IL5S2Z8B")
    assert "http://localhost/code" in page
    typed = code.lower().replace("-", " ")
    opened = client.post("/code", data={"code": typed})
    assert opened.status_code == 303
    assert client.get(opened.headers["Location"]).status_code == 200
    wrong = client.post("/code", data={"code": "AAAA-AAAA-AA"})
    assert wrong.status_code == 400 and 'id="code-error"' in text(wrong)  # (in the patient's language)
    reprinted = client.post(f"/studies/{coordinator.study.code}/patients/P-100/link")
    assert client.post("/code", data={"code": typed}).status_code == 400  # the old sheet's code is dead
    new_code = re.search(r'class="short-code"><strong>([A-Z0-9-]+)</strong>', text(reprinted)).group(1)
    assert client.post("/code", data={"code": new_code}).status_code == 303


def test_e_mailing_a_link_to_a_patient_without_e_mail_changes_nothing(client, coordinator,
                                                                       make_patient) -> None:
    patient = make_patient(coordinator.study, "P-1")
    client.post(f"/studies/{coordinator.study.code}/patients/P-1/link/email")
    assert client.get(f"/p/{patient.token}").status_code == 200


def test_no_get_route_changes_a_link(client, coordinator, make_patient) -> None:
    patient = make_patient(coordinator.study, "P-1")
    for path in ("link", "link/revoke", "link/email", "sessions"):
        client.get(f"/studies/{coordinator.study.code}/patients/P-1/{path}")
    assert count(PatientLink, PatientLink.patient_id == patient.id, PatientLink.revoked_at.is_(None)) == 1


# --- worklist and lists --------------------------------------------------------------------------

def test_the_worklist_shows_who_is_overdue_due_or_missed(client, coordinator, make_patient) -> None:
    make_patient(coordinator.study, "OVERDUE", enrolled_days_ago=20, sessions_days_ago=(6,))
    make_patient(coordinator.study, "DUE", enrolled_days_ago=20, sessions_days_ago=(3,))
    make_patient(coordinator.study, "MISSED", enrolled_days_ago=60, sessions_days_ago=(40,))
    page = text(client.get(f"/studies/{coordinator.study.code}/worklist?timepoint=S"))
    row = re.compile(r'<th scope="row">(?:<a[^>]*>)?([A-Z]+)(?:</a>)?</th>\s*'
                     r'<td>[^<]*</td>\s*<td><span class="state state-(\w+)"')
    rows = {m.group(1): m.group(2) for m in row.finditer(page)}
    assert rows == {"OVERDUE": "overdue", "DUE": "due"}
    missed = text(client.get(f"/studies/{coordinator.study.code}/worklist?state=missed&timepoint=S"))
    assert "MISSED" in missed and "OVERDUE" not in missed
    assert "cannot be copied" in page  # the honest explanation of the link buttons


def test_the_patient_list_and_the_audit_trail_show_the_study_only(client, coordinator, make_patient,
                                                                   make_study) -> None:
    make_patient(coordinator.study, "MINE")
    make_patient(make_study("OTHER"), "THEIRS")
    patients = text(client.get(f"/studies/{coordinator.study.code}/patients"))
    assert "MINE" in patients and "THEIRS" not in patients
    trail = text(client.get(f"/studies/{coordinator.study.code}/audit"))
    assert "patient.enroll" in trail and "THEIRS" not in trail and "MINE" in trail


def test_the_audit_trail_is_paginated(client, coordinator) -> None:
    from surveys.domain.audit import record

    for i in range(120):
        record(db.session, "test", "note", study_id=coordinator.study.id, details={"i": i})
    first = text(client.get(f"/studies/{coordinator.study.code}/audit"))
    assert "Page 1 of 3" in first and '"i": 119' in first
    third = text(client.get(f"/studies/{coordinator.study.code}/audit?page=3"))
    assert "Page 3 of 3" in third and '"i": 0}' in third


def test_the_patient_list_comes_a_hundred_at_a_time_with_a_search_by_code(
    client: Any, coordinator: Any, make_patient: Any
) -> None:
    study = coordinator.study
    for n in range(1, 131):
        make_patient(study, f"P-{n:03d}")
    make_patient(study, "ZED_1")  # sorts after the P- codes
    db.session.commit()
    url = f"/studies/{study.code}/patients"
    first = text(client.get(url))
    assert "P-001" in first and "P-100" in first and "P-101" not in first
    assert "Patients 1–100 of 131" in first and 'rel="next"' in first
    second = text(client.get(url, query_string={"page": 2}))
    assert "P-101" in second and "P-130" in second and "P-001" not in second
    assert "Page 2 of 2" in second and 'rel="prev"' in second
    for bad in ("0", "-1", "abc", "99999999999999999999", "3"):
        page = client.get(url, query_string={"page": bad})
        assert page.status_code == 200, bad
    found = text(client.get(url, query_string={"q": "p-12"}))
    assert "P-120" in found and "P-129" in found and "P-119" not in found and "of 10" in found
    # LIKE wildcards in the search are literal characters, not patterns ("_1" would match P-1xx).
    literal = text(client.get(url, query_string={"q": "_1"}))
    assert "ZED_1" in literal and "Patients 1–1 of 1" in literal
    assert "No patient found." in text(client.get(url, query_string={"q": "%"}))


def test_the_audit_trail_names_records_by_their_codes_in_one_query(client, coordinator, make_patient,
                                                                    app) -> None:
    """An erased patient's id read like another patient's code ("patient 34" for DEMO-00031)."""
    from sqlalchemy import event as sa_event

    from surveys.domain.alert_models import Alert
    from surveys.domain.audit import record
    from surveys.domain.erasure import erase_patient
    from surveys.domain.models import Response
    from surveys.domain.responses import start_response
    from surveys.infra.library import instruments

    study = coordinator.study
    kept, erased = make_patient(study, "KEPT-1"), make_patient(study, "GONE-1")
    response = start_response(db.session, kept, "T0", instruments()["who5"], "en")
    db.session.add(alert := Alert(study_id=study.id, patient_id=kept.id, response_id=response.id, level=1))
    db.session.flush()
    record(db.session, "test", "alert.resolve", entity="alert", entity_id=alert.id, study_id=study.id)
    record(db.session, "test", "response.paper_entry", entity="response", entity_id=response.id,
           study_id=study.id)
    record(db.session, "test", "study.settings", entity="study", entity_id=study.id, study_id=study.id)
    record(db.session, "test", "user.language", entity="staff_user", entity_id=coordinator.id,
           study_id=study.id)
    erase_patient(db.session, erased, reason="other", actor="test")
    db.session.commit()
    assert db.session.get(Response, response.id) is not None

    statements: list[str] = []
    engine = db.engines[None] if hasattr(db, "engines") else db.engine

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        page = text(client.get(f"/studies/{study.code}/audit"))
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    rows = [re.findall(r"<td>(.*?)</td>", r, re.S) for r in re.findall(r"<tr>(.*?)</tr>", page, re.S)]
    record_of = {}  # action code -> the Record column
    for cells in rows:
        if len(cells) == 6:
            record_of.setdefault(re.search(r"<code>([a-z_.]+)</code>", cells[3]).group(1), cells[4])
    assert record_of["patient.erase"] == "GONE-1"
    assert record_of["patient.enroll"] in ("KEPT-1", "GONE-1")
    assert record_of["alert.resolve"] == "alert of KEPT-1"
    assert record_of["response.paper_entry"] == "answers of KEPT-1"
    assert record_of["study.settings"] == study.code
    assert record_of["user.language"] == coordinator.email
    before = len(statements)

    for n in range(10):  # ten more patients on the page: no more queries
        make_patient(study, f"MORE-{n}")
    db.session.commit()
    statements.clear()
    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        client.get(f"/studies/{study.code}/audit")
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == before


def test_the_worklist_filter_names_the_per_session_timepoint_for_every_session(client, coordinator) -> None:
    """The filter offered 'S: After session 1' for the windows of every session."""
    page = client.get(f"/studies/{coordinator.study.code}/worklist").get_data(as_text=True)
    option = re.search(r'<option value="S"[^>]*>([^<]*)</option>', page)
    assert option is not None and option.group(1) == "S: After session n"
