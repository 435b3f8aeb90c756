"""The alert queue and lifecycle: raised at once, urgent ones on top, contact attempts, resolution
with the clinician's grade, reopening; every step audited."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from surveys.domain.alerts import (
    AlertError,
    alert_evidence,
    alert_queue,
    record_contact_attempt,
    reopen_alert,
    resolve_alert,
)
from surveys.domain.models import AlertResolution, AuditEvent
from surveys.infra.db import db
from surveys.infra.library import instruments
from tests.smtp_sink import Sink
from tests.surveys.staff_world import BREATHING_NOW, FEVER, alert_of, submit_pirc
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")
PAIN_PERSISTING = {"pain_present": 1, "pain_worst": 2, "pain_now": 1}  # level 1 after 72 h
RESOLUTION = {"outcome": "advice_given", "ctcae_grade": 2, "relatedness": "probable", "serious": False,
              "note": "Phoned; antibiotics started by GP."}
RESOLUTION_FORM = {"outcome": "advice_given", "ctcae_grade": "2", "relatedness": "probable", "serious": "no",
                   "note": "Phoned; antibiotics started by GP <today>."}


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
    assert alert.level == 2 and alert.reasons == ["rf_fever"] and alert.state == "open"


def test_urgent_alerts_stay_on_top_then_by_state_and_waiting_time_then_resolved(study, make_patient,
                                                                                make_user) -> None:
    old_fever = alert_of(submit_pirc(make_patient(study, "FEVER", sessions_days_ago=(5,)), FEVER))
    called_fever = alert_of(submit_pirc(make_patient(study, "CALLED", sessions_days_ago=(5,)), FEVER))
    mild = alert_of(submit_pirc(make_patient(study, "MILD", sessions_days_ago=(4,)), PAIN_PERSISTING))
    handled = alert_of(submit_pirc(make_patient(study, "HANDLED", sessions_days_ago=(3,)), BREATHING_NOW))
    emergency = alert_of(submit_pirc(make_patient(study, "NOW", sessions_days_ago=(2,)), BREATHING_NOW))
    user = make_user("clinician", (study,))
    record_contact_attempt(db.session, called_fever, user, channel="phone", result="not_reached")
    resolve_alert(db.session, handled, user, **RESOLUTION)
    assert (mild.level, emergency.level) == (1, 3)
    assert [a.id for a in alert_queue(db.session, study)] == [
        emergency.id, old_fever.id, called_fever.id, mild.id, handled.id]
    assert [a.id for a in alert_queue(db.session, study, include_resolved=False)] == [
        emergency.id, old_fever.id, called_fever.id, mild.id]


def test_each_alert_shows_the_answers_that_raised_it_and_the_patients_words(study, make_patient) -> None:
    alert = alert_of(submit_pirc(make_patient(study, "A", sessions_days_ago=(2,)), FEVER))
    evidence = alert_evidence(alert, instruments()["pirc"], "en")
    assert evidence[0].raised and evidence[0].item_id == "rf_fever" and evidence[0].answer == "Yes"
    assert evidence[0].changed_to is None
    assert "fever of 38" in evidence[0].question
    assert [(e.item_id, e.free_text, e.raised) for e in evidence[1:]] == [("other", True, False)]
    french = alert_evidence(alert, instruments()["pirc"], "fr")
    assert french[0].answer == "Oui"


def test_the_queue_page_shows_code_level_answers_contact_and_escapes_the_patients_text(
        client, clinician, study, make_patient) -> None:
    alert = alert_of(submit_pirc(make_patient(study, "A-7", sessions_days_ago=(2,), email="a7@example.test"),
                                 FEVER))
    db.session.commit()
    page = client.get(f"/studies/{study.code}/alerts").get_data(as_text=True)
    card = page[page.index(f'id="alert-{alert.id}"'):]
    assert "A-7" in card and "Level 2" in card and "fever of 38" in card and "<td>Yes</td>" in card
    assert "a7@example.test" in card
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; felt hot &amp; shivery" in card
    assert "<script>alert" not in page
    assert f'action="/studies/{study.code}/alerts/{alert.id}/resolve"' in card
    assert f'action="/studies/{study.code}/alerts/{alert.id}/attempts"' in card


def test_a_contact_attempt_not_reached_keeps_the_alert_open_and_is_audited(client, study, make_patient,
                                                                          make_user, login) -> None:
    alert = alert_of(submit_pirc(make_patient(study, "A", sessions_days_ago=(2,)), FEVER))
    coordinator = make_user("coordinator", (study,))
    login(coordinator)
    db.session.commit()
    url = f"/studies/{study.code}/alerts/{alert.id}/attempts"
    response = client.post(url, data={"channel": "phone", "result": "not_reached",
                                      "note": "No answer, will retry <soon>."})
    assert response.status_code == 303
    db.session.refresh(alert)
    assert alert.state == "in_progress" and alert.first_contact_at is not None
    (attempt,) = alert.attempts
    assert (attempt.channel, attempt.result) == ("phone", "not_reached")
    assert attempt.recorded_by_id == coordinator.id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "alert.contact_attempt"))
    assert event.actor == f"staff:{coordinator.id}" and event.details["result"] == "not_reached"
    page = client.get(f"/studies/{study.code}/alerts").get_data(as_text=True)
    assert f'id="alert-{alert.id}"' in page and "not reached" in page and "will retry &lt;soon&gt;" in page


def test_resolving_records_outcome_grade_relatedness_seriousness_and_who(client, clinician, study,
                                                                        make_patient) -> None:
    alert = alert_of(submit_pirc(make_patient(study, "A", sessions_days_ago=(2,)), FEVER))
    db.session.commit()
    response = client.post(f"/studies/{study.code}/alerts/{alert.id}/resolve", data=RESOLUTION_FORM)
    assert response.status_code == 303
    db.session.refresh(alert)
    assert alert.state == "resolved" and alert.resolved_at is not None
    resolution = alert.resolution
    assert (resolution.outcome, resolution.ctcae_grade, resolution.relatedness, resolution.serious) == (
        "advice_given", 2, "probable", False)
    assert resolution.resolved_by_id == clinician.id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "alert.resolve"))
    assert event.actor == f"staff:{clinician.id}" and event.study_id == study.id
    assert event.details["new"]["ctcae_grade"] == 2
    assert event.details["new"]["note_sha256"] == hashlib.sha256(resolution.note.encode()).hexdigest()
    assert "Phoned" not in str(event.details)  # free text stays out of the immutable trail (erasable)
    page = client.get(f"/studies/{study.code}/alerts?show=all").get_data(as_text=True)
    assert f"Resolved by {clinician.email}" in page and "GP &lt;today&gt;" in page
    assert f'id="alert-{alert.id}"' not in client.get(f"/studies/{study.code}/alerts").get_data(as_text=True)


@pytest.mark.parametrize("missing", ["outcome", "ctcae_grade", "relatedness", "serious", "note"])
def test_resolving_without_the_assessment_is_refused_and_stores_nothing(client, clinician, study,
                                                                        make_patient, missing) -> None:
    alert = alert_of(submit_pirc(make_patient(study, "A", sessions_days_ago=(2,)), FEVER))
    db.session.commit()
    data = {k: v for k, v in RESOLUTION_FORM.items() if k != missing}
    response = client.post(f"/studies/{study.code}/alerts/{alert.id}/resolve", data=data)
    assert response.status_code == 400
    assert "nothing was recorded" in response.get_data(as_text=True)
    db.session.refresh(alert)
    assert alert.state == "open" and not alert.resolutions


def test_reopening_needs_a_reason_and_brings_the_alert_back(client, clinician, study, make_patient) -> None:
    alert = alert_of(submit_pirc(make_patient(study, "A", sessions_days_ago=(2,)), FEVER))
    db.session.commit()
    client.post(f"/studies/{study.code}/alerts/{alert.id}/resolve", data=RESOLUTION_FORM)
    url = f"/studies/{study.code}/alerts/{alert.id}/reopen"
    assert client.post(url, data={"reason": "  "}).status_code == 400
    assert client.post(url, data={"reason": "Patient called back: worse."}).status_code == 303
    db.session.refresh(alert)
    assert alert.state == "open" and alert.resolved_at is None
    (resolution,) = alert.resolutions
    assert resolution.reopened_by_id == clinician.id
    assert resolution.reopen_reason == "Patient called back: worse."
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "alert.reopen")) is not None
    assert f'id="alert-{alert.id}"' in client.get(f"/studies/{study.code}/alerts").get_data(as_text=True)


def test_an_alert_is_resolved_once_and_a_resolved_alert_takes_no_attempt(study, make_patient,
                                                                          make_user) -> None:
    alert = alert_of(submit_pirc(make_patient(study, "A", sessions_days_ago=(2,)), FEVER))
    user = make_user("clinician", (study,))
    resolve_alert(db.session, alert, user, **RESOLUTION)
    with pytest.raises(AlertError, match="already"):
        resolve_alert(db.session, alert, user, **RESOLUTION)
    with pytest.raises(AlertError, match="reopen"):
        record_contact_attempt(db.session, alert, user, channel="phone", result="reached")
    with pytest.raises(AlertError, match="reopened"):
        other = alert_of(submit_pirc(make_patient(study, "B", sessions_days_ago=(2,)), FEVER))
        reopen_alert(db.session, other, user, "why")


def test_a_worse_answer_reopens_a_resolved_alert(study, make_patient, make_user) -> None:
    from surveys.domain.responses import raise_alert

    patient = make_patient(study, "A", sessions_days_ago=(2,))
    response = submit_pirc(patient, FEVER)
    alert = alert_of(response)
    resolve_alert(db.session, alert, make_user("clinician", (study,)), **RESOLUTION)
    raise_alert(db.session, response, instruments()["pirc"], {**FEVER, **BREATHING_NOW})
    assert alert.level == 3 and alert.state == "open"
    resolution = db.session.scalar(select(AlertResolution).where(AlertResolution.alert_id == alert.id))
    assert resolution.reopened_at is not None and "level rose to 3" in resolution.reopen_reason


def test_application_logs_carry_no_health_data(client, clinician, study, make_patient, caplog) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    alert = alert_of(submit_pirc(make_patient(study, "A", sessions_days_ago=(2,)), FEVER))
    db.session.commit()
    client.get(f"/studies/{study.code}/alerts")
    client.post(f"/studies/{study.code}/alerts/{alert.id}/resolve", data={**RESOLUTION_FORM,
                                                                          "note": "Antibiotics given."})
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert not re.search(r"shivery|Antibiotics|fever", logged, re.IGNORECASE)


def test_the_queue_says_what_triage_asks_beyond_the_lifecycle(client, clinician, study, make_patient) -> None:
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
    # +72 h from the start of the session's local day (issue 17), shown as that UTC instant.
    due = datetime.combine(severe.sessions[0].date + timedelta(days=3), time(), ZoneInfo(study.timezone))
    expected = f'Re-check due <time datetime="{due.astimezone(UTC).isoformat()}">'
    assert expected in card[:card.index("</article>")]
    shown = card[card.index(expected) + len(expected):card.index("</time>", card.index(expected))]
    assert shown.endswith(due.strftime("%Z")) and "UTC" not in shown  # local time, zone named
