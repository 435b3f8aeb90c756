"""Consent (issue 16): a study's consent texts by version, consent recorded at enrollment (page and
CLI), the gate that keeps questionnaires closed without it (patient pages, tablet, paper and
interview entry), the patient's own acceptance on their phone, re-consent, and the exports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from babel.dates import format_date
from sqlalchemy import func, select

from surveys.domain import consent
from surveys.domain.models import AuditEvent, ConsentRecord, Patient, Response
from surveys.domain.patients import study_today
from surveys.infra.db import db
from tests.conftest import statements_run
from tests.reports.test_exports import download, read_csv
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing
from tests.today import local_today

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

TEXT_EN = "You agree to answer questionnaires about your treatment.\n\nYou may stop at any time."
TEXT_FR = "Vous acceptez de répondre à des questionnaires sur votre traitement."


@pytest.fixture
def coordinator(client: Any, login: Any, make_user: Any, make_study: Any) -> Any:
    study = make_study("CONS")
    user = make_user("coordinator", (study,))
    login(user)
    user.study = study
    db.session.commit()
    return user


def _version(study: Any, label: str = "1.0", *, reconsent: bool = False, added_days_ago: int = 0) -> Any:
    """Add a consent version; `added_days_ago` backdates its creation (a text the clinic has had a while)."""
    row = consent.add_version(db.session, study, label, TEXT_EN + f" ({label})", TEXT_FR + f" ({label})",
                              requires_reconsent=reconsent, actor="test")
    row.created_at -= timedelta(days=added_days_ago)
    db.session.commit()
    return row


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _responses(patient: Any) -> int:
    return db.session.scalar(select(func.count(Response.id)).where(Response.patient_id == patient.id)) or 0


def test_a_patient_without_consent_cannot_open_a_questionnaire_when_consent_is_required(
    client, coordinator, make_patient
) -> None:
    study = coordinator.study
    _version(study)
    study.consent_required = True
    patient = make_patient(study, "NC-1", enrolled_days_ago=0)
    db.session.commit()
    home = client.get(f"/p/{patient.token}").get_data(as_text=True)
    assert "must be recorded by the clinic before your questionnaires can open" in home
    opened = client.get(f"/p/{patient.token}/q/T0")
    assert opened.status_code == 403 and "Please contact the clinic" in opened.get_data(as_text=True)
    assert client.get(f"/p/{patient.token}/q/T0/who5").status_code == 403
    posted = client.post(f"/p/{patient.token}/q/T0/who5", data={"item": "who5_1", "answer": "3"})
    assert posted.status_code == 403 and _responses(patient) == 0
    # Nor on a clinic tablet, nor by paper or interview entry.
    paper = client.post("/studies/CONS/patients/NC-1/interview/T0/who5", data={"who5_1": "3"})
    assert paper.status_code == 302 and _responses(patient) == 0
    listing = client.get("/studies/CONS/patients/NC-1/interview").get_data(as_text=True)
    assert "no consent for the study" in listing
    tablet = client.post("/studies/CONS/patients/NC-1/tablet")
    assert tablet.status_code == 303
    assert client.get(f"{tablet.headers['Location']}/q/T0").status_code == 403
    # Once the clinic records consent, the questionnaire opens.
    consent.record_consent(db.session, db.session.get(Patient, patient.id), method="paper",
                           consented_on=study_today(study), version=None, actor="test")
    db.session.commit()
    assert client.get(f"/p/{patient.token}/q/T0").status_code == 302


@pytest.mark.parametrize(("language", "words", "title"), [
    ("en", "must be recorded by the clinic before your questionnaires can open",
     "Your consent is needed first"),
    ("fr", "doit être enregistré par la clinique avant que vos questionnaires puissent s'ouvrir",
     "Votre consentement est d'abord nécessaire"),
])
def test_without_consent_on_the_phone_the_home_page_says_the_clinic_records_it_and_offers_no_start(
    client, coordinator, make_patient, language, words, title
) -> None:
    study = coordinator.study
    _version(study)
    study.consent_required, study.clinic_phone = True, "+33 1 23 45 67 89"
    patient = make_patient(study, "NS-1", enrolled_days_ago=0, language=language)
    db.session.commit()
    home = unescape(client.get(f"/p/{patient.token}").get_data(as_text=True))
    assert words in home and 'href="tel:+33123456789"' in home
    assert f"/p/{patient.token}/q/T0" not in home  # no Start (nor Continue) that leads to a refusal
    refused = client.get(f"/p/{patient.token}/q/T0")
    page = unescape(refused.get_data(as_text=True))
    assert refused.status_code == 403 and title in page and words in page
    assert "Something did not work" not in page and "Quelque chose" not in page


@pytest.mark.parametrize(("language", "words"), [
    ("en", "The consent text of the study has changed since you agreed to it"),
    ("fr", "Le texte de consentement de l'étude a changé depuis que vous l'avez accepté"),
])
def test_a_patient_asked_to_consent_again_is_told_the_text_changed(
    client, coordinator, make_patient, language, words
) -> None:
    study = coordinator.study
    _version(study, "1.0")
    study.consent_required = True
    patient = make_patient(study, "RE-1", enrolled_days_ago=0, language=language)
    consent.record_consent(db.session, patient, method="paper", consented_on=study_today(study),
                           version="1.0", actor="test")
    db.session.commit()
    new = _version(study, "1.1", reconsent=True)
    for page in (client.get(f"/p/{patient.token}"), client.get(f"/p/{patient.token}/q/T0")):
        text = unescape(page.get_data(as_text=True))
        assert words in text, page.status_code
        assert "has not been recorded yet" not in text and "pas encore été enregistré" not in text
    study.consent_on_phone = True  # on the phone: the accept page says the text changed
    db.session.commit()
    assert words in unescape(client.get(f"/p/{patient.token}").get_data(as_text=True))
    assert words in unescape(client.get(f"/p/{patient.token}/consent").get_data(as_text=True))
    client.post(f"/p/{patient.token}/consent", data={"accept": "yes", "version": str(new.id)})
    assert words not in unescape(client.get(f"/p/{patient.token}").get_data(as_text=True))


def test_without_the_setting_nothing_is_gated(client, coordinator, make_patient) -> None:
    patient = make_patient(coordinator.study, "NC-2", enrolled_days_ago=0)
    db.session.commit()
    assert client.get(f"/p/{patient.token}/q/T0").status_code == 302


def test_the_gate_adds_no_statement_to_an_answer(client, coordinator, make_patient, make_study) -> None:
    gated = coordinator.study
    _version(gated)
    gated.consent_required = True
    open_study = make_study("FREE")
    first = make_patient(gated, "G-1", enrolled_days_ago=0)
    second = make_patient(open_study, "G-2", enrolled_days_ago=0)
    consent.record_consent(db.session, first, method="verbal", consented_on=study_today(gated), version="1.0",
                           actor="test")
    db.session.commit()
    counts = []
    for patient in (first, second):
        client.get(f"/p/{patient.token}/q/T0/who5")
        with statements_run() as statements:
            posted = client.post(f"/p/{patient.token}/q/T0/who5", data={"item": "who5_1", "answer": "3"})
        assert posted.status_code == 303
        counts.append(len(statements))
    assert counts[0] == counts[1]


def test_enrollment_records_how_when_and_which_version(client, coordinator) -> None:
    study = coordinator.study
    _version(study, "1.0", added_days_ago=30)
    _version(study, "2.0", added_days_ago=7)
    form = client.get("/studies/CONS/enroll").get_data(as_text=True)
    assert 'name="consent_method"' in form and 'value="2.0"' in form
    day = study_today(study) - timedelta(days=3)
    posted = client.post("/studies/CONS/enroll", data={
        "code": "EN-1", "language": "en", "consent_method": "paper", "consent_on": day.isoformat(),
        "consent_version": "1.0"})
    assert posted.status_code == 201, posted.get_data(as_text=True)[:500]  # the handout
    patient = db.session.scalar(select(Patient).where(Patient.code == "EN-1"))
    (row,) = consent.patient_consents(db.session, patient.id)
    assert (row.method, row.consented_on, row.version.version, row.recorded_by) == (
        "paper", day, "1.0", f"staff:{coordinator.id}")
    (event,) = _events("consent.record")
    assert event.details == {"patient": "EN-1", "version": "1.0", "method": "paper", "on": day.isoformat()}
    page = client.get("/studies/CONS/patients/EN-1/manage").get_data(as_text=True)
    assert "On paper" in page and "1.0" in page


@pytest.mark.parametrize(("data", "words"), [
    ({"consent_method": "paper", "consent_on": "FUTURE"}, "cannot be in the future"),
    ({"consent_method": "paper", "consent_on": ""}, "Give the date consent was obtained"),
    ({"consent_method": "paper", "consent_on": "TODAY", "consent_version": "9.9"}, "no consent version 9.9"),
    ({"consent_method": "telepathy", "consent_on": "TODAY"}, ""),
])
def test_a_refused_consent_enrolls_nobody(client, coordinator, data, words) -> None:
    study = coordinator.study
    _version(study)
    today = study_today(study)
    values = {"FUTURE": (today + timedelta(days=1)).isoformat(), "TODAY": today.isoformat()}
    data = {k: values.get(v, v) for k, v in data.items()}
    posted = client.post("/studies/CONS/enroll", data={"code": "BAD-1", "language": "en", **data})
    assert posted.status_code == 400 and words in posted.get_data(as_text=True)
    assert db.session.scalar(select(Patient.id).where(Patient.code == "BAD-1")) is None
    assert db.session.scalar(select(func.count(ConsentRecord.id))) == 0


@pytest.mark.parametrize("data", [
    {"consent_method": "", "consent_on": "TODAY"},
    {"consent_method": "", "consent_on": "TODAY", "consent_version": "1.0"},
    {"consent_method": "", "consent_version": "1.0"},
])
def test_a_consent_date_or_version_without_a_method_enrolls_nobody(client, coordinator, data) -> None:
    study = coordinator.study
    _version(study, "1.0")
    data = {k: study_today(study).isoformat() if v == "TODAY" else v for k, v in data.items()}
    posted = client.post("/studies/CONS/enroll", data={"code": "NOM-1", "language": "en", **data})
    assert posted.status_code == 400
    assert "how consent was obtained" in posted.get_data(as_text=True)
    assert db.session.scalar(select(Patient.id).where(Patient.code == "NOM-1")) is None
    assert db.session.scalar(select(func.count(ConsentRecord.id))) == 0


def test_the_enrollment_form_offers_no_version_until_one_is_chosen(client, coordinator) -> None:
    study = coordinator.study
    _version(study, "1.0")
    posted = client.post("/studies/CONS/enroll", data={"code": "NOC-1", "language": "en",
                                                       "consent_method": "", "consent_version": ""})
    assert posted.status_code == 201  # no consent recorded now: enrolled without one
    assert db.session.scalar(select(func.count(ConsentRecord.id))) == 0
    form = client.get("/studies/CONS/enroll").get_data(as_text=True)
    versions = form.split('name="consent_version"')[1].split("</select>")[0]
    assert versions.index('value=""') < versions.index('value="1.0"') and "selected" not in versions


@pytest.mark.parametrize("args", [["--consent-date", "TODAY"], ["--consent-version", "v1"]])
def test_the_cli_refuses_a_consent_date_or_version_without_a_method(runner, make_study, args) -> None:
    study = make_study("CLIN")
    _version(study, "v1")
    args = [study_today(study).isoformat() if a == "TODAY" else a for a in args]
    refused = runner.invoke(args=["patients", "enroll", "CLIN", "N-1", *args])
    assert refused.exit_code == 1 and "how consent was obtained" in refused.output
    assert "Nobody was enrolled" in refused.output
    assert db.session.scalar(select(Patient.id).where(Patient.code == "N-1")) is None


def test_the_consent_date_is_the_studys_local_day(app, make_study, make_patient) -> None:
    study = make_study("TZC", timezone="Pacific/Kiritimati")  # UTC+14: its day is ahead of UTC's
    _version(study)
    patient = make_patient(study, "TZ-1")
    local_today = study_today(study)
    assert local_today >= datetime.now(UTC).date()  # machine day on purpose: the zone is ahead of it
    consent.record_consent(db.session, patient, method="verbal", consented_on=local_today, version=None,
                           actor="test")
    with pytest.raises(consent.ConsentError):
        consent.record_consent(db.session, patient, method="verbal",
                               consented_on=local_today + timedelta(days=1), version=None, actor="test")


def test_the_cli_records_consent_at_enrollment(runner, make_study) -> None:
    study = make_study("CLIC")
    _version(study, "v1")
    day = study_today(study).isoformat()
    result = runner.invoke(args=["patients", "enroll", "CLIC", "C-1", "--consent-method", "verbal",
                                 "--consent-date", day, "--consent-version", "v1"])
    assert result.exit_code == 0, result.output
    patient = db.session.scalar(select(Patient).where(Patient.code == "C-1"))
    (row,) = consent.patient_consents(db.session, patient.id)
    assert (row.method, row.consented_on.isoformat(), row.version.version) == ("verbal", day, "v1")
    future = (study_today(study) + timedelta(days=2)).isoformat()
    refused = runner.invoke(args=["patients", "enroll", "CLIC", "C-2", "--consent-method", "paper",
                                  "--consent-date", future])
    assert refused.exit_code != 0 and "future" in refused.output and "Nobody was enrolled" in refused.output
    assert db.session.scalar(select(Patient.id).where(Patient.code == "C-2")) is None


def test_coordinators_add_a_version_in_english_and_french_audited(client, coordinator, login,
                                                                 make_user) -> None:
    data = {"version": "2026-11", "text_en": TEXT_EN, "text_fr": TEXT_FR, "requires_reconsent": "y"}
    posted = client.post("/studies/CONS/consent", data=data)
    assert posted.status_code == 303
    (row,) = consent.versions(db.session, coordinator.study.id)
    assert (row.version, row.text_fr, row.requires_reconsent) == ("2026-11", TEXT_FR, True)
    (event,) = _events("consent.version")
    assert event.details["version"] == "2026-11" and event.actor == f"staff:{coordinator.id}"
    assert "You may stop at any time" in client.get("/studies/CONS/consent").get_data(as_text=True)
    again = client.post("/studies/CONS/consent", data=data)
    assert again.status_code == 400 and "already exists" in again.get_data(as_text=True)
    missing = client.post("/studies/CONS/consent", data={**data, "version": "3", "text_fr": " "})
    assert missing.status_code == 400 and len(consent.versions(db.session, coordinator.study.id)) == 1
    login(make_user("clinician", (coordinator.study,)))
    assert client.get("/studies/CONS/consent").status_code == 200
    assert client.post("/studies/CONS/consent", data={**data, "version": "4"}).status_code == 403


def test_a_consent_version_reports_every_problem_at_once(client, coordinator) -> None:
    """A version label already used is named beside the form's own refusals (a missing French text)."""
    data = {"version": "2026-11", "text_en": TEXT_EN, "text_fr": TEXT_FR}
    assert client.post("/studies/CONS/consent", data=data).status_code == 303
    again = client.post("/studies/CONS/consent", data={**data, "text_fr": ""})
    page = again.get_data(as_text=True)
    assert again.status_code == 400 and "already exists" in page and "This field is required" in page
    assert len(consent.versions(db.session, coordinator.study.id)) == 1


