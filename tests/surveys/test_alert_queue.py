"""The clinician's alert queue: raised at once, urgent ones on top, the answers shown, acknowledged."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from surveys.domain.alerts import (
    AlertError,
    acknowledge_alert,
    alert_evidence,
    alert_queue,
    notify_pending_alerts,
)
from surveys.domain.models import AuditEvent
from surveys.infra.db import db
from surveys.infra.library import instruments
from tests.smtp_sink import Sink
from tests.surveys.staff_world import BREATHING_NOW, FEVER, alert_of, submit_pirc
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")
PAIN_PERSISTING = {"pain_present": 1, "pain_worst": 2, "pain_now": 1}  # level 1 after 72 h


@pytest.fixture
def app_overrides(smtp: tuple[Sink, int]) -> dict[str, Any]:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp[1], "MAIL_FROM": "alerts@prom.test"}


@pytest.fixture
def study(make_study: Any) -> Any:
    return make_study("SAFE", oncall_email="oncall@clinic.test")


@pytest.fixture
def clinician(client: Any, login: Any, make_user: Any, study: Any) -> Any:
    user = make_user("clinician", (study,))
    login(user)
    db.session.commit()
    return user


def test_a_red_flag_raises_an_alert_at_once(study, make_patient) -> None:
    patient = make_patient(study, "A", sessions_days_ago=(2,))
    alert = alert_of(submit_pirc(patient, FEVER))
    assert alert.level == 2 and alert.reasons == ["rf_fever"] and alert.acknowledged_at is None


def test_urgent_open_alerts_stay_on_top_then_milder_then_handled(study, make_patient, make_user) -> None:
    old_fever = alert_of(submit_pirc(make_patient(study, "FEVER", sessions_days_ago=(5,)), FEVER))
    mild = alert_of(submit_pirc(make_patient(study, "MILD", sessions_days_ago=(4,)), PAIN_PERSISTING))
    handled = alert_of(submit_pirc(make_patient(study, "HANDLED", sessions_days_ago=(3,)), BREATHING_NOW))
    emergency = alert_of(submit_pirc(make_patient(study, "NOW", sessions_days_ago=(2,)), BREATHING_NOW))
    acknowledge_alert(db.session, handled, make_user("clinician", (study,)), "Called 112 with the patient.")
    assert (mild.level, emergency.level) == (1, 3)
    assert [a.id for a in alert_queue(db.session, study)] == [emergency.id, old_fever.id, mild.id, handled.id]
    assert [a.id for a in alert_queue(db.session, study, include_acknowledged=False)] == [
        emergency.id, old_fever.id, mild.id]


def test_each_alert_shows_the_answers_that_raised_it_and_the_patients_words(study, make_patient) -> None:
    alert = alert_of(submit_pirc(make_patient(study, "A", sessions_days_ago=(2,)), FEVER))
    evidence = alert_evidence(alert, instruments()["pirc"], "en")
    assert evidence[0].raised and evidence[0].item_id == "rf_fever" and evidence[0].answer == "Yes"
    assert "fever of 38" in evidence[0].question
    assert [(e.item_id, e.free_text, e.raised) for e in evidence[1:]] == [("other", True, False)]
    french = alert_evidence(alert, instruments()["pirc"], "fr")
    assert french[0].answer == "Oui"


def test_the_queue_page_shows_code_level_answers_and_escapes_the_patients_text(client, clinician, study,
                                                                                 make_patient) -> None:
    alert = alert_of(submit_pirc(make_patient(study, "A-7", sessions_days_ago=(2,)), FEVER))
    db.session.commit()
    page = client.get(f"/studies/{study.code}/alerts").get_data(as_text=True)
    card = page[page.index(f'id="alert-{alert.id}"'):]
    assert "A-7" in card and "Level 2" in card and "fever of 38" in card and "<td>Yes</td>" in card
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; felt hot &amp; shivery" in card
    assert "<script>alert" not in page
    assert f'action="/studies/{study.code}/alerts/{alert.id}/acknowledge"' in card


def test_acknowledging_records_who_when_and_what_was_done(client, clinician, study, make_patient) -> None:
    alert = alert_of(submit_pirc(make_patient(study, "A", sessions_days_ago=(2,)), FEVER))
    db.session.commit()
    response = client.post(f"/studies/{study.code}/alerts/{alert.id}/acknowledge",
                           data={"action_taken": "Phoned; antibiotics started by GP <today>."})
    assert response.status_code == 302
    db.session.refresh(alert)
    assert alert.acknowledged_by_id == clinician.id and alert.acknowledged_at is not None
    assert alert.action_taken == "Phoned; antibiotics started by GP <today>."
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "alert.acknowledge"))
    assert event.actor == f"staff:{clinician.id}" and event.study_id == study.id
    digest = hashlib.sha256(alert.action_taken.encode()).hexdigest()
    assert event.details["new"]["action_taken_sha256"] == digest
    assert "Phoned" not in str(event.details)  # free text stays out of the immutable trail (erasable)
    page = client.get(f"/studies/{study.code}/alerts?show=all").get_data(as_text=True)
    assert f"Acknowledged by {clinician.email}" in page and "GP &lt;today&gt;" in page
    assert f'id="alert-{alert.id}"' not in client.get(f"/studies/{study.code}/alerts").get_data(as_text=True)


@pytest.mark.parametrize("action", ["", "   ", "x" * 2001])
def test_acknowledging_without_saying_what_was_done_is_refused(client, clinician, study, make_patient,
                                                               action) -> None:
    alert = alert_of(submit_pirc(make_patient(study, "A", sessions_days_ago=(2,)), FEVER))
    db.session.commit()
    url = f"/studies/{study.code}/alerts/{alert.id}/acknowledge"
    response = client.post(url, data={"action_taken": action})
    assert response.status_code == 400
    assert "was not acknowledged" in response.get_data(as_text=True)
    db.session.refresh(alert)
    assert alert.acknowledged_at is None and alert.action_taken is None


def test_an_alert_is_acknowledged_once(study, make_patient, make_user) -> None:
    alert = alert_of(submit_pirc(make_patient(study, "A", sessions_days_ago=(2,)), FEVER))
    user = make_user("clinician", (study,))
    acknowledge_alert(db.session, alert, user, "Called.")
    with pytest.raises(AlertError, match="already"):
        acknowledge_alert(db.session, alert, user, "Called again.")


def test_a_worse_answer_reopens_an_acknowledged_alert(study, make_patient, make_user) -> None:
    from surveys.domain.responses import raise_alert

    patient = make_patient(study, "A", sessions_days_ago=(2,))
    response = submit_pirc(patient, FEVER)
    alert = alert_of(response)
    acknowledge_alert(db.session, alert, make_user("clinician", (study,)), "Called.")
    raise_alert(db.session, response, instruments()["pirc"], {**FEVER, **BREATHING_NOW})
    assert alert.level == 3 and alert.acknowledged_at is None


def test_urgent_alerts_are_e_mailed_to_the_on_call_address_once_without_health_data(
    app, study, make_patient, inbox
) -> None:
    submit_pirc(make_patient(study, "URGENT", sessions_days_ago=(2,)), FEVER)
    submit_pirc(make_patient(study, "MILD", sessions_days_ago=(4,)), PAIN_PERSISTING)
    db.session.commit()
    assert notify_pending_alerts(db.session, "https://prom.example") == 1
    assert notify_pending_alerts(db.session, "https://prom.example") == 0
    assert len(inbox) == 1
    message = inbox[0]
    assert message["To"] == "oncall@clinic.test" and "[SAFE]" in message["Subject"]
    body = message.get_payload(decode=True).decode()
    assert "https://prom.example/studies/SAFE/alerts" in body
    assert not re.search(r"URGENT|fever|shivery", body + message["Subject"], re.IGNORECASE)


def test_an_unreachable_mail_server_leaves_the_alert_to_be_sent_later(app, study, make_patient, smtp) -> None:
    alert = alert_of(submit_pirc(make_patient(study, "A", sessions_days_ago=(2,)), FEVER))
    db.session.commit()
    app.config["MAIL_PORT"] = 1  # nothing listens there
    assert notify_pending_alerts(db.session, "http://x") == 0
    assert alert.notified_at is None
    app.config["MAIL_PORT"] = smtp[1]
    assert notify_pending_alerts(db.session, "http://x") == 1


def test_application_logs_carry_no_health_data(client, clinician, study, make_patient, caplog) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    alert = alert_of(submit_pirc(make_patient(study, "A", sessions_days_ago=(2,)), FEVER))
    db.session.commit()
    client.get(f"/studies/{study.code}/alerts")
    url = f"/studies/{study.code}/alerts/{alert.id}/acknowledge"
    client.post(url, data={"action_taken": "Antibiotics given."})
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert not re.search(r"shivery|Antibiotics|fever", logged, re.IGNORECASE)


def test_the_queue_says_what_triage_asks_beyond_acknowledging(client, clinician, study, make_patient) -> None:
    """pirc 2.0: early blanching is urgent; severe and still present opens a re-check at +72 h."""
    blanched = make_patient(study, "BLANCH", sessions_days_ago=(1,))
    urgent = alert_of(submit_pirc(blanched, {"rf_skin_blanching": 1, "rf_skin_blanching_now": 1}))
    severe = make_patient(study, "SEVERE", sessions_days_ago=(1,))
    recheck = alert_of(submit_pirc(severe, {"pain_present": 1, "pain_worst": 3, "pain_now": 1,
                                            "pain_interference": 1}))
    assert (urgent.level, recheck.level) == (2, 1)
    assert set(urgent.reasons) == {"rf_skin_blanching", "rf_skin_blanching_early"}
    assert recheck.reasons == ["pain_severe_now"]
    db.session.commit()
    page = client.get(f"/studies/{study.code}/alerts").get_data(as_text=True)
    card = page[page.index(f'id="alert-{urgent.id}"'):]
    assert "Urgent: call the patient back within hours." in card[:card.index("</article>")]
    card = page[page.index(f'id="alert-{recheck.id}"'):]
    due = severe.sessions[0].date + timedelta(days=3)
    expected = f'Re-check due <time datetime="{due.isoformat()}T00:00:00+00:00">'
    assert expected in card[:card.index("</article>")]
