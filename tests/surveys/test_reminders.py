"""Reminder e-mails: sent through SMTP when a window opens or is overdue, never twice."""

from __future__ import annotations

import email
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from surveys.domain.models import PatientLink, ReminderSent
from surveys.domain.reminders import due_reminders, send_reminders
from surveys.infra.db import db
from tests.smtp_sink import Sink, free_port
from tests.today import local_today


@pytest.fixture
def app_overrides(smtp: tuple[Sink, int]) -> dict[str, Any]:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp[1], "MAIL_FROM": "clinic@prom.test"}


def body(message: email.message.Message) -> str:
    return message.get_payload(decode=True).decode("utf-8")


def paris(day: date, hour: int, minute: int = 0) -> datetime:
    """A Paris wall time (the test studies' zone) as an aware UTC instant: the moved clock."""
    return datetime.combine(day, time(hour, minute), ZoneInfo("Europe/Paris")).astimezone(UTC)


#: Today at noon in Paris: inside the default sending hours (09:00-19:00), whatever the real hour.
NOON = paris(local_today(), 12)


def test_open_window_sends_one_reminder_and_a_rerun_sends_none(app, make_patient, make_study, inbox, client):
    study = make_study(contact="Clinic, 01 02 03 04 05")
    patient = make_patient(study, email="patient@example.test")
    make_patient(study)  # no address: nothing to send
    report = send_reminders(db.session, now=NOON)
    assert (report.sent, report.failed) == (1, 0)
    [message] = inbox
    assert message["To"] == "patient@example.test"
    assert message["Subject"] == "A questionnaire is waiting for you"
    text = body(message)
    assert "QR code your clinic gave you keeps working" in text and "Clinic, 01 02 03 04 05" in text
    assert patient.token not in text  # the printed link is never mailed: the reminder has its own
    fresh = re.search(r"http://localhost/p/(\S+)", text).group(1)
    assert client.get(f"/p/{fresh}").status_code == 200
    assert client.get(f"/p/{patient.token}").status_code == 200  # the printed QR code still works
    assert send_reminders(db.session, now=NOON).sent == 0
    assert len(inbox) == 1


def test_reminders_are_in_the_patient_language(app, make_patient, inbox):
    make_patient(email="patiente@example.test", language="fr")
    send_reminders(db.session, now=NOON)
    [message] = inbox
    assert "Un questionnaire vous attend" in str(email.header.make_header(email.header.decode_header(
        message["Subject"])))
    assert "Bonjour" in body(message)


def test_overdue_window_gets_its_own_reminder_once(app, make_patient, inbox):
    patient = make_patient(email="late@example.test", sessions_days_ago=(2,))
    send_reminders(db.session, now=NOON)  # S1 is due: an 'open' reminder
    later = NOON + timedelta(days=3)  # S1 overdue, not yet closed
    report = send_reminders(db.session, now=later)
    assert report.sent == 1
    assert "still waiting" in inbox[-1]["Subject"]
    assert send_reminders(db.session, now=later).sent == 0
    kinds = db.session.scalars(
        select(ReminderSent.kind).where(ReminderSent.patient_id == patient.id, ReminderSent.timepoint == "S1")
    ).all()
    assert sorted(kinds) == ["open", "overdue"]


def test_completed_and_withdrawn_get_no_reminder(app, make_patient, client, inbox):
    withdrawn = make_patient(email="gone@example.test")
    withdrawn.status = "withdrawn"
    done = make_patient(email="done@example.test")
    for instrument, items in (("who5", 5), ("rses", 10)):
        for number in range(1, items + 1):
            client.post(f"/p/{done.token}/q/T0/{instrument}",
                        data={"item": f"{instrument}_{number}", "answer": "1"})
    owed = due_reminders(db.session, now=NOON)
    assert [r.patient.email for r in owed] == ["done@example.test"]  # not finished yet
    rest = (("thinning", 3), ("hair_bother", 3), ("shedding_amount", 2), ("pattern", 2), ("sinclair", 2))
    for item, code in rest:
        instrument = "hair_status" if item in ("thinning", "hair_bother", "shedding_amount") else "hair_stage"
        client.post(f"/p/{done.token}/q/T0/{instrument}", data={"item": item, "answer": code})
    for item in ("dizziness", "palpitations", "numbness", "more_shedding"):  # protocol 2.0
        client.post(f"/p/{done.token}/q/T0/systemic", data={"item": item, "answer": 0})
    assert due_reminders(db.session, now=NOON) == []
    assert send_reminders(db.session, now=NOON).sent == 0 and inbox == []