def test_settings_page_and_cli_set_the_consent_settings(client, coordinator, runner) -> None:
    page = client.get("/studies/CONS/settings").get_data(as_text=True)
    assert 'name="consent_required"' in page and 'name="consent_on_phone"' in page
    result = runner.invoke(args=["studies", "set", "CONS", "--consent-required", "yes",
                                 "--consent-on-phone", "true"])
    assert result.exit_code == 0, result.output
    assert (coordinator.study.consent_required, coordinator.study.consent_on_phone) == (True, True)


def test_the_patient_accepts_on_their_phone_in_their_language_before_the_first_questionnaire(
    client, coordinator, make_patient
) -> None:
    study = coordinator.study
    version = _version(study)
    study.consent_on_phone = True
    patient = make_patient(study, "PH-1", enrolled_days_ago=0, language="fr")
    db.session.commit()
    opened = client.get(f"/p/{patient.token}/q/T0")
    assert opened.status_code == 303 and opened.headers["Location"].endswith(f"/p/{patient.token}/consent")
    page = client.get(f"/p/{patient.token}/consent").get_data(as_text=True)
    assert "Vous acceptez de répondre" in page and "You agree" not in page
    stale = client.post(f"/p/{patient.token}/consent", data={"accept": "yes", "version": "0"})
    assert stale.status_code == 400 and db.session.scalar(select(func.count(ConsentRecord.id))) == 0
    before = datetime.now(UTC)
    accepted = client.post(f"/p/{patient.token}/consent", data={"accept": "yes", "version": str(version.id)})
    assert accepted.status_code == 303
    (row,) = consent.patient_consents(db.session, patient.id)
    assert (row.method, row.version_id, row.recorded_by) == ("patient_device", version.id, "patient")
    assert before - timedelta(seconds=1) <= row.recorded_at <= datetime.now(UTC)
    assert row.recorded_at.utcoffset() == timedelta(0)
    assert client.get(f"/p/{patient.token}/q/T0").status_code == 302
    # Once accepted, the consent page leads home.
    assert client.get(f"/p/{patient.token}/consent").status_code == 303


