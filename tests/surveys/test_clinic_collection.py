"""Answers in the clinic: the tablet mode and paper questionnaires transcribed by staff."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from surveys.domain.models import Alert, AuditEvent, PatientLink, Response, TabletSession
from surveys.domain.patients import local_day_start
from surveys.infra.db import db
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing
from tests.surveys.test_patient_flow import answer_all
from tests.today import local_today

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def coordinator(client: Any, login: Any, make_user: Any, make_study: Any) -> Any:
    study = make_study("CLINIC")
    user = make_user("coordinator", (study,))
    login(user)
    user.study = study
    db.session.commit()
    return user


def start_tablet(client: Any, study: str, patient: str) -> str:
    started = client.post(f"/studies/{study}/patients/{patient}/tablet")
    assert started.status_code == 303
    return started.headers["Location"]


def test_the_tablet_shows_the_due_questionnaires_without_the_personal_link(client, coordinator, make_patient):
    patient = make_patient(coordinator.study, "TAB-1", enrolled_days_ago=0)
    db.session.commit()
    home = start_tablet(client, "CLINIC", "TAB-1")
    assert patient.token not in home and home.startswith("/p/")
    page = client.get(home).get_data(as_text=True)
    assert "Before treatment" in page and patient.token not in page
    assert client.get("/studies/CLINIC/patients").status_code == 302  # staff were logged out here
    answer_all(client, f"{home}/q/T0/who5", one_part=True)
    response = db.session.scalar(select(Response).where(Response.patient_id == patient.id))
    assert (response.mode, response.assisted_by_id) == ("tablet_in_clinic", coordinator.id)
    live = db.session.scalars(select(PatientLink).where(PatientLink.patient_id == patient.id)).all()
    assert [link.revoked_at for link in live] == [None]  # the personal link is not revoked
    assert client.get(f"/p/{patient.token}").status_code == 200  # and keeps working


def test_staff_end_the_tablet_session_and_the_tablet_shows_a_neutral_screen(client, coordinator, login,
                                                                             make_patient):
    make_patient(coordinator.study, "TAB-2", enrolled_days_ago=0)
    db.session.commit()
    home = start_tablet(client, "CLINIC", "TAB-2")
    question = f"{home}/q/T0/who5"
    assert client.get(question).status_code == 200
    login(coordinator)
    assert client.post("/studies/CLINIC/patients/TAB-2/tablet/end").status_code == 302
    for address in (home, question, f"{home}/q/T0"):  # what Back would load
        page = client.get(address)
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "hand the tablet back" in html, address
        assert "TAB-2" not in html and "Before treatment" not in html and 'name="item"' not in html
    tablet = db.session.scalar(select(TabletSession))
    assert tablet.end_reason == "staff"


def test_the_tablet_ends_after_ten_idle_minutes(client, coordinator, make_patient, monkeypatch):
    from surveys.domain import tablet

    make_patient(coordinator.study, "TAB-3", enrolled_days_ago=0)
    db.session.commit()
    home = start_tablet(client, "CLINIC", "TAB-3")
    assert "Before treatment" in client.get(home).get_data(as_text=True)
    later = datetime.now(UTC) + timedelta(minutes=11)
    monkeypatch.setattr(tablet, "utcnow", lambda: later)
    assert "hand the tablet back" in client.get(home).get_data(as_text=True)
    assert db.session.scalar(select(TabletSession.end_reason)) == "idle"


def test_the_tablet_ends_when_nothing_is_left_to_answer(client, coordinator, make_patient):
    make_patient(coordinator.study, "TAB-4", sessions_days_ago=(2,))
    db.session.commit()
    home = start_tablet(client, "CLINIC", "TAB-4")
    answer_all(client, f"{home}/q/S1/pirc", choose=min)
    done = client.get(f"{home}/q/S1").get_data(as_text=True)
    assert "hand the tablet back" in done
    assert db.session.scalar(select(TabletSession.end_reason)) == "completed"
    assert "hand the tablet back" in client.get(home).get_data(as_text=True)


def test_paper_entry_of_a_red_flag_raises_an_alert_and_records_who_entered_it(client, coordinator,
                                                                             make_patient, library):
    patient = make_patient(coordinator.study, "PAP-1", sessions_days_ago=(3,))
    db.session.commit()
    url = "/studies/CLINIC/patients/PAP-1/paper/S1/pirc"
    page = client.get(url)
    assert page.status_code == 200 and "Date the patient filled it in" in page.get_data(as_text=True)
    items = [i for i in library["pirc"].items if i.section == "local" or i.section == "red_flags"]
    answers = {i.id: "0" for i in items if i.show_if is None and not i.is_text}
    answers.update({"rf_breathing": "1", "rf_breathing_now": "1"})
    filled = local_today() - timedelta(days=1)
    posted = client.post(url, data={**answers, "filled_on": filled.isoformat()})
    assert posted.status_code == 302, posted.get_data(as_text=True)[:2000]
    response = db.session.scalar(select(Response).where(Response.patient_id == patient.id))
    assert response.status == "submitted" and response.mode == "paper_entry"
    assert response.assisted_by_id == coordinator.id and response.entered_at is not None
    assert response.submitted_at == local_day_start(coordinator.study, filled)
    alert = db.session.scalar(select(Alert).where(Alert.patient_id == patient.id))
    assert alert is not None and alert.level == 3
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "response.paper_entry"))


def test_paper_entry_is_validated_like_the_patients_own_answers(client, coordinator, make_patient):
    patient = make_patient(coordinator.study, "PAP-2", sessions_days_ago=(3,))
    db.session.commit()
    url = "/studies/CLINIC/patients/PAP-2/paper/S1/pirc"
    today = local_today().isoformat()
    for data, message in (
        ({"pain_present": "7", "filled_on": today}, "Nothing was stored"),
        ({"pain_present": "0", "pain_worst": "2", "filled_on": today}, "Nothing was stored"),  # hidden
        ({"pain_present": "0", "filled_on": "yesterday"}, "YYYY-MM-DD"),
        ({"pain_present": "0", "filled_on": (local_today() + timedelta(days=2)).isoformat()}, "future"),
        ({"pain_present": "0", "filled_on": (local_today() - timedelta(days=30)).isoformat()}, "before"),
    ):
        refused = client.post(url, data=data)
        assert refused.status_code == 400 and message in refused.get_data(as_text=True), data
    assert db.session.scalar(select(Response.id).where(Response.patient_id == patient.id)) is None


def test_exports_carry_the_mode_of_administration(client, coordinator, make_patient, runner, tmp_path):
    import csv
    import json

    make_patient(coordinator.study, "PAP-3", sessions_days_ago=(3,))
    db.session.commit()
    posted = client.post("/studies/CLINIC/patients/PAP-3/paper/S1/pirc",
                         data={"pain_present": "0", "filled_on": local_today().isoformat()})
    assert posted.status_code == 302
    out = tmp_path / "long.csv"
    result = runner.invoke(args=["export", "CLINIC", "--format", "long", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {r["mode"] for r in rows} == {"paper_entry"}
    assert {r["window_extended"] for r in rows} == {"0"}
    book = tmp_path / "codebook.json"
    runner.invoke(args=["export", "CLINIC", "--format", "codebook", "--out", str(book)])
    assert "paper_entry" in book.read_text(encoding="utf-8")
    bundle = tmp_path / "fhir.json"
    runner.invoke(args=["export", "CLINIC", "--format", "fhir", "--out", str(bundle)])
    entries = json.loads(bundle.read_text(encoding="utf-8"))["entry"]
    resource = next(e["resource"] for e in entries
                    if e["resource"]["resourceType"] == "QuestionnaireResponse")
    assert {"system": "urn:hair-prom:mode-of-administration", "code": "paper_entry",
            "display": "Paper, transcribed by staff"} in [e.get("valueCoding") for e in resource["extension"]]


def test_wide_and_scores_carry_the_mode_of_administration_in_every_format(client, coordinator, make_patient,
                                                                         runner, tmp_path):
    """wide.csv names each instrument's mode (`<instrument>_mode`: a timepoint's questionnaires may be
    answered in different ways), scores.csv each response's `mode`; the codebook, the data package
    schema and the .sav/.dta labels describe them."""
    import csv
    import json
    import zipfile

    import pyreadstat

    make_patient(coordinator.study, "PAP-5", sessions_days_ago=(3,))
    db.session.commit()
    posted = client.post("/studies/CLINIC/patients/PAP-5/paper/S1/pirc",
                         data={"pain_present": "0", "filled_on": local_today().isoformat()})
    assert posted.status_code == 302

    def export(fmt: str, name: str, *more: str) -> Any:
        out = tmp_path / name
        result = runner.invoke(args=["export", "CLINIC", "--format", fmt, "--out", str(out), *more])
        assert result.exit_code == 0, result.output
        return out

    for table, column in (("wide", "pirc_mode"), ("scores", "mode")):
        with export(table, f"{table}.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert rows and {r[column] for r in rows} == {"paper_entry"}, table
        sav, meta = pyreadstat.read_sav(str(export("sav", f"{table}.sav", "--table", table)))
        assert set(sav[column]) == {"paper_entry"}
        assert meta.column_names_to_labels[column].startswith("Mode of administration")
        dta, meta = pyreadstat.read_dta(str(export("dta", f"{table}.dta", "--table", table)))
        assert set(dta[column]) == {"paper_entry"}
        assert meta.column_names_to_labels[column].startswith("Mode of administration")
    book = list(csv.DictReader(export("codebook", "codebook.csv").read_text(encoding="utf-8").splitlines()))
    described = {(r["file"], r["variable"]) for r in book if "paper_entry" in json.dumps(r)}
    assert {("wide.csv", "pirc_mode"), ("scores.csv", "mode")} <= described
    with zipfile.ZipFile(export("datapackage", "package.zip")) as package:
        schema = json.loads(package.read("datapackage.json"))
    fields = {(r["path"], f["name"]): f for r in schema["resources"] if "schema" in r
              for f in r["schema"]["fields"]}
    for key in (("wide.csv", "pirc_mode"), ("scores.csv", "mode")):
        assert fields[key]["type"] == "string" and "paper_entry" in fields[key]["constraints"]["enum"], key


def test_paper_entry_follows_the_patients_participation(client, coordinator, make_patient):
    """A patient who left is asked nothing more: no open window to transcribe, a form dated after
    they left is refused even for a window that closed before, and nothing at all once they
    withdrew consent asking that their data be discarded."""
    from surveys.domain.participation import withdraw_patient

    patient = make_patient(coordinator.study, "PAP-4", sessions_days_ago=(30,))
    left = local_today() - timedelta(days=1)
    withdraw_patient(db.session, patient, on=left, reason="lost_to_follow_up", actor="test")
    db.session.commit()
    url = "/studies/CLINIC/patients/PAP-4/paper/S1/pirc"
    after = client.post(url, data={"pain_present": "0", "filled_on": local_today().isoformat()})
    assert after.status_code == 400 and "left the study" in after.get_data(as_text=True)
    assert db.session.scalar(select(Response.id).where(Response.patient_id == patient.id)) is None
    patient.withdrawal_reason = "consent_withdrawn_discard_data"
    db.session.commit()
    refused = client.get(url)  # a stale link: told the real reason
    assert refused.status_code == 409 and "asked that the data not be kept" in refused.get_data(as_text=True)
    listing = client.get("/studies/CLINIC/patients/PAP-4/paper")
    assert listing.status_code == 409 and "S1" not in listing.get_data(as_text=True)


def test_staff_read_a_questionnaire_out_and_the_answers_are_a_staff_interview_by_them(client, coordinator,
                                                                                     make_patient, library,
                                                                                     runner, tmp_path):
    """From the patient's page staff open the interview, read the questions and record the answers as
    given: validated like the patient's own, a red flag raises an alert, the response is submitted now
    as a staff interview by that staff member, and long.csv, scores.csv and FHIR say so."""
    import csv
    import json

    patient = make_patient(coordinator.study, "INT-1", sessions_days_ago=(3,))
    db.session.commit()
    manage = client.get("/studies/CLINIC/patients/INT-1/manage").get_data(as_text=True)
    assert "/studies/CLINIC/patients/INT-1/interview" in manage
    listing = client.get("/studies/CLINIC/patients/INT-1/interview").get_data(as_text=True)
    url = "/studies/CLINIC/patients/INT-1/interview/S1/pirc"
    assert url in listing
    page = client.get(url).get_data(as_text=True)
    assert "Read each question" in page and "filled_on" not in page
    refused = client.post(url, data={"pain_present": "7"})
    assert refused.status_code == 400 and "Nothing was stored" in refused.get_data(as_text=True)
    items = [i for i in library["pirc"].items if i.section in ("local", "red_flags")]
    answers = {i.id: "0" for i in items if i.show_if is None and not i.is_text}
    answers.update({"rf_breathing": "1", "rf_breathing_now": "1"})
    before = datetime.now(UTC)
    posted = client.post(url, data=answers)
    assert posted.status_code == 302, posted.get_data(as_text=True)[:2000]
    response = db.session.scalar(select(Response).where(Response.patient_id == patient.id))
    assert (response.status, response.mode, response.assisted_by_id) == ("submitted", "staff_interview",
                                                                         coordinator.id)
    submitted = response.submitted_at.replace(tzinfo=UTC) if response.submitted_at.tzinfo is None \
        else response.submitted_at
    assert before - timedelta(seconds=1) <= submitted <= datetime.now(UTC) and response.entered_at is None
    alert = db.session.scalar(select(Alert).where(Alert.patient_id == patient.id))
    assert alert is not None and alert.level == 3
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "response.staff_interview"))
    assert event is not None and event.actor == f"staff:{coordinator.id}"
    assert client.post(url, data=answers).status_code == 302  # answered already: nothing stored twice
    assert len(db.session.scalars(select(Response).where(Response.patient_id == patient.id)).all()) == 1
    for table, column in (("long", "mode"), ("scores", "mode"), ("wide", "pirc_mode")):
        out = tmp_path / f"{table}.csv"
        assert runner.invoke(args=["export", "CLINIC", "--format", table, "--out", str(out)]).exit_code == 0
        rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
        assert rows and {r[column] for r in rows} == {"staff_interview"}, table
    bundle = tmp_path / "fhir.json"
    runner.invoke(args=["export", "CLINIC", "--format", "fhir", "--out", str(bundle)])
    resource = next(e["resource"] for e in json.loads(bundle.read_text(encoding="utf-8"))["entry"]
                    if e["resource"]["resourceType"] == "QuestionnaireResponse")
    assert "staff_interview" in [(e.get("valueCoding") or {}).get("code") for e in resource["extension"]]


def test_an_interview_is_only_for_a_window_the_patient_could_answer_now(client, coordinator, make_patient):
    """An interview records answers given now: a closed window takes a paper form (filled in on time),
    not an interview, and a patient who left the study is not interviewed."""
    from surveys.domain.participation import withdraw_patient

    make_patient(coordinator.study, "INT-2", sessions_days_ago=(40,))
    left = make_patient(coordinator.study, "INT-3", sessions_days_ago=(3,))
    withdraw_patient(db.session, left, on=local_today(), reason="lost_to_follow_up", actor="test")
    db.session.commit()
    assert client.get("/studies/CLINIC/patients/INT-2/paper/S1/pirc").status_code == 200
    refused = client.get("/studies/CLINIC/patients/INT-2/interview/S1/pirc", follow_redirects=True)
    assert refused.request.path == "/studies/CLINIC/patients/INT-2/interview"  # back to the list
    assert "cannot be entered now" in refused.get_data(as_text=True)
    posted = client.post("/studies/CLINIC/patients/INT-2/interview/S1/pirc", data={"pain_present": "0"})
    assert posted.status_code == 302 and posted.location.endswith("/patients/INT-2/interview")
    listing = client.get("/studies/CLINIC/patients/INT-2/interview").get_data(as_text=True)
    assert "/interview/S1/" not in listing
    # nothing asked after leaving, and the page says so
    after = client.get("/studies/CLINIC/patients/INT-3/interview/S1/pirc")
    assert after.status_code == 409 and "left the study" in after.get_data(as_text=True)
    assert client.get("/studies/CLINIC/patients/INT-2/interview/S9/pirc").status_code == 404  # no such window
    assert db.session.scalar(select(Response.id)) is None


def test_paper_and_interview_pages_speak_french_to_french_staff(client, coordinator, make_patient):
    """The refusals the service gives (a future date, a window not open) reach French staff in French."""
    make_patient(coordinator.study, "INT-4", sessions_days_ago=(3,))
    coordinator.language = "fr"
    db.session.commit()
    listing = client.get("/studies/CLINIC/patients/INT-4/interview")
    assert "Entretien avec INT-4" in listing.get_data(as_text=True)
    future = (local_today() + timedelta(days=2)).isoformat()
    refused = client.post("/studies/CLINIC/patients/INT-4/paper/S1/pirc",
                          data={"pain_present": "0", "filled_on": future})
    assert refused.status_code == 400
    assert "ne peut pas être dans le futur" in refused.get_data(as_text=True)


def test_a_paper_form_filled_in_after_the_windows_own_close_in_an_extension_is_flagged(client, coordinator,
                                                                                      make_patient):
    """A paper form is flagged `window_extended` by the day the patient filled it in, as their own
    answers are: after the window's own close (inside the extension staff granted), not before."""
    from surveys.domain.patients import extend_window, study_today

    today = study_today(coordinator.study)
    late = make_patient(coordinator.study, "PAP-X1", sessions_days_ago=(40,))
    on_time = make_patient(coordinator.study, "PAP-X2", sessions_days_ago=(40,))
    for patient in (late, on_time):
        extend_window(db.session, patient, "S1", today, actor="t", reason="forgot the form")
    db.session.commit()
    for code, days_ago in (("PAP-X1", 2), ("PAP-X2", 30)):  # S1 closed 21 days after the session
        filled = (today - timedelta(days=days_ago)).isoformat()
        posted = client.post(f"/studies/CLINIC/patients/{code}/paper/S1/pirc",
                             data={"pain_present": "0", "filled_on": filled})
        assert posted.status_code == 302, posted.get_data(as_text=True)[:2000]
    flags = dict(db.session.execute(select(Response.patient_id, Response.window_extended)).all())
    assert flags == {late.id: True, on_time.id: False}


