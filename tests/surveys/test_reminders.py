"""Reminder e-mails: sent through SMTP when a window opens or is overdue, never twice."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from surveys.domain.models import ReminderSent
from surveys.domain.reminders import due_reminders, send_reminders
from surveys.infra.db import db
from tests.smtp_sink import Sink, free_port


@pytest.fixture
def app_overrides(smtp: tuple[Sink, int]) -> dict[str, Any]:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp[1], "MAIL_FROM": "clinic@prom.test"}


def body(message: email.message.Message) -> str:
    return message.get_payload(decode=True).decode("utf-8")


def test_open_window_sends_one_reminder_and_a_rerun_sends_none(app, make_patient, make_study, inbox):
    study = make_study(contact="Clinic, 01 02 03 04 05")
    patient = make_patient(study, email="patient@example.test")
    make_patient(study)  # no address: nothing to send
    report = send_reminders(db.session)
    assert (report.sent, report.failed) == (1, 0)
    [message] = inbox
    assert message["To"] == "patient@example.test"
    assert message["Subject"] == "A questionnaire is waiting for you"
    text = body(message)
    assert "personal link or the QR code" in text and "Clinic, 01 02 03 04 05" in text
    assert patient.token not in text and "/p/" not in text  # the link is never mailed
    assert send_reminders(db.session).sent == 0
    assert len(inbox) == 1


def test_reminders_are_in_the_patient_language(app, make_patient, inbox):
    make_patient(email="patiente@example.test", language="fr")
    send_reminders(db.session)
    [message] = inbox
    assert "Un questionnaire vous attend" in str(email.header.make_header(email.header.decode_header(
        message["Subject"])))
    assert "Bonjour" in body(message)


def test_overdue_window_gets_its_own_reminder_once(app, make_patient, inbox):
    patient = make_patient(email="late@example.test", sessions_days_ago=(2,))
    send_reminders(db.session)  # S1 is due: an 'open' reminder
    later = datetime.now(UTC) + timedelta(days=3)  # S1 overdue, not yet closed
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
    assert [r.patient.email for r in due_reminders(db.session)] == ["done@example.test"]  # not finished yet
    rest = (("hair_severity", 3), ("hair_bother", 3), ("shedding", 2), ("pattern", 2), ("sinclair", 2))
    for item, code in rest:
        instrument = "hair_status" if item in ("hair_severity", "hair_bother", "shedding") else "hair_stage"
        client.post(f"/p/{done.token}/q/T0/{instrument}", data={"item": item, "answer": code})
    for item in ("dizziness", "palpitations", "numbness", "more_shedding"):  # protocol 2.0
        client.post(f"/p/{done.token}/q/T0/systemic", data={"item": item, "answer": 0})
    assert due_reminders(db.session) == []
    assert send_reminders(db.session).sent == 0 and inbox == []


def test_refused_mail_releases_its_claim_for_the_next_run(app, make_patient, inbox):
    make_patient(email="someone@example.test")
    app.config["MAIL_PORT"] = free_port()  # nobody listens there
    report = send_reminders(db.session)
    assert (report.sent, report.failed) == (0, 1)
    assert db.session.scalar(select(func.count()).select_from(ReminderSent)) == 0


def test_cli_sends_and_reports(app, runner, make_patient, inbox, smtp):
    make_patient(email="cli@example.test")
    db.session.commit()
    result = runner.invoke(args=["reminders", "send"])
    assert result.exit_code == 0, result.output
    assert "1 reminder(s) sent" in result.output
    assert runner.invoke(args=["reminders", "send"]).output.startswith("0 reminder(s) sent")
    assert len(inbox) == 1
