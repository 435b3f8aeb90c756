"""The patient's questionnaire flow: one item per screen, saved at once, resumable, idempotent."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from surveys.domain.models import Alert, Answer, Response
from surveys.infra.db import db
from tests.today import local_today

ITEM = re.compile(r'name="item" value="([^"]+)"')
CODES = re.compile(r'name="answer" value="(-?\d+)"')


def screen_of(client: Any, url: str) -> tuple[str, list[int], str]:
    """GET a question screen: its item id, option codes and HTML."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    html = page.get_data(as_text=True)
    match = ITEM.search(html)
    assert match, html[:2000]
    return match.group(1), [int(c) for c in CODES.findall(html)], html


def answer_all(
    client: Any, start_url: str, choose: Any = min, limit: int = 80, one_part: bool = False
) -> list[str]:
    """Answer screen after screen from `start_url` until the questionnaire (or part) ends; the items seen."""
    url, seen = start_url, []
    for _ in range(limit):
        page = client.get(url)
        if page.status_code == 302:
            url = page.headers["Location"]
            continue
        html = page.get_data(as_text=True)
        match = ITEM.search(html)
        if match is None:
            assert "Thank you!" in html or "Merci" in html, html[:1500]
            return seen
        item = match.group(1)
        codes = [int(c) for c in CODES.findall(html)]
        seen.append(item)
        posted = client.post(url, data={"item": item, "answer": choose(codes) if codes else ""})
        assert posted.status_code == 303, (item, posted.status_code, posted.get_data(as_text=True)[:800])
        if one_part and posted.headers["Location"] != url:
            return seen
        url = posted.headers["Location"]
    raise AssertionError("the questionnaire did not end")


def responses_of(patient: Any) -> list[Response]:
    return list(db.session.scalars(select(Response).where(Response.patient_id == patient.id)))


def answer_count(patient: Any) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Answer).join(Response).where(Response.patient_id == patient.id)
    )


def test_baseline_is_asked_one_item_per_screen_and_submitted_part_by_part(client, make_patient, library):
    patient = make_patient()
    seen = answer_all(client, f"/p/{patient.token}/q/T0")
    # protocol 2.0: the systemic side effects' general block too (no session yet: no formulation blocks)
    parts = ("who5", "rses", "hair_status", "hair_stage", "systemic")
    expected = sum(len(library[p].items) for p in (*parts[:3], "systemic")) + 2  # hair_stage: 2 items
    assert len(seen) == expected
    responses = {r.instrument_id: r for r in responses_of(patient)}
    assert set(responses) == set(parts)
    assert all(r.status == "submitted" and r.submitted_at for r in responses.values())
    assert responses["who5"].score_status == "complete"
    assert answer_count(patient) == expected
    home = client.get(f"/p/{patient.token}").get_data(as_text=True)
    assert "Nothing to do right now" in home and "Before treatment" in home


def test_leaving_and_coming_back_resumes_at_the_first_unanswered_item(client, make_patient):
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    for expected in ("who5_1", "who5_2"):
        item, codes, _html = screen_of(client, url)
        assert item == expected
        client.post(url, data={"item": item, "answer": codes[0]})
    fresh = client.application.test_client()  # a new browser: no session, only the link
    item, _codes, html = screen_of(fresh, url)
    assert item == "who5_3"
    assert "Question 3 of 5" in html


def test_double_submit_and_resend_store_one_answer(client, make_patient):
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    for _ in range(3):
        assert client.post(url, data={"item": "who5_1", "answer": "4"}).status_code == 303
    assert len(responses_of(patient)) == 1
    assert answer_count(patient) == 1
    stored = db.session.scalar(select(Answer.code).where(Answer.item_id == "who5_1"))
    assert stored == 4


def test_resend_after_the_last_screen_changes_nothing(client, make_patient):
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    for number in range(1, 6):
        client.post(url, data={"item": f"who5_{number}", "answer": "3"})
    [response] = responses_of(patient)
    submitted_at = response.submitted_at
    again = client.post(url, data={"item": "who5_5", "answer": "0"})
    assert again.status_code == 303 and again.headers["Location"].endswith("/q/T0")
    db.session.refresh(response)
    assert response.submitted_at == submitted_at
    assert db.session.scalar(select(Answer.code).where(Answer.item_id == "who5_5")) == 3


def test_back_button_shows_the_previous_item_with_its_answer_kept(client, make_patient):
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    client.post(url, data={"item": "who5_1", "answer": "2"})
    back = client.post(url, data={"item": "who5_2", "nav": "back"})
    assert back.status_code == 303
    item, _codes, html = screen_of(client, url)
    assert item == "who5_1"
    assert re.search(r'value="2"\s+checked', html)
    assert answer_count(patient) == 1


