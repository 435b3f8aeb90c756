"""Answers sent by patient.js: one round trip, the next page in the reply, everything else unchanged."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from surveys.domain.models import Alert, Answer, Response
from surveys.infra.db import db
from surveys.patient.views import PAGE_ADDRESS_HEADER, SCREEN_FETCH_HEADER
from tests.conftest import statements_run
from tests.surveys.test_patient_flow import ITEM, answer_count, responses_of

SCRIPT = {SCREEN_FETCH_HEADER: "1"}


def send(client: Any, url: str, **data: Any) -> Any:
    """Post an answer as patient.js does."""
    return client.post(url, data=data, headers=SCRIPT)


def item_of(reply: Any) -> str | None:
    match = ITEM.search(reply.get_data(as_text=True))
    return match.group(1) if match else None


def test_answer_sent_by_the_script_gets_the_next_screen_and_its_address(client, make_patient):
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    reply = send(client, url, item="who5_1", answer="4")
    assert reply.status_code == 200
    assert reply.headers[PAGE_ADDRESS_HEADER] == url
    assert item_of(reply) == "who5_2"
    assert SCREEN_FETCH_HEADER in reply.headers["Vary"]
    assert reply.headers["Cache-Control"] == "no-store"
    assert db.session.scalar(select(Answer.code).where(Answer.item_id == "who5_1")) == 4
    assert client.get(url).get_data(as_text=True) == reply.get_data(as_text=True)  # what the GET shows


def test_the_next_screen_does_not_carry_the_answer_just_sent(client, make_patient):
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    html = send(client, url, item="who5_1", answer="4").get_data(as_text=True)
    assert "checked" not in html
    back = send(client, url, item="who5_2", nav="back")  # the back button keeps the answer given
    assert back.headers[PAGE_ADDRESS_HEADER] == url and item_of(back) == "who5_1"
    assert re.search(r'value="4"\s+checked', back.get_data(as_text=True))


def test_a_finished_part_leads_to_the_next_part_at_its_own_address(client, make_patient):
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    for number in range(1, 6):
        reply = send(client, url, item=f"who5_{number}", answer="3")
    rses = f"/p/{patient.token}/q/T0/rses"
    assert reply.status_code == 200 and reply.headers[PAGE_ADDRESS_HEADER] == rses
    html = reply.get_data(as_text=True)
    assert item_of(reply) == "rses_1"
    assert f'action="{rses}"' in html  # the next answer goes to the next part
    assert f'name="next" value="{rses}"' in html  # and so does the language switch
    assert "Part 2 of 5" in html  # protocol 2.0: the systemic side effects are the fifth part


def test_the_last_answer_gets_the_thank_you_page(client, make_patient):
    patient = make_patient()
    url, seen = f"/p/{patient.token}/q/T0", []
    reply = client.get(url, follow_redirects=True)
    address = f"/p/{patient.token}/q/T0/who5"
    while item_of(reply):
        seen.append(item_of(reply))
        html = reply.get_data(as_text=True)
        codes = re.findall(r'name="answer" value="(-?\d+)"', html)
        reply = send(client, address, item=seen[-1], answer=codes[0] if codes else "")
        assert reply.status_code == 200, reply.get_data(as_text=True)[:500]
        address = reply.headers[PAGE_ADDRESS_HEADER]
    assert address == url
    assert "Thank you!" in reply.get_data(as_text=True)
    assert len(seen) == 24 and all(r.status == "submitted" for r in responses_of(patient))


def test_emergency_advice_comes_first_in_the_reply_and_the_alert_is_raised(client, make_patient, make_study):
    study = make_study(emergency_number="15", oncall_email="oncall@clinic.test")
    patient = make_patient(study, sessions_days_ago=(1,))
    url = f"/p/{patient.token}/q/S1/pirc"
    same_day = send(client, url, item="rf_breathing", answer="1")
    assert same_day.headers[PAGE_ADDRESS_HEADER] == url
    assert "will contact you today" in same_day.get_data(as_text=True)
    emergency = send(client, url, item="rf_breathing_now", answer="1")
    html = emergency.get_data(as_text=True)
    assert emergency.status_code == 200 and emergency.headers[PAGE_ADDRESS_HEADER] == url
    assert "Call 15 now" in html and 'href="tel:15"' in html
    assert 'name="item"' not in html  # the advice comes before any further question
    assert f'href="{url}"' in html  # "Continue the questionnaire"
    alert = db.session.scalar(select(Alert).where(Alert.patient_id == patient.id))
    assert alert.level == 3 and [(n.kind, n.sent_at is not None) for n in alert.notices] == [
        ("raised", True), ("escalation", True)]
    assert item_of(client.get(url)) == "rf_airway_swelling"  # shown once, then the questions


@pytest.mark.parametrize("scripted", [True, False])
def test_a_resent_emergency_answer_shows_the_advice_again(client, make_patient, make_study, scripted):
    # The reply that carried the advice was lost (bad network): the resend raises nothing new,
    # and must still put the advice first rather than the next question.
    study = make_study(emergency_number="15")
    patient = make_patient(study, sessions_days_ago=(1,))
    url = f"/p/{patient.token}/q/S1/pirc"
    post = send if scripted else (lambda c, u, **data: c.post(u, data=data, follow_redirects=True))
    post(client, url, item="rf_breathing", answer="1")
    for _attempt in range(2):
        html = post(client, url, item="rf_breathing_now", answer="1").get_data(as_text=True)
        assert "Call 15 now" in html and 'name="item"' not in html
    alert = db.session.scalar(select(Alert).where(Alert.patient_id == patient.id))
    assert alert.level == 3 and alert.reasons.count("rf_breathing_now") == 1
    html = post(client, url, item="rf_airway_swelling", answer="0").get_data(as_text=True)
    assert "Call 15 now" not in html  # another answer moves on


def test_a_resent_answer_is_stored_once(client, make_patient):
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    replies = [send(client, url, item="who5_1", answer="2") for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 200]
    assert {item_of(r) for r in replies} == {"who5_2"}
    assert len(responses_of(patient)) == 1 and answer_count(patient) == 1


def test_a_resend_after_the_last_screen_gets_the_next_part(client, make_patient):
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    for number in range(1, 6):
        send(client, url, item=f"who5_{number}", answer="3")
    again = send(client, url, item="who5_5", answer="0")
    assert again.status_code == 200 and again.headers[PAGE_ADDRESS_HEADER].endswith("/q/T0/rses")
    assert db.session.scalar(select(Answer.code).where(Answer.item_id == "who5_5")) == 3


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"item": "who5_1"}, 400),  # no answer: the screen again, with the error
        ({"item": "who5_1", "answer": "9"}, 400),  # out of range
        ({"item": "nope", "answer": "1"}, 400),  # tampered
        ({"item": "who5_1", "answer": "3", "who5_2": "3"}, 400),  # extra field
    ],
)
def test_refused_answers_get_the_same_error_pages(client, make_patient, data, status):
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    by_script = send(client, url, **data)
    plain = client.post(url, data=data)
    assert by_script.status_code == plain.status_code == status
    assert PAGE_ADDRESS_HEADER not in by_script.headers
    assert by_script.get_data(as_text=True) == plain.get_data(as_text=True)
    assert responses_of(patient) == []


def test_closed_windows_and_bad_links_get_the_same_kind_pages(client, make_patient):
    closed = make_patient(sessions_days_ago=(30, 2))
    reply = send(client, f"/p/{closed.token}/q/T0/who5", item="who5_1", answer="3")
    assert reply.status_code == 410 and PAGE_ADDRESS_HEADER not in reply.headers
    assert "This questionnaire is closed" in reply.get_data(as_text=True)
    assert send(client, "/p/not-a-link/q/T0/who5", item="who5_1", answer="3").status_code == 404
    assert responses_of(closed) == []


def test_only_the_script_header_changes_the_reply(client, make_patient):
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    plain = client.post(url, data={"item": "who5_1", "answer": "1"}, headers={SCREEN_FETCH_HEADER: "yes"})
    assert plain.status_code == 303 and plain.headers["Location"] == url


def test_an_answer_by_the_script_costs_one_statement_more_than_the_plain_post(client, make_patient):
    """The reply re-reads the patient's statuses and answers once; the link is not looked up again."""
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    client.post(url, data={"item": "who5_1", "answer": "1"})
    with statements_run(only_selects=True) as plain:
        client.post(url, data={"item": "who5_2", "answer": "1"})
    with statements_run(only_selects=True) as by_script:
        send(client, url, item="who5_3", answer="1")
    with statements_run(only_selects=True) as get:
        client.get(url)
    assert len(by_script) == len(plain) + 1 < len(plain) + len(get)


def test_a_question_screen_reads_the_database_in_two_statements(client, make_patient):
    patient = make_patient(sessions_days_ago=(2,))
    url = f"/p/{patient.token}/q/S1/pirc"
    send(client, url, item="pain_present", answer="1")
    with statements_run(only_selects=True) as selects:
        assert client.get(url).status_code == 200
    assert len(selects) == 2  # the link with patient, study and sessions; statuses with answers


def test_showing_a_screen_leaves_the_session_cookie_alone(client, make_patient):
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    assert "Set-Cookie" not in client.get(url).headers  # the form token comes from the link, not a cookie
    assert "Set-Cookie" not in client.get(url).headers  # nothing changed: nothing re-signed
    assert "Set-Cookie" in client.post(url, data={"item": "who5_1", "answer": "1"}).headers  # the cursor
    assert "Set-Cookie" not in client.get(url).headers
    assert db.session.scalar(select(Response.status)) == "in_progress"
