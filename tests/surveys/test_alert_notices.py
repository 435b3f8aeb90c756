"""Notices to on-call: owed with the answer, sent after the commit, once per alert and level.

A rise to a higher level owes a new notice that says it is an escalation; a mail server that
fails never fails the patient's request, and `alerts notify` delivers what is still owed.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from surveys.domain.models import Alert, AlertNotice
from surveys.domain.notices import _claim, deliver_notices, pending_notices
from surveys.infra.db import db, utcnow
from tests.smtp_sink import Sink, free_port


@pytest.fixture
def app_overrides(smtp: tuple[Sink, int]) -> dict[str, Any]:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp[1], "MAIL_FROM": "alerts@prom.test"}


@pytest.fixture
def patient(make_study: Any, make_patient: Any) -> Any:
    study = make_study("NOTE", oncall_email="oncall@clinic.test", emergency_number="15")
    patient = make_patient(study, sessions_days_ago=(1,))
    db.session.commit()
    return patient


def answer(client: Any, patient: Any, item: str, code: str) -> Any:
    return client.post(
        f"/p/{patient.token}/q/S1/pirc", data={"item": item, "answer": code}, follow_redirects=True
    )


def notices_of(patient: Any) -> list[AlertNotice]:
    alert = db.session.scalar(select(Alert).where(Alert.patient_id == patient.id))
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AlertNotice).where(AlertNotice.alert_id == alert.id).order_by(AlertNotice.id)
        )
    )


def test_a_red_flag_owes_one_notice_sent_after_the_commit(client, patient, inbox) -> None:
    page = answer(client, patient, "rf_breathing", "1").get_data(as_text=True)
    assert "will contact you today" in page
    (notice,) = notices_of(patient)
    assert (notice.kind, notice.level, notice.sent_at is not None) == ("raised", 2, True)
    assert notice.recipients == "oncall@clinic.test" and notice.attempts == 1
    assert len(inbox) == 1 and "[NOTE]" in inbox[0]["Subject"]
    assert inbox[0]["Message-ID"] == f"<alert-notice-{notice.id}@prom.test>"


def test_a_rise_from_2_to_3_sends_a_second_notice_saying_it_is_an_escalation(client, patient, inbox) -> None:
    answer(client, patient, "rf_breathing", "1")
    page = answer(client, patient, "rf_breathing_now", "1").get_data(as_text=True)
    assert "Call 15 now" in page
    assert [(n.kind, n.level) for n in notices_of(patient)] == [("raised", 2), ("escalation", 3)]
    assert len(inbox) == 2 and "ESCALATED to level 3" in inbox[1]["Subject"]
    assert "rose to level 3" in inbox[1].get_payload(decode=True).decode()


def test_answering_the_same_level_again_sends_nothing_more(client, patient, inbox) -> None:
    answer(client, patient, "rf_breathing", "1")
    answer(client, patient, "rf_breathing", "1")  # a resend
    answer(client, patient, "rf_fever", "1")  # another level-2 red flag on the same checklist
    assert [(n.kind, n.level) for n in notices_of(patient)] == [("raised", 2)]
    assert len(inbox) == 1


def test_the_notice_carries_no_health_data(client, patient, inbox) -> None:
    answer(client, patient, "rf_breathing", "1")
    text = inbox[0]["Subject"] + inbox[0].get_payload(decode=True).decode()
    assert patient.code not in text and "breath" not in text.lower()


def test_a_mail_server_down_never_fails_the_answer_and_alerts_notify_delivers_it_later(
    app, client, runner, patient, smtp, inbox, caplog
) -> None:
    app.config["MAIL_PORT"] = free_port()  # nothing listens there
    with caplog.at_level(logging.WARNING):
        reply = answer(client, patient, "rf_breathing", "1")
    assert reply.status_code == 200 and "will contact you today" in reply.get_data(as_text=True)
    (notice,) = notices_of(patient)
    assert notice.sent_at is None and notice.claimed_until is None and "could not send" in notice.last_error
    assert any("will retry" in r.getMessage() for r in caplog.records)
    assert inbox == []
    app.config["MAIL_PORT"] = smtp[1]
    result = runner.invoke(args=["alerts", "notify"])
    assert result.exit_code == 0, result.output
    assert "1 sent" in result.output
    assert runner.invoke(args=["alerts", "notify"]).output.startswith("0 sent")
    assert len(inbox) == 1
    (notice,) = notices_of(patient)
    assert notice.sent_at is not None and notice.attempts == 2


def test_a_claimed_notice_is_left_alone_until_its_lease_ends(app, client, patient, inbox) -> None:
    app.config["MAIL_PORT"] = free_port()  # the request's own delivery fails: the notice stays owed
    answer(client, patient, "rf_breathing", "1")
    (notice,) = notices_of(patient)
    now = utcnow()
    first = _claim(db.session, None, now, 10)
    assert [nid for nid, _token in first] == [notice.id]
    assert _claim(db.session, None, now + timedelta(seconds=30), 10) == []  # another run: claimed
    later = _claim(db.session, None, now + timedelta(seconds=61), 10)  # the first sender died
    assert [nid for nid, _token in later] == [notice.id] and later[0][1] != first[0][1]


def test_a_study_without_on_call_address_keeps_its_notices_owed(
    client, make_study, make_patient, app, inbox
) -> None:
    study = make_study("NOCALL")
    patient = make_patient(study, sessions_days_ago=(1,))
    db.session.commit()
    answer(client, patient, "rf_breathing", "1")
    (notice,) = notices_of(patient)
    assert notice.sent_at is None and "no on-call address" in notice.last_error
    assert pending_notices(db.session) >= 1
    report = deliver_notices(db.session, "http://localhost")
    assert report.sent == 0 and report.failed >= 1 and inbox == []