def test_side_effect_details_are_asked_only_after_a_yes(client, make_patient):
    patient = make_patient(sessions_days_ago=(2,))
    url = f"/p/{patient.token}/q/S1/pirc"
    client.post(url, data={"item": "pain_present", "answer": "0"})
    assert screen_of(client, url)[0] == "redness_present"
    client.post(url, data={"item": "redness_present", "answer": "1"})
    assert screen_of(client, url)[0] == "redness_worst"
    # Changing the yes back to no drops the detail answers instead of keeping them stale.
    client.post(url, data={"item": "redness_worst", "answer": "1"})
    client.post(url, data={"item": "redness_present", "answer": "0"})
    answers = {item: code for item, code in db.session.execute(select(Answer.item_id, Answer.code))}
    assert answers == {"pain_present": 0, "redness_present": 0}


def test_follow_up_asks_only_the_red_flag_section_of_the_checklist(client, make_patient):
    patient = make_patient(enrolled_days_ago=120, sessions_days_ago=(110, 82, 54, 26))
    seen = answer_all(client, f"/p/{patient.token}/q/EOT/pirc", choose=min, one_part=True)
    assert seen and all(item.startswith("rf_") for item in seen)
    response = next(r for r in responses_of(patient) if r.instrument_id == "pirc")
    assert response.status == "submitted" and response.score_status == "complete"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"item": "nope", "answer": "1"}, "unknown item"),
        ({"item": "who5_1", "answer": "9"}, "out-of-range code"),
        ({"item": "who5_1", "answer": "x"}, "not a number"),
        ({"item": "who5_1", "answer": "3", "who5_2": "3"}, "extra field"),
        ({"item": "rses_1", "answer": "1"}, "item of another questionnaire"),
    ],
)
def test_tampered_answers_get_400_and_store_nothing(client, make_patient, data, why):
    patient = make_patient()
    page = client.post(f"/p/{patient.token}/q/T0/who5", data=data)
    assert page.status_code == 400, why
    assert "Nothing was saved" in page.get_data(as_text=True) or 'role="alert"' in page.get_data(as_text=True)
    assert responses_of(patient) == []


def test_a_hidden_follow_up_question_cannot_be_answered(client, make_patient):
    patient = make_patient(sessions_days_ago=(2,))
    url = f"/p/{patient.token}/q/S1/pirc"
    client.post(url, data={"item": "pain_present", "answer": "0"})
    page = client.post(url, data={"item": "pain_worst", "answer": "3"})
    assert page.status_code == 400
    assert answer_count(patient) == 1


def test_red_flag_items_cannot_be_posted_into_a_section_they_are_not_in(client, make_patient):
    patient = make_patient(enrolled_days_ago=120, sessions_days_ago=(110, 82, 54, 26))
    page = client.post(f"/p/{patient.token}/q/EOT/pirc", data={"item": "pain_present", "answer": "1"})
    assert page.status_code == 400
    assert responses_of(patient) == []