def test_a_new_version_requiring_reconsent_asks_the_patient_again(client, coordinator, make_patient) -> None:
    study = coordinator.study
    _version(study, "1")
    study.consent_on_phone = True
    patient = make_patient(study, "RC-1", enrolled_days_ago=0)
    consent.record_consent(db.session, patient, method="paper", consented_on=study_today(study), version="1",
                           actor="test")
    db.session.commit()
    assert client.get(f"/p/{patient.token}/q/T0").status_code == 302
    _version(study, "2")  # a new version without re-consent: nothing asked
    assert client.get(f"/p/{patient.token}/q/T0").status_code == 302
    third = _version(study, "3", reconsent=True)
    asked = client.get(f"/p/{patient.token}/q/T0")
    assert asked.status_code == 303 and asked.headers["Location"].endswith("/consent")
    assert "(3)" in client.get(f"/p/{patient.token}/consent").get_data(as_text=True)
    client.post(f"/p/{patient.token}/consent", data={"accept": "yes", "version": str(third.id)})
    assert client.get(f"/p/{patient.token}/q/T0").status_code == 302
    assert [r.version.version for r in consent.patient_consents(db.session, patient.id)] == ["3", "1"]


def test_staff_record_a_reconsent_on_the_patients_page(client, coordinator, make_patient) -> None:
    study = coordinator.study
    _version(study, "1")
    study.consent_required = True
    patient = make_patient(study, "RC-2", enrolled_days_ago=0)
    db.session.commit()
    page = client.get("/studies/CONS/patients/RC-2/manage").get_data(as_text=True)
    assert "No consent for the current required version" in page
    future = client.post("/studies/CONS/patients/RC-2/consent", data={
        "consent_method": "electronic", "consent_on": (local_today() + timedelta(days=3)).isoformat()})
    assert future.status_code == 400 and "future" in future.get_data(as_text=True)
    posted = client.post("/studies/CONS/patients/RC-2/consent", data={
        "consent_method": "electronic", "consent_on": study_today(study).isoformat(), "consent_version": "1"})
    assert posted.status_code == 303
    assert consent.consent_valid(db.session, patient)
    assert client.get(f"/p/{patient.token}/q/T0").status_code == 302