def test_refused_mail_releases_its_claim_for_the_next_run(app, make_patient, inbox):
    patient = make_patient(email="someone@example.test")
    app.config["MAIL_PORT"] = free_port()  # nobody listens there
    report = send_reminders(db.session, now=NOON)
    assert (report.sent, report.failed) == (0, 1)
    assert db.session.scalar(select(func.count()).select_from(ReminderSent)) == 0
    live = db.session.scalars(select(PatientLink.kind).where(PatientLink.patient_id == patient.id,
                                                            PatientLink.revoked_at.is_(None))).all()
    assert live == ["handout"]  # the unsent reminder's link was revoked with its claim


def test_a_reminder_link_expires_and_the_printed_qr_code_still_works(app, make_patient, inbox, client,
                                                                     monkeypatch):
    from surveys.domain import links

    patient = make_patient(email="later@example.test")
    send_reminders(db.session, now=NOON)
    fresh = re.search(r"http://localhost/p/(\S+)", body(inbox[0])).group(1)
    later = datetime.now(UTC) + timedelta(days=15)
    monkeypatch.setattr(links, "utcnow", lambda: later)
    expired = client.get(f"/p/{fresh}")
    assert expired.status_code == 410 and "This link has expired" in expired.get_data(as_text=True)
    assert client.get(f"/p/{patient.token}").status_code == 200


def test_cli_sends_and_reports(app, runner, make_patient, inbox, smtp):
    patient = make_patient(email="cli@example.test")
    patient.study.reminder_start_hour, patient.study.reminder_end_hour = 0, 24  # the real clock, any hour
    db.session.commit()
    result = runner.invoke(args=["reminders", "send"])
    assert result.exit_code == 0, result.output
    assert "1 reminder(s) sent" in result.output
    assert runner.invoke(args=["reminders", "send"]).output.startswith("0 reminder(s) sent")
    assert len(inbox) == 1


def test_a_reminder_owed_at_night_waits_for_the_sending_hours_and_goes_once(app, make_patient, inbox):
    """The S1 window opens at 00:00 Paris; the 02:00 run holds it back, 09:00 sends it, 10:00 not again."""
    session_day = local_today() - timedelta(days=1)
    patient = make_patient(email="night@example.test", sessions_days_ago=(1,))
    assert patient.study.timezone == "Europe/Paris"
    night = paris(session_day + timedelta(days=1), 2)
    owed = [r for r in due_reminders(db.session, now=night) if r.window.timepoint == "S1"]
    assert [r.kind for r in owed] == ["open"]  # owed at 02:00 local...
    report = send_reminders(db.session, now=night)
    assert (report.sent, report.waiting) == (0, 1) and inbox == []  # ...but nobody is woken at night
    assert send_reminders(db.session, now=paris(session_day + timedelta(days=1), 8, 59)).sent == 0
    morning = send_reminders(db.session, now=paris(session_day + timedelta(days=1), 9))
    assert morning.sent == 1 and len(inbox) == 1
    assert send_reminders(db.session, now=paris(session_day + timedelta(days=1), 10)).sent == 0
    assert send_reminders(db.session, now=paris(session_day + timedelta(days=1), 19)).waiting == 0
    assert len(inbox) == 1


def test_the_sending_hours_are_local_and_follow_the_study(app, make_patient, make_study, inbox):
    study = make_study(timezone="America/New_York")
    study.reminder_start_hour, study.reminder_end_hour = 8, 20
    make_patient(study, email="ny@example.test")
    day = local_today()
    at = lambda hour: datetime.combine(day, time(hour), ZoneInfo("America/New_York")).astimezone(UTC)  # noqa: E731
    assert send_reminders(db.session, now=at(7)).waiting == 1  # 13:00 in Paris, 07:00 in New York
    assert send_reminders(db.session, now=at(20)).waiting == 1  # the end hour is excluded
    assert send_reminders(db.session, now=at(8)).sent == 1


def test_the_e_mail_says_the_last_local_day_the_questionnaire_is_open(app, make_patient, inbox):
    make_patient(email="until@example.test", sessions_days_ago=(1,))
    send_reminders(db.session, now=NOON)
    [message] = inbox  # S1 (T0 closed at the session)
    last = local_today() - timedelta(days=1) + timedelta(days=20)  # S1 closes 21 local days after the session
    assert f"It is open until {last.strftime('%B')} {last.day}, {last.year}." in body(message)