@pytest.mark.parametrize(("data", "english", "french"), [
    ({"pain_present": "7"}, "Nothing was stored: question", "Rien n'a été enregistré : question"),
    ({"pain_present": "0", "pain_worst": "2"}, "although the answers before it skip it",
     "alors que les réponses précédentes la font sauter"),
])
def test_answers_the_questionnaire_refuses_are_explained_in_the_staff_members_language(
        client, coordinator, make_patient, library, data, english, french):
    """The instrument's refusal of an answer names the question (as worded in the staff member's
    language) and the problem, in that language: French staff never read the English message."""
    make_patient(coordinator.study, "PAP-FR", sessions_days_ago=(3,))
    db.session.commit()
    url = "/studies/CLINIC/patients/PAP-FR/paper/S1/pirc"
    filled = {"filled_on": local_today().isoformat()}
    english_page = client.post(url, data={**data, **filled}).get_data(as_text=True)
    assert english in english_page and "out of range" not in english_page
    coordinator.language = "fr"
    db.session.commit()
    refused = client.post(url, data={**data, **filled, "lang": "fr"})
    page = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 400 and french in page, page[-3000:]
    item = next(i for i in library["pirc"].items if i.id == list(data)[-1])
    assert item.texts["fr"] in page
    assert "out of range" not in page and "although" not in page