def test_patients_csv_carries_the_newest_consent(client, coordinator, make_patient) -> None:
    study = coordinator.study
    _version(study, "1", added_days_ago=30)
    _version(study, "2", added_days_ago=7)
    with_consent = make_patient(study, "EX-1")
    make_patient(study, "EX-2")
    day = study_today(study) - timedelta(days=1)
    for label in ("1", "2"):
        consent.record_consent(db.session, with_consent, method="verbal", consented_on=day, version=label,
                               actor="test")
    db.session.commit()
    patients = read_csv(download(client, "CONS", "patients").data, dtype=str).set_index("patient")
    assert tuple(patients.loc["EX-1", ["consent_version", "consent_date", "consent_method"]]) == (
        "2", day.isoformat(), "verbal")
    assert patients.loc["EX-2"].isna()["consent_version"]
    codebook = read_csv(download(client, "CONS", "codebook").data)
    described = set(codebook[codebook.file == "patients.csv"].variable)
    assert {"consent_version", "consent_date", "consent_method"} <= described
    deidentified = read_csv(download(client, "CONS", "patients", deidentified="1").data)
    assert "consent_day" in deidentified.columns and "consent_date" not in deidentified.columns


def test_the_access_summary_shows_the_consent_and_its_text_in_the_patients_language(
    app, make_study, make_patient, library
) -> None:
    from reports.exports.access import summary_html

    study = make_study("ACC")
    _version(study, "1")
    patient = make_patient(study, "AC-1", language="fr")
    consent.record_consent(db.session, patient, method="verbal", consented_on=study_today(study), version="1",
                           actor="test")
    db.session.commit()
    with app.test_request_context():
        summary = summary_html(db.session, patient, library)
    assert "Vous acceptez de répondre" in summary and "Oral" in summary


