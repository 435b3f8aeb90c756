"""A data subject's rights: access (one zip with everything held about them, nothing of anyone else)
and erasure (nothing left but a tombstone and an audit entry; every export still validates)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from babel.dates import format_date
from fhir.resources.R4B.bundle import Bundle
from frictionless import Package
from sqlalchemy import JSON, String, Text, select

from surveys.domain.alerts import record_contact_attempt, resolve_alert
from surveys.domain.models import AuditEvent, Patient, ReminderSent, Response
from surveys.infra.db import Base, db
from tests.conftest import TEST_PASSWORD
from tests.reports.test_exports import answer, read_csv
from tests.surveys.staff_world import alert_of, submit_pirc
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing
from tests.surveys.test_staff_sessions import age_sessions
from tests.today import local_today

pytestmark = pytest.mark.usefixtures("fast_password_hashing")
SECRET_TEXT = "only-the-subject-wrote-this"
OTHER_TEXT = "another-patient-wrote-this"
EMAIL = "subject@private.test"


@pytest.fixture
def world(make_study: Any, make_patient: Any, make_user: Any) -> Any:
    study = make_study("RIGHTS")
    subject = make_patient(study, "S-1", sessions_days_ago=(20, 2), email=EMAIL, sex="female",
                           birth_year=1981, diagnosis="alopecia_areata", prior_treatments=["ketoconazole"],
                           language="fr")
    other = make_patient(study, "O-1", sessions_days_ago=(20,), email="other@private.test")
    answer(subject, "T0", "who5", {f"who5_{i}": 4 for i in range(1, 6)}, lang="fr", submitted_days_ago=21)
    answer(other, "T0", "who5", {f"who5_{i}": 1 for i in range(1, 6)}, submitted_days_ago=21)
    subject.sessions[0].notes = "session note about the subject"
    alert = alert_of(submit_pirc(subject, {"rf_fever": 1, "other": SECRET_TEXT}, number=2))
    submit_pirc(other, {"rf_fever": 1, "other": OTHER_TEXT})
    admin = make_user("admin", (study,))
    record_contact_attempt(db.session, alert, admin, channel="phone", result="reached",
                           note="Called the subject back")
    resolve_alert(db.session, alert, admin, outcome="advice_given", note="Advice given on the phone",
                  ctcae_grade=1, relatedness="possible", serious=False)
    db.session.add(ReminderSent(patient_id=subject.id, timepoint="S2", kind="open"))
    db.session.commit()
    return study, subject, other, admin


def valid_package(client: Any, tmp_path: Path, deidentified: str) -> Path:
    """The study's data package, unzipped into a folder of its own, after frictionless validated it."""
    data = client.get("/studies/RIGHTS/exports/datapackage", query_string={"deidentified": deidentified}).data
    folder = tmp_path / f"package{deidentified}"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(folder)
    report = Package(str(folder / "datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    return folder


def _zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_access_archive_holds_every_answer_of_the_patient_and_nothing_of_another(
    client, login, world
) -> None:
    _study, subject, _other, admin = world
    login(admin)
    response = client.get("/studies/RIGHTS/patients/S-1/access.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    files = _zip(response.data)
    assert set(files) == {"summary.html", "answers.csv", "scores.csv", "questionnaire_responses.fhir.json"}
    everything = b"".join(files.values()).decode()
    assert "O-1" not in everything and OTHER_TEXT not in everything and "other@private.test" not in everything

    stored = {(r.timepoint, r.instrument_id, a.item_id, a.code, a.text)
              for r in db.session.scalars(select(Response).where(Response.patient_id == subject.id))
              for a in r.answers}
    answers = read_csv(files["answers.csv"], dtype={"instrument_version": str, "code": "Int64"})
    exported = {(row.timepoint, row.instrument, row.item, None if row.code is None or str(row.code) == "<NA>"
                 else int(row.code), row.text if isinstance(row.text, str) else None)
                for row in answers.itertuples()}
    assert exported == stored and len(stored) == 7
    assert set(answers["patient"]) == {"S-1"}

    bundle = json.loads(files["questionnaire_responses.fhir.json"])
    Bundle.model_validate(bundle)
    responses = [e["resource"] for e in bundle["entry"]
                 if e["resource"]["resourceType"] == "QuestionnaireResponse"]
    assert len(responses) == 2 and {r["subject"]["identifier"]["value"] for r in responses} == {"S-1"}

    summary = files["summary.html"].decode()
    for fact in ("S-1", EMAIL, SECRET_TEXT, "session note about the subject", "Called the subject back",
                 "ketoconazole", '<html lang="fr">'):
        assert fact in summary, fact
    assert "UTC" not in summary  # the patient reads the study's local times, zone named (issue 17)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.access"))
    assert event.details["patient"] == "S-1" and event.details["via"] == "web"


def test_only_admins_download_a_patient_access_archive(client, login, make_user, world) -> None:
    study = world[0]
    coordinator = make_user("coordinator", (study,))
    db.session.commit()
    login(coordinator)
    assert client.get("/studies/RIGHTS/patients/S-1/access.zip").status_code == 403
    assert client.get("/studies/RIGHTS/patients/S-1/erase").status_code == 403


def test_the_access_archive_needs_a_recent_proof_of_identity(client, login, world) -> None:
    admin = world[3]
    login(admin)
    age_sessions(admin, authenticated_at=timedelta(minutes=6))
    response = client.get("/studies/RIGHTS/patients/S-1/access.zip")
    assert response.status_code == 302
    assert "/account/confirm?next=/studies/RIGHTS/patients/S-1/access.zip" in response.headers["Location"]
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.access")) is None
    client.post("/account/confirm", data={"password": TEST_PASSWORD})
    response = client.get("/studies/RIGHTS/patients/S-1/access.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"


def test_the_access_command_writes_the_zip_for_the_owner_only(runner, world, tmp_path: Path) -> None:
    out = tmp_path / "s1.zip"
    result = runner.invoke(args=["patients", "access", "RIGHTS", "S-1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o077 == 0
    files = _zip(out.read_bytes())
    assert SECRET_TEXT.encode() in files["summary.html"] and b"O-1" not in files["answers.csv"]
    assert runner.invoke(args=["patients", "access", "RIGHTS", "NOPE", "--out", str(out)]).exit_code != 0


def _rows_mentioning(needles: tuple[str, ...]) -> list[tuple[str, str]]:
    """(table, column) of every stored text cell, in every table, that holds one of the needles."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.type, (String, Text, JSON)):
                continue
            for value in db.session.execute(select(column)).scalars():
                text = json.dumps(value) if not isinstance(value, str) else value
                if any(needle in (text or "") for needle in needles):
                    found.append((table.name, column.name))
    return found


def test_after_erasure_no_table_holds_the_patients_answers_or_contact_details(
    client, login, world, tmp_path: Path
) -> None:
    _study, subject, other, admin = world
    login(admin)
    assert client.get("/studies/RIGHTS/patients/S-1/erase").status_code == 200
    form = {"reason": "data_subject_request", "confirm_code": "S-1", "password": "wrong password"}
    assert client.post("/studies/RIGHTS/patients/S-1/erase", data=form).status_code == 401
    assert client.post("/studies/RIGHTS/patients/S-1/erase",
                       data={**form, "password": TEST_PASSWORD, "confirm_code": "S-2"}).status_code == 400
    assert db.session.scalar(select(Patient.status).where(Patient.id == subject.id)) == "active"
    other_before = {(r.id, len(r.answers)) for r in db.session.scalars(
        select(Response).where(Response.patient_id == other.id))}

    response = client.post("/studies/RIGHTS/patients/S-1/erase", data={**form, "password": TEST_PASSWORD})
    assert response.status_code == 303
    db.session.expire_all()
    for table in Base.metadata.sorted_tables:
        if "patient_id" in table.columns:
            left = db.session.execute(select(table).where(table.c.patient_id == subject.id)).all()
            assert left == [], table.name
    assert _rows_mentioning((EMAIL, SECRET_TEXT, "session note about the subject",
                             "Called the subject back", "ketoconazole")) == []
    tombstone = db.session.get(Patient, subject.id)
    assert (tombstone.code, tombstone.status, tombstone.erasure_reason, tombstone.email, tombstone.sex,
            tombstone.birth_year, tombstone.diagnosis, tombstone.prior_treatments) == (
        "S-1", "erased", "data_subject_request", None, None, None, None, [])
    assert tombstone.status_on == local_today()  # the erasure date, a local day of the study
    assert tombstone.enrolled_at is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.erase"))
    assert event.details["patient"] == "S-1" and event.details["deleted"]["answer"] == 7
    assert {(r.id, len(r.answers)) for r in db.session.scalars(
        select(Response).where(Response.patient_id == other.id))} == other_before

    # Exports and dashboards afterwards: the patient is erased, never half there; every format validates.
    for deidentified in ("0", "1"):
        folder = valid_package(client, tmp_path, deidentified)
        assert "S-1" not in (folder / "long.csv").read_text() + (folder / "wide.csv").read_text()
    Bundle.model_validate(json.loads(client.get("/studies/RIGHTS/exports/fhir").data))
    dashboard = client.get("/studies/RIGHTS/dashboard")
    assert dashboard.status_code == 200
    manage = client.get("/studies/RIGHTS/patients/S-1/manage").get_data(as_text=True)
    assert "erased" in manage and EMAIL not in manage
    # A tombstone takes no new data.
    assert client.post("/studies/RIGHTS/patients/S-1/sessions",
                       data={"number": 1, "day": "2026-01-01"}).status_code == 409
    assert client.post("/studies/RIGHTS/patients/S-1/erase",
                       data={**form, "password": TEST_PASSWORD}).status_code == 409


def test_the_erase_command_needs_yes_and_erases(runner, world) -> None:
    _study, subject, _other, _admin = world
    refused = runner.invoke(args=["patients", "erase", "RIGHTS", "S-1"])
    assert refused.exit_code != 0 and "--yes" in refused.output
    assert db.session.scalar(select(Patient.status).where(Patient.id == subject.id)) == "active"
    done = runner.invoke(args=["patients", "erase", "RIGHTS", "S-1", "--yes", "--reason",
                               "enrolled_in_error"])
    assert done.exit_code == 0, done.output
    db.session.expire_all()
    assert db.session.scalar(select(Response.id).where(Response.patient_id == subject.id)) is None
    again = runner.invoke(args=["patients", "erase", "RIGHTS", "S-1", "--yes"])
    assert again.exit_code != 0 and "already erased" in again.output


def test_the_erase_and_access_commands_refuse_an_account_that_is_not_an_admin(
    runner, make_user, world, tmp_path: Path
) -> None:
    study, subject, _other, admin = world
    coordinator = make_user("coordinator", (study,), email="coordinator@rights.test")
    db.session.commit()
    refused = runner.invoke(args=["patients", "erase", "RIGHTS", "S-1", "--yes", "--as", coordinator.email])
    assert refused.exit_code == 1 and "administrator" in refused.output
    db.session.expire_all()
    assert db.session.scalar(select(Patient.status).where(Patient.id == subject.id)) == "active"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.erase")) is None
    out = tmp_path / "s1.zip"
    refused = runner.invoke(args=["patients", "access", "RIGHTS", "S-1", "--out", str(out),
                                  "--as", coordinator.email])
    assert refused.exit_code == 1 and "administrator" in refused.output and not out.exists()
    done = runner.invoke(args=["patients", "erase", "RIGHTS", "S-1", "--yes", "--as", admin.email])
    assert done.exit_code == 0, done.output
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.erase"))
    assert event.actor == f"staff:{admin.id}"


@pytest.mark.parametrize(("withdrawal", "expected"), [
    ("consent_withdrawn_discard_data", "consent_withdrawn"),
    ("consent_withdrawn_keep_data", "data_subject_request"),
    (None, "data_subject_request"),
])
def test_the_erase_command_defaults_to_the_reason_the_erasure_form_suggests(
    runner, world, withdrawal: str | None, expected: str
) -> None:
    _study, subject, _other, _admin = world
    if withdrawal is not None:
        withdrawn = runner.invoke(args=["patients", "withdraw", "RIGHTS", "S-1", "--on",
                                        local_today().isoformat(), "--reason", withdrawal])
        assert withdrawn.exit_code == 0, withdrawn.output
    done = runner.invoke(args=["patients", "erase", "RIGHTS", "S-1", "--yes"])
    assert done.exit_code == 0, done.output
    db.session.expire_all()
    assert db.session.get(Patient, subject.id).erasure_reason == expected


def test_the_tombstone_carries_its_erasure_reason_in_patients_csv_the_codebook_and_every_page(
    client, login, runner, world, tmp_path: Path
) -> None:
    admin = world[3]
    done = runner.invoke(args=["patients", "erase", "RIGHTS", "S-1", "--yes", "--reason",
                               "enrolled_in_error"])
    assert done.exit_code == 0, done.output
    login(admin)
    for deidentified in ("0", "1"):
        folder = valid_package(client, tmp_path, deidentified)
        patients = read_csv((folder / "patients.csv").read_bytes())
        erased = patients[patients["participation"] == "erased"].iloc[0]
        assert erased["erasure_reason"] == "enrolled_in_error" and pd.isna(erased["withdrawal_reason"])
        assert patients[patients["participation"] != "erased"]["erasure_reason"].isna().all()
        codebook = read_csv((folder / "codebook.csv").read_bytes())
        row = codebook[(codebook["file"] == "patients.csv") & (codebook["variable"] == "erasure_reason")]
        assert len(row) == 1
        codes = {pair.split("=")[0] for pair in row.iloc[0]["codes"].split(" | ")}
        assert codes == {"data_subject_request", "consent_withdrawn", "enrolled_in_error", "other"}
    manage = client.get("/studies/RIGHTS/patients/S-1/manage").get_data(as_text=True)
    assert "Enrolled in error" in manage
    assert "Enrolled in error" in client.get("/studies/RIGHTS/patients").get_data(as_text=True)
    assert "Enrolled in error" in client.get("/studies/RIGHTS/patients/S-1/erase").get_data(as_text=True)
    assert "Enrolled in error" in client.get("/studies/RIGHTS/patients/S-1").get_data(as_text=True)
    summary = _zip(client.get("/studies/RIGHTS/patients/S-1/access.zip").data)["summary.html"].decode()
    assert "Inclus par erreur" in summary  # the patient's language (French)


def test_the_access_summary_gives_the_local_day_of_enrollment(runner, make_study, make_patient,
                                                              tmp_path: Path) -> None:
    study = make_study("KIRI", timezone="Pacific/Kiritimati")  # UTC+14: noon UTC is the next local day
    patient = make_patient(study, "K-1")
    utc_day = local_today() - timedelta(days=5)
    patient.enrolled_at = datetime.combine(utc_day, time(12), UTC)
    db.session.commit()
    out = tmp_path / "k1.zip"
    assert runner.invoke(args=["patients", "access", "KIRI", "K-1", "--out", str(out)]).exit_code == 0
    summary = _zip(out.read_bytes())["summary.html"].decode()
    row = summary.split("Enrolled on")[1].split("</tr>")[0]
    assert format_date(utc_day + timedelta(days=1), "medium", locale="en") in row, row


def test_a_french_access_summary_reads_in_french_throughout(client, login, world, make_patient) -> None:
    """Raw codes (withdrawn, male, fr, total_10_40, patient.enroll), ISO dates and a masculine
    'Aucun.' for alerts reached French data subjects."""
    import html
    import re

    from reports.exports.access import summary_html
    from surveys.infra.library import instruments

    study, subject, _other, admin = world
    subject.status, subject.status_on = "withdrawn", local_today()
    subject.withdrawal_reason = "lost_to_follow_up"
    quiet_one = make_patient(study, "Q-1", language="fr", sex="male")
    answer(subject, "T0", "rses", {f"rses_{i}": 2 for i in range(1, 11)}, lang="fr", submitted_days_ago=21)
    db.session.commit()
    login(admin)
    summary = _zip(client.get("/studies/RIGHTS/patients/S-1/access.zip").data)["summary.html"].decode()
    text = html.unescape(re.sub(r"<[^>]+>", " ", summary))
    for english in ("withdrawn", "lost to follow up", "female", "alopecia", "Score:", "total_10_40",
                    "percent", "not low", "not_low", "patient.enroll", "patient.view", "staff member"):
        assert english not in text, english
    assert not re.search(r"\b\d{4}-\d\d-\d\d\b", text)  # dates as the French read them, not ISO
    assert "rf_fever" not in text  # the alert's reason, as the patient was asked it:
    assert "avez-vous eu de la fièvre (38 °C ou plus)" in text
    reminder = next(line for line in text.splitlines() if "E-mail de rappel" in line)
    assert "open" not in reminder and "questionnaire ouvert" in reminder and "Après la séance 2" in reminder
    for french in ("sorti de l'étude", "Perdu de vue", "Femme", "Pelade", "français",
                   "Bien-être WHO-5 (0 à 100)", "Estime de soi (10 à 40)", "Inclusion dans l'étude"):
        assert french in text, french
    quiet = html.unescape(re.sub(r"<[^>]+>", " ", summary_html(db.session, quiet_one, instruments())))
    assert "Homme" in quiet and "Aucune alerte" in quiet and "Aucun." not in quiet


def test_an_erased_patients_pages_show_the_tombstone_and_no_links_that_cannot_work(
    client, login, runner, world
) -> None:
    study, _subject, _other, admin = world
    study.consent_required = True
    db.session.commit()
    done = runner.invoke(args=["patients", "erase", "RIGHTS", "S-1", "--yes", "--reason",
                               "enrolled_in_error"])
    assert done.exit_code == 0, done.output
    login(admin)
    listing = client.get("/studies/RIGHTS/patients").get_data(as_text=True)
    row = next(part for part in listing.split("<tr>") if ">S-1<" in part)
    assert "href" not in row and "Enrolled in error" in row
    assert format_date(local_today(), "medium", locale="en") in row
    assert 'href="/studies/RIGHTS/patients/O-1/manage"' in listing  # the others keep theirs
    manage = client.get("/studies/RIGHTS/patients/S-1/manage")
    page = manage.get_data(as_text=True)
    assert manage.status_code == 200 and "Enrolled in error" in page
    for noise in ("No consent for the current required version", "No pre-session pregnancy check",
                  "Answer in clinic", "Hair-loss stage", "Treatment sessions"):
        assert noise not in page, noise


@pytest.mark.parametrize(("withdrawal", "preselected"), [
    (None, None), ("consent_withdrawn_discard_data", "consent_withdrawn")])
def test_the_erasure_form_preselects_a_reason_only_when_the_withdrawal_implies_one(
    client, login, runner, world, withdrawal: str | None, preselected: str | None
) -> None:
    """An ordinary patient's reason is the administrator's deliberate choice (README, docs/ERASURE.md)."""
    if withdrawal is not None:
        assert runner.invoke(args=["patients", "withdraw", "RIGHTS", "S-1", "--on", local_today().isoformat(),
                                   "--reason", withdrawal]).exit_code == 0
    login(world[3])
    page = client.get("/studies/RIGHTS/patients/S-1/erase").get_data(as_text=True)
    selected = [value for value in ("data_subject_request", "consent_withdrawn", "enrolled_in_error", "other")
                if f'value="{value}" selected' in page or f'selected value="{value}"' in page]
    assert selected == ([preselected] if preselected else [])