def test_no_answer_shows_the_error_tied_to_the_question(client, make_patient):
    patient = make_patient()
    page = client.post(f"/p/{patient.token}/q/T0/who5", data={"item": "who5_1"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert 'role="alert"' in html and 'aria-describedby="answer-error"' in html
    assert 'aria-invalid="true"' in html
    assert responses_of(patient) == []


def test_emergency_answer_shows_the_emergency_number_first_and_raises_an_alert(
    client, make_patient, make_study
):
    study = make_study(emergency_number="15", oncall_email="oncall@clinic.test")
    patient = make_patient(study, sessions_days_ago=(1,))
    url = f"/p/{patient.token}/q/S1/pirc"
    client.post(url, data={"item": "rf_breathing", "answer": "1"})
    same_day = client.get(url).get_data(as_text=True)
    assert "will contact you today" in same_day
    client.post(url, data={"item": "rf_breathing_now", "answer": "1"})
    page = client.get(url).get_data(as_text=True)
    assert "Call 15 now" in page and 'href="tel:15"' in page
    assert 'name="item"' not in page  # the advice comes before any further question
    alert = db.session.scalar(select(Alert).where(Alert.patient_id == patient.id))
    assert alert.level == 3 and [(n.kind, n.sent_at is not None) for n in alert.notices] == [
        ("raised", True), ("escalation", True)]
    assert "Call 15 now" not in client.get(url).get_data(as_text=True)  # shown once, then the questions


def test_closed_window_gets_a_kind_410_page(client, make_patient):
    patient = make_patient(sessions_days_ago=(30, 2))
    page = client.get(f"/p/{patient.token}/q/T0")
    assert page.status_code == 410
    assert "This questionnaire is closed" in page.get_data(as_text=True)
    posted = client.post(f"/p/{patient.token}/q/T0/who5", data={"item": "who5_1", "answer": "3"})
    assert posted.status_code == 410
    assert responses_of(patient) == []


def test_upcoming_window_says_when_it_opens(client, make_patient):
    patient = make_patient(sessions_days_ago=(2,))
    page = client.get(f"/p/{patient.token}/q/W12")
    assert page.status_code == 403
    assert "opens on" in page.get_data(as_text=True)


def test_unknown_timepoint_is_a_kind_404(client, make_patient):
    patient = make_patient()
    assert client.get(f"/p/{patient.token}/q/ZZ9").status_code == 404


def test_scores_page_shows_own_scores_without_bands_or_diagnoses(client, make_patient):
    patient = make_patient()
    answer_all(client, f"/p/{patient.token}/q/T0", choose=max)
    page = client.get(f"/p/{patient.token}/scores")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Well-being" in html and "<meter" in html and ">100<" in html
    assert "depression" not in html.lower() and "not a diagnosis" in html


def test_scores_page_is_hidden_when_the_study_does_not_show_scores(client, make_patient, make_study):
    study = make_study()
    study.show_scores_to_patients = False
    patient = make_patient(study)
    assert client.get(f"/p/{patient.token}/scores").status_code == 404


def test_answers_given_in_an_extended_window_are_flagged_and_keep_their_language(client, make_patient):
    from datetime import timedelta

    from surveys.domain.patients import extend_window

    patient = make_patient(enrolled_days_ago=20, sessions_days_ago=(4,))
    assert client.get(f"/p/{patient.token}/q/T0/who5").status_code == 410
    extend_window(db.session, patient, "T0", local_today() + timedelta(days=1), actor="t", reason="asked")
    db.session.commit()
    answer_all(client, f"/p/{patient.token}/q/T0/who5", one_part=True)
    response = responses_of(patient)[0]
    assert response.window_extended and response.mode == "own_device"
    languages = set(db.session.scalars(select(Answer.language).where(Answer.response_id == response.id)))
    assert languages == {"en"}


def test_a_free_text_answer_with_line_breaks_that_fits_the_box_is_accepted_without_javascript(
    client, make_patient
):
    """The browser counts a line break as one character toward maxlength and sends CR LF."""
    from instruments.scoring import TEXT_MAX_LENGTH

    patient = make_patient(sessions_days_ago=(2,))
    url = f"/p/{patient.token}/q/S1/pirc"
    lines = 40
    typed = "\n".join(["x" * (TEXT_MAX_LENGTH // lines - 1)] * lines)  # what the box counted
    assert len(typed) <= TEXT_MAX_LENGTH < len(typed.replace("\n", "\r\n"))
    posted = client.post(url, data={"item": "other", "answer": typed.replace("\n", "\r\n")})
    assert posted.status_code == 303, posted.get_data(as_text=True)[:500]
    stored = db.session.scalar(select(Answer.text).where(Answer.item_id == "other"))
    assert stored == typed  # one LF per line break, as counted


def test_the_checklist_denominator_stays_the_same_as_follow_ups_appear(client, make_patient):
    patient = make_patient(sessions_days_ago=(2,))
    url = f"/p/{patient.token}/q/S1/pirc"
    progress = re.compile(r"Question (\d+) of (\d+)")
    first = progress.search(screen_of(client, url)[2]).groups()
    client.post(url, data={"item": "pain_present", "answer": "1"})  # yes: follow-ups appear
    item, _codes, html = screen_of(client, url)
    assert item == "pain_worst"
    follow = progress.search(html).groups()
    assert follow[1] == first[1] and follow[0] == "1" and "more about it" in html
    for item_id in ("pain_worst", "pain_now", "pain_interference"):
        client.post(url, data={"item": item_id, "answer": "1"})
    item, _codes, html = screen_of(client, url)
    assert item == "redness_present"
    assert progress.search(html).groups() == ("2", first[1])


def _submit(patient, library, timepoint, instrument_id, code):
    from surveys.domain.responses import save_answers, start_response, submit_response

    inst = library[instrument_id]
    response = start_response(db.session, patient, timepoint, inst, "en")
    save_answers(db.session, response, inst, {item.id: code for item in inst.items})
    submit_response(db.session, response, inst)


def test_a_marked_fall_gets_a_supportive_sentence_and_no_praising_colour(client, make_patient, library):
    fell = make_patient(enrolled_days_ago=130, sessions_days_ago=(110, 82, 54, 26))
    _submit(fell, library, "T0", "who5", 5)
    _submit(fell, library, "EOT", "who5", 1)  # 100 -> 20: a marked fall in well-being
    steady = make_patient(enrolled_days_ago=130, sessions_days_ago=(110, 82, 54, 26))
    _submit(steady, library, "T0", "who5", 3)
    _submit(steady, library, "EOT", "who5", 3)
    fell_page = client.get(f"/p/{fell.token}/scores").get_data(as_text=True)
    steady_page = client.get(f"/p/{steady.token}/scores").get_data(as_text=True)
    assert "less good than at the start" in fell_page and "your clinic is there to help" in fell_page
    assert "less good than at the start" not in steady_page
    # one neutral colour: no optimum/low/high, so no browser paints a fall green
    for page in (fell_page, steady_page):
        meters = re.findall(r"<meter[^>]*>", page)
        assert meters and all('class="neutral"' in m and "optimum" not in m for m in meters)