def test_the_cli_adds_a_consent_version_from_files(runner, make_study, tmp_path) -> None:
    study = make_study("CLIV")
    (tmp_path / "en.txt").write_text(TEXT_EN, encoding="utf-8")
    (tmp_path / "fr.txt").write_text(TEXT_FR, encoding="utf-8")
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    args = ["studies", "consent-add", "CLIV", "2.0", "--en", str(tmp_path / "en.txt"), "--fr"]
    result = runner.invoke(args=[*args, str(tmp_path / "fr.txt"), "--reconsent"])
    assert result.exit_code == 0, result.output
    (row,) = consent.versions(db.session, study.id)
    assert (row.version, row.text_fr, row.requires_reconsent) == ("2.0", TEXT_FR, True)
    (event,) = _events("consent.version")
    assert event.details["version"] == "2.0"
    refused = runner.invoke(args=["studies", "consent-add", "CLIV", "3.0", "--en", str(tmp_path / "en.txt"),
                                  "--fr", str(tmp_path / "empty.txt")])
    assert refused.exit_code != 0 and "Nothing was added" in refused.output
    assert len(consent.versions(db.session, study.id)) == 1


def test_a_consent_dated_before_its_version_was_added_is_refused_on_every_path(
    client, coordinator, make_patient, runner
) -> None:
    """Version 1.1 added today: a consent to it dated yesterday would be a consent to a text that did not
    exist yet. Refused on the patient's page (in English and French), the enrollment form and the CLI."""
    study = coordinator.study
    _version(study, "1.0", added_days_ago=60)
    _version(study, "1.1")
    make_patient(study, "DV-1", enrolled_days_ago=30)
    db.session.commit()
    today = study_today(study)
    added = format_date(today, "medium", locale="en")
    yesterday = (today - timedelta(days=1)).isoformat()
    data = {"consent_method": "paper", "consent_on": yesterday, "consent_version": "1.1"}
    page = client.post("/studies/CONS/patients/DV-1/consent", data=data)
    assert page.status_code == 400
    assert f"Consent version 1.1 was added on {added}" in unescape(page.get_data(as_text=True))
    french = client.post("/studies/CONS/patients/DV-1/consent", data=data, headers={"Accept-Language": "fr"})
    assert french.status_code == 400
    assert "La version 1.1 du consentement a été ajoutée le" in unescape(french.get_data(as_text=True))
    enrolled = client.post("/studies/CONS/enroll", data={"code": "DV-2", "language": "en", **data})
    assert enrolled.status_code == 400 and "was added on" in unescape(enrolled.get_data(as_text=True))
    cli = runner.invoke(args=["patients", "enroll", "CONS", "DV-3", "--consent-method", "paper",
                              "--consent-date", yesterday, "--consent-version", "1.1"])
    assert cli.exit_code == 1 and "was added on" in cli.output and "Nobody was enrolled" in cli.output
    assert db.session.scalar(select(func.count(ConsentRecord.id))) == 0
    assert db.session.scalar(select(Patient.id).where(Patient.code.in_(["DV-2", "DV-3"]))) is None
    older = client.post("/studies/CONS/patients/DV-1/consent", data={**data, "consent_version": "1.0"})
    assert older.status_code == 303  # version 1.0 existed that day
    same_day = client.post("/studies/CONS/patients/DV-1/consent",
                           data={**data, "consent_on": today.isoformat()})
    assert same_day.status_code == 303