def test_an_erased_or_withdrawn_patient_is_offered_no_collection_and_the_pages_say_why(
    client, coordinator, make_patient
):
    """The patient's page offers only what the participation allows; reached anyway, the pages name the
    real reason (erased, left the study) with a 409, never a missing consent."""
    from surveys.domain.erasure import erase_patient
    from surveys.domain.participation import withdraw_patient

    erased = make_patient(coordinator.study, "GONE-1", sessions_days_ago=(3,))
    left = make_patient(coordinator.study, "LEFT-1", sessions_days_ago=(30,))
    erase_patient(db.session, erased, reason="data_subject_request", actor="test")
    withdraw_patient(db.session, left, on=local_today() - timedelta(days=1), reason="lost_to_follow_up",
                     actor="test")
    db.session.commit()

    manage = client.get("/studies/CLINIC/patients/GONE-1/manage").get_data(as_text=True)
    for action in ("Answer in clinic on this tablet", "Enter a paper questionnaire", "(interview)"):
        assert action not in manage, action
    assert "were erased" in manage
    for url in ("/studies/CLINIC/patients/GONE-1/paper", "/studies/CLINIC/patients/GONE-1/interview",
                "/studies/CLINIC/patients/GONE-1/paper/S1/pirc",
                "/studies/CLINIC/patients/GONE-1/interview/S1/pirc"):
        page = client.get(url)
        text = page.get_data(as_text=True)
        assert page.status_code == 409 and "were erased" in text and "no consent" not in text, url
    posted = client.post("/studies/CLINIC/patients/GONE-1/paper/S1/pirc",
                         data={"pain_present": "0", "filled_on": local_today().isoformat()})
    assert posted.status_code == 409 and "were erased" in posted.get_data(as_text=True)
    tablet = client.post("/studies/CLINIC/patients/GONE-1/tablet")
    assert tablet.status_code == 409 and "were erased" in tablet.get_data(as_text=True)

    manage = client.get("/studies/CLINIC/patients/LEFT-1/manage").get_data(as_text=True)
    assert "Answer in clinic on this tablet" not in manage and "(interview)" not in manage
    assert "Enter a paper questionnaire" in manage  # a form filled in before leaving may be transcribed
    assert "left the study" in manage
    for url in ("/studies/CLINIC/patients/LEFT-1/interview",
                "/studies/CLINIC/patients/LEFT-1/interview/S1/pirc"):
        page = client.get(url)
        assert page.status_code == 409 and "left the study" in page.get_data(as_text=True), url
    tablet = client.post("/studies/CLINIC/patients/LEFT-1/tablet")
    assert tablet.status_code == 409 and "left the study" in tablet.get_data(as_text=True)
    assert client.get("/studies/CLINIC/patients/LEFT-1/paper").status_code == 200
    assert db.session.scalar(select(TabletSession.id)) is None
    assert db.session.scalar(select(Response.id)) is None
