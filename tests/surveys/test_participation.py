"""Withdrawal (a date and a reason; nothing asked after it; reminders stop) and completion (when the
last window closes), on the staff page, the patient's page, the CLI and the exports."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from babel.dates import format_date
from sqlalchemy import select

from surveys.domain.models import AuditEvent
from surveys.domain.participation import complete_finished, local_day
from surveys.domain.reminders import due_reminders, send_reminders
from surveys.infra.db import db
from tests.reports.test_exports import answer, read_csv
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing
from tests.today import local_today

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def coordinator(make_study: Any, make_user: Any, login: Any) -> Any:
    study = make_study("LIFE")
    user = make_user("coordinator", (study,))
    db.session.commit()
    login(user)
    user.study = study
    return user


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_a_withdrawn_patient_is_asked_nothing_from_that_date_and_gets_no_reminder(
    client, coordinator, make_patient, inbox
) -> None:
    patient = make_patient(coordinator.study, "W-1", email="w1@example.test", enrolled_days_ago=10)
    db.session.commit()
    assert client.get(f"/p/{patient.token}/q/T0").status_code in (200, 302)  # open before
    assert [r.patient.code for r in due_reminders(db.session)] == ["W-1"]
    day = local_today() - timedelta(days=2)
    response = client.post("/studies/LIFE/patients/W-1/withdraw",
                           data={"on": day.isoformat(), "reason": "lost_to_follow_up", "note": ""})
    assert response.status_code == 303
    assert (patient.status, patient.status_on) == ("withdrawn", day)
    assert patient.withdrawal_reason == "lost_to_follow_up"
    (event,) = _events("patient.withdraw")
    assert event.details == {"patient": "W-1", "on": day.isoformat(), "reason": "lost_to_follow_up"}
    home = client.get(f"/p/{patient.token}").get_data(as_text=True)
    assert "no longer taking part in the study since" in home and "Start" not in home
    assert client.get(f"/p/{patient.token}/q/T0").status_code == 404
    answer = client.post(f"/p/{patient.token}/q/T0/who5", data={"item": "who5_1", "answer": "3"})
    assert answer.status_code == 404
    assert due_reminders(db.session) == [] and send_reminders(db.session).sent == 0 and inbox == []
    manage = client.get("/studies/LIFE/patients/W-1/manage").get_data(as_text=True)
    assert "Lost to follow-up" in manage and format_date(day, "medium", locale="en") in manage


def test_the_patient_home_says_so_in_french(client, coordinator, make_patient) -> None:
    patient = make_patient(coordinator.study, "W-FR", language="fr", enrolled_days_ago=10)
    db.session.commit()
    client.post("/studies/LIFE/patients/W-FR/withdraw",
                data={"on": local_today().isoformat(), "reason": "clinician_decision"})
    home = client.get(f"/p/{patient.token}").get_data(as_text=True)
    assert "Vous ne participez plus" in home


@pytest.mark.parametrize(("form", "words"), [
    ({"on": (local_today() + timedelta(days=2)).isoformat(), "reason": "lost_to_follow_up"}, "between"),
    ({"on": (local_today() - timedelta(days=40)).isoformat(), "reason": "lost_to_follow_up"}, "between"),
    ({"on": local_today().isoformat(), "reason": "other", "note": "  "}, "Say why"),
    ({"on": local_today().isoformat(), "reason": "bored"}, "Not a valid choice"),
    ({"on": "", "reason": "lost_to_follow_up"}, "This field is required"),
])
def test_a_refused_withdrawal_changes_nothing(client, coordinator, make_patient, form, words) -> None:
    patient = make_patient(coordinator.study, "W-2", enrolled_days_ago=10)
    db.session.commit()
    response = client.post("/studies/LIFE/patients/W-2/withdraw", data=form)
    assert response.status_code == 400 and words in response.get_data(as_text=True)
    db.session.refresh(patient)
    assert (patient.status, patient.status_on) == ("active", None) and _events("patient.withdraw") == []


def test_a_withdrawal_dated_before_the_last_answer_is_refused_on_the_page_and_the_cli(
    client, runner, coordinator, make_patient
) -> None:
    patient = make_patient(coordinator.study, "W-5", enrolled_days_ago=10)
    response = answer(patient, "T0", "who5", {f"who5_{i}": 3 for i in range(1, 6)}, submitted_days_ago=4)
    db.session.commit()
    answered = local_day(coordinator.study, response.submitted_at)
    too_early = (answered - timedelta(days=2)).isoformat()
    refused = client.post("/studies/LIFE/patients/W-5/withdraw",
                          data={"on": too_early, "reason": "lost_to_follow_up"})
    page = refused.get_data(as_text=True)
    shown = format_date(answered, "medium", locale="en")  # as the pages show dates, not ISO
    assert refused.status_code == 400 and shown in page and "on or after" in page
    cli = runner.invoke(args=["patients", "withdraw", "LIFE", "W-5", "--on", too_early,
                              "--reason", "lost_to_follow_up"])
    assert cli.exit_code == 1 and shown in cli.output and "Nothing was changed" in cli.output
    db.session.refresh(patient)
    assert (patient.status, patient.status_on) == ("active", None) and _events("patient.withdraw") == []
    ok = client.post("/studies/LIFE/patients/W-5/withdraw",
                     data={"on": answered.isoformat(), "reason": "lost_to_follow_up"})
    assert ok.status_code == 303 and (patient.status, patient.status_on) == ("withdrawn", answered)


def test_a_withdrawal_dated_before_the_last_session_done_is_refused(client, runner, coordinator,
                                                                    make_patient) -> None:
    """A session recorded as done was a study visit: a withdrawal dated before it would leave a study
    session after the patient left (the session rule refuses the other order)."""
    patient = make_patient(coordinator.study, "W-6", enrolled_days_ago=20, sessions_days_ago=(15, 3))
    db.session.commit()
    last = max(s.date for s in patient.sessions)
    too_early = (last - timedelta(days=1)).isoformat()
    refused = client.post("/studies/LIFE/patients/W-6/withdraw",
                          data={"on": too_early, "reason": "lost_to_follow_up"})
    shown = format_date(last, "medium", locale="en")
    assert refused.status_code == 400 and shown in refused.get_data(as_text=True)
    cli = runner.invoke(args=["patients", "withdraw", "LIFE", "W-6", "--on", too_early,
                              "--reason", "lost_to_follow_up"])
    assert cli.exit_code == 1 and shown in cli.output
    db.session.refresh(patient)
    assert patient.status == "active" and _events("patient.withdraw") == []
    ok = client.post("/studies/LIFE/patients/W-6/withdraw", data={"on": last.isoformat(),
                                                                   "reason": "lost_to_follow_up"})
    assert ok.status_code == 303 and (patient.status, patient.status_on) == ("withdrawn", last)


def test_a_withdrawal_recorded_by_mistake_can_be_undone(client, coordinator, make_patient) -> None:
    patient = make_patient(coordinator.study, "W-3", enrolled_days_ago=10)
    db.session.commit()
    client.post("/studies/LIFE/patients/W-3/withdraw", data={"on": local_today().isoformat(),
                                                            "reason": "other", "note": "moved abroad"})
    assert patient.status_note == "moved abroad"
    assert client.post("/studies/LIFE/patients/W-3/reinstate").status_code == 303
    assert (patient.status, patient.status_on, patient.withdrawal_reason, patient.status_note) == (
        "active", None, None, None)
    (event,) = _events("patient.reinstate")
    assert event.details["old"]["reason"] == "other" and "moved abroad" not in str(event.details)


def test_clinicians_cannot_withdraw(client, login, make_user, coordinator, make_patient) -> None:
    make_patient(coordinator.study, "W-4")
    clinician = make_user("clinician", (coordinator.study,))
    db.session.commit()
    login(clinician)
    response = client.post("/studies/LIFE/patients/W-4/withdraw",
                           data={"on": local_today().isoformat(), "reason": "lost_to_follow_up"})
    assert response.status_code == 403


def test_the_cli_withdraws_and_refuses_bad_input(runner, make_study, make_patient) -> None:
    study = make_study("LIFECLI")
    patient = make_patient(study, "C-1", enrolled_days_ago=10)
    db.session.commit()
    bad = runner.invoke(args=["patients", "withdraw", "LIFECLI", "C-1", "--on", "2000-01-01",
                              "--reason", "lost_to_follow_up"])
    assert bad.exit_code != 0 and "Nothing was changed" in bad.output and patient.status == "active"
    ok = runner.invoke(args=["patients", "withdraw", "LIFECLI", "C-1", "--on", local_today().isoformat(),
                             "--reason", "consent_withdrawn_keep_data"])
    assert ok.exit_code == 0, ok.output
    assert (patient.status, patient.withdrawal_reason) == ("withdrawn", "consent_withdrawn_keep_data")
    assert runner.invoke(args=["patients", "withdraw", "LIFECLI", "NOPE", "--on", "2026-01-01",
                               "--reason", "other"]).exit_code != 0


def test_a_patient_is_completed_when_the_last_window_closes_and_only_then(runner, make_study,
                                                                          make_patient) -> None:
    study = make_study("DONE")
    finished = make_patient(study, "F-1", enrolled_days_ago=900, sessions_days_ago=(850, 820))
    ongoing = make_patient(study, "F-2", enrolled_days_ago=100, sessions_days_ago=(90,))
    never_treated = make_patient(study, "F-3", enrolled_days_ago=900)
    db.session.commit()
    result = runner.invoke(args=["patients", "complete", "--study", "DONE"])
    assert result.exit_code == 0, result.output
    assert "F-1" in result.output and "F-2" not in result.output
    assert finished.status == "completed" and finished.status_on is not None
    assert local_today() - timedelta(days=850) < finished.status_on < local_today()
    assert (ongoing.status, never_treated.status) == ("active", "active")
    (event,) = _events("patient.complete")
    assert event.details["source"] == "schedule"
    assert complete_finished(db.session, study=study) == []  # idempotent: a cron re-run marks nobody again


def test_a_patient_who_answered_after_the_last_window_closed_is_completed_on_that_day_not_before(
    make_study, make_patient
) -> None:
    study = make_study("LATE")
    late = make_patient(study, "L-1", enrolled_days_ago=900, sessions_days_ago=(850, 820))
    response = answer(late, "T0", "who5", {f"who5_{i}": 3 for i in range(1, 6)}, submitted_days_ago=2)
    db.session.commit()
    assert complete_finished(db.session, study=study) == [late]
    answered = local_day(study, response.submitted_at)
    assert late.status_on == answered
    (event,) = _events("patient.complete")
    assert event.details["on"] == answered.isoformat()


def test_exports_carry_the_participation_status_and_its_date(client, coordinator, make_patient) -> None:
    from tests.reports.test_exports import answer

    withdrawn = make_patient(coordinator.study, "E-1", enrolled_days_ago=20, sessions_days_ago=(15,))
    active = make_patient(coordinator.study, "E-2", enrolled_days_ago=20)
    answer(withdrawn, "T0", "who5", {f"who5_{i}": 3 for i in range(1, 6)}, submitted_days_ago=16)
    answer(active, "T0", "who5", {f"who5_{i}": 2 for i in range(1, 6)}, submitted_days_ago=16)
    db.session.commit()
    day = local_today() - timedelta(days=3)
    client.post("/studies/LIFE/patients/E-1/withdraw", data={"on": day.isoformat(),
                                                            "reason": "consent_withdrawn_keep_data"})
    wide = read_csv(client.get("/studies/LIFE/exports/wide").data).set_index("patient")
    assert wide.loc["E-1", "participation"] == "withdrawn"
    assert wide.loc["E-1", "participation_date"] == day.isoformat()
    assert wide.loc["E-1", "withdrawal_reason"] == "consent_withdrawn_keep_data"
    assert wide.loc["E-2", "participation"] == "active" and wide.loc["E-2", "participation_date"] != wide.loc[
        "E-2", "participation_date"]  # NaN: empty while active
    deid = read_csv(client.get("/studies/LIFE/exports/wide", query_string={"deidentified": "1"}).data)
    first_session = local_today() - timedelta(days=15)
    assert sorted(deid["participation_day"].dropna().astype(int)) == [(day - first_session).days]


@pytest.mark.parametrize(("language", "locale"), [("en", "en"), ("fr", "fr")])
def test_withdrawal_messages_give_dates_as_the_pages_do(client, coordinator, make_patient, language,
                                                         locale) -> None:
    """The success and refusal messages read 'Nov 30, 2026' (or '30 nov. 2026'), not '2026-11-30'."""
    make_patient(coordinator.study, "W-D", enrolled_days_ago=10)
    coordinator.language = language
    db.session.commit()
    headers = {"Accept-Language": language}
    late = local_today() + timedelta(days=2)
    refused = client.post("/studies/LIFE/patients/W-D/withdraw", headers=headers,
                          data={"on": late.isoformat(), "reason": "lost_to_follow_up"}).get_data(as_text=True)
    assert format_date(local_today(), "medium", locale=locale) in refused
    assert local_today().isoformat() not in refused.split("<form")[0]
    done = client.post("/studies/LIFE/patients/W-D/withdraw", headers=headers, follow_redirects=True,
                       data={"on": local_today().isoformat(), "reason": "lost_to_follow_up"})
    page = done.get_data(as_text=True)
    assert format_date(local_today(), "medium", locale=locale) in page and "W-D" in page
    assert f"from {local_today().isoformat()}" not in page


def test_a_withdrawal_reports_every_problem_at_once(client, runner, coordinator, make_patient) -> None:
    """The form's checks (no date) and the domain's (no note for 'other') in one 400, nothing stored."""
    patient = make_patient(coordinator.study, "W-ALL", enrolled_days_ago=10)
    db.session.commit()
    response = client.post("/studies/LIFE/patients/W-ALL/withdraw", data={"on": "", "reason": "other",
                                                                          "note": " "})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "This field is required" in page and "Say why" in page
    late = (local_today() + timedelta(days=2)).isoformat()
    response = client.post("/studies/LIFE/patients/W-ALL/withdraw", data={"on": late, "reason": "other"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "between" in page and "Say why" in page
    cli = runner.invoke(args=["patients", "withdraw", "LIFE", "W-ALL", "--on", late, "--reason", "other"])
    assert cli.exit_code == 1 and "between" in cli.output and "Say why" in cli.output
    db.session.refresh(patient)
    assert (patient.status, patient.status_on) == ("active", None) and _events("patient.withdraw") == []


def test_no_study_session_is_recorded_after_a_patient_left_on_the_page_the_cli_or_an_import(
        client, runner, coordinator, make_patient, tmp_path) -> None:
    """A treatment after the withdrawal date may happen in the clinic, but it is not a study session:
    it would move the schedule of someone who left. A session up to that day is still recorded."""
    from surveys.domain.participation import withdraw_patient

    patient = make_patient(coordinator.study, "W-S", enrolled_days_ago=40, sessions_days_ago=(30,))
    left = local_today() - timedelta(days=10)
    withdraw_patient(db.session, patient, on=left, reason="lost_to_follow_up", actor="test")
    db.session.commit()
    after = (left + timedelta(days=5)).isoformat()
    page = client.post("/studies/LIFE/patients/W-S/sessions", data={"number": 2, "day": after})
    assert page.status_code == 400
    assert f"left the study on {format_date(left, 'medium', locale='en')}" in page.get_data(as_text=True)
    cli = runner.invoke(args=["sessions", "record", "LIFE", "W-S", "--number", "2", "--date", after])
    assert cli.exit_code == 1 and "left the study on" in cli.output and "Nothing was stored" in cli.output
    log = tmp_path / "log.csv"
    log.write_text(f"patient,number,date\nW-S,2,{after}\n", encoding="utf-8")
    imported = runner.invoke(args=["sessions", "import", "LIFE", str(log)])
    assert imported.exit_code == 1 and "line 2" in imported.output and "left the study on" in imported.output
    assert [s.number for s in patient.sessions] == [1]
    on_the_day = runner.invoke(args=["sessions", "record", "LIFE", "W-S", "--number", "2", "--date",
                                     left.isoformat()])
    assert on_the_day.exit_code == 0, on_the_day.output