def test_a_second_consent_for_the_same_version_says_what_it_replaced(
    client, coordinator, make_patient
) -> None:
    """One record per patient and version (a correction lands on it): staff are told, in their language,
    which record it replaced, and the audit trail keeps the earlier method and date."""
    study = coordinator.study
    _version(study, "1.1", added_days_ago=60)
    patient = make_patient(study, "RP-1", enrolled_days_ago=50)
    db.session.commit()
    first, second = (study_today(study) - timedelta(days=n) for n in (10, 40))
    posted = client.post("/studies/CONS/patients/RP-1/consent", data={
        "consent_method": "paper", "consent_on": first.isoformat(), "consent_version": "1.1"},
        follow_redirects=True)
    assert "Consent recorded for RP-1." in unescape(posted.get_data(as_text=True))
    again = client.post("/studies/CONS/patients/RP-1/consent", data={
        "consent_method": "verbal", "consent_on": second.isoformat(), "consent_version": "1.1"},
        follow_redirects=True, headers={"Accept-Language": "fr"})
    page = unescape(again.get_data(as_text=True))
    replaced = format_date(first, "medium", locale="fr")
    assert f"remplace l'enregistrement précédent de la version 1.1 (Sur papier, {replaced})" in page
    (row,) = consent.patient_consents(db.session, patient.id)
    assert (row.method, row.consented_on) == ("verbal", second)
    events = _events("consent.record")
    assert "replaced" not in events[0].details
    assert events[1].details["replaced"] == {"method": "paper", "on": first.isoformat()}
    english = client.post("/studies/CONS/patients/RP-1/consent", data={
        "consent_method": "paper", "consent_on": first.isoformat(), "consent_version": "1.1"},
        follow_redirects=True)
    earlier = format_date(second, "medium", locale="en")
    assert f"replaces the earlier record for version 1.1 (Verbal, {earlier})" in unescape(
        english.get_data(as_text=True))
