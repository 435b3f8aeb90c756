"""A patient on a phone: the baseline in English and French, resuming, red flags, bad links."""

from __future__ import annotations

import threading
import urllib.parse
import urllib.request
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.browser.conftest import PHONE, answer_current, answer_until_done, current_item, patient_requests

# WHO-5, RSES, hair status, pattern + one stage picture, systemic side effects (protocol 2.0)
BASELINE_SCREENS = 5 + 10 + 3 + 2 + 4
# hair_stage 2.0: the pattern's last choice is "none of these / not sure", which asks for no picture
NOT_SURE_SCREENS = BASELINE_SCREENS - 1


def stored(live_server: Any, url: str) -> tuple[int, int]:
    """How many responses and answers the patient of a link has."""
    from surveys.domain.links import open_link
    from surveys.domain.models import Answer, Response
    from surveys.infra.db import db

    def count() -> tuple[int, int]:
        patient_id = open_link(db.session, url.rsplit("/", 1)[1]).patient.id
        responses = db.session.scalar(select(func.count()).where(Response.patient_id == patient_id))
        answers = db.session.scalar(
            select(func.count()).select_from(Answer).join(Response).where(Response.patient_id == patient_id))
        return responses, answers

    return live_server.run(count)


def test_baseline_in_english_by_tapping_answers(phone, patient_link):
    url = patient_link()
    phone.goto(url)
    assert phone.locator("html").get_attribute("lang") == "en"
    with phone.expect_navigation():
        phone.get_by_role("link", name="Start").tap()
    assert phone.locator(".progress-text").inner_text().startswith("Part 1 of 5")
    seen = answer_until_done(phone, pick=1)
    assert len(seen) == BASELINE_SCREENS
    assert phone.get_by_role("heading", name="Thank you!").is_visible()
    phone.get_by_role("link", name="Back to your questionnaires").click()
    assert "Nothing to do right now" in phone.content()
    assert phone.console_errors == []


def test_baseline_in_french_after_switching_language(phone, patient_link, live_server):
    url = patient_link()
    phone.goto(url)
    with phone.expect_navigation():
        phone.get_by_role("button", name="Français").tap()
    assert phone.locator("html").get_attribute("lang") == "fr"
    with phone.expect_navigation():
        phone.get_by_role("link", name="Commencer").tap()
    assert "Au cours des deux dernières semaines" in phone.content()
    seen = answer_until_done(phone, pick=-1)
    assert len(seen) == NOT_SURE_SCREENS and "norwood" not in seen and "sinclair" not in seen
    assert phone.get_by_role("heading", name="Merci !").is_visible()
    assert phone.console_errors == []


def test_leaving_mid_questionnaire_and_coming_back_resumes(browser, patient_link):
    url = patient_link()
    first = browser.new_context(**PHONE)
    page = first.new_page()
    page.goto(f"{url}/q/T0")
    answered = [answer_current(page, 2) for _ in range(3)]
    assert answered == ["who5_1", "who5_2", "who5_3"]
    first.close()  # the phone's browser is closed
    later = browser.new_context(**PHONE)
    page = later.new_page()
    page.goto(url)
    with page.expect_navigation():
        page.get_by_role("link", name="Continue").tap()
    assert current_item(page) == "who5_4"
    with page.expect_navigation():
        page.get_by_role("button", name="Back").tap()
    assert current_item(page) == "who5_3"
    assert page.locator("label.option").nth(2).locator("input").is_checked()  # the answer was kept
    later.close()


def test_double_submit_stores_the_answer_once(phone, patient_link, live_server):
    url = patient_link()
    phone.goto(f"{url}/q/T0/who5")
    token = phone.locator('form.screen input[name="csrf_token"]').get_attribute("value")
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in phone.context.cookies())
    body = urllib.parse.urlencode({"csrf_token": token, "item": "who5_1", "answer": "3"}).encode()
    statuses: list[int] = []

    def resend() -> None:  # the same form sent again and again, as after a dropped connection
        request = urllib.request.Request(phone.url, data=body, headers={"Cookie": cookies})
        with urllib.request.urlopen(request) as reply:
            statuses.append(reply.status)

    threads = [threading.Thread(target=resend) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 4  # each followed its redirect to the next screen
    phone.reload()
    assert current_item(phone) == "who5_2"
    phone.evaluate("document.querySelectorAll('input[name=answer]')[1].checked = true")
    phone.locator(".actions button:not([name])").dblclick()  # a double tap on Next
    # The next screen arrives in place (patient.js): wait for it without evaluating a string in the
    # page, which the CSP (no 'unsafe-eval') refuses.
    phone.wait_for_selector('input[name="item"][value="who5_3"]', state="attached")
    assert stored(live_server, url) == (1, 2)


def test_red_flag_happening_now_shows_emergency_advice_at_once(phone, patient_link, live_server):
    from surveys.domain.models import Alert

    url = patient_link(sessions_days_ago=(1,), study={"emergency_number": "15"})
    phone.goto(f"{url}/q/S1/pirc")
    while current_item(phone) != "rf_breathing":
        answer_current(phone, 0)  # "No" to the local reactions
    answer_current(phone, 1)  # "Yes": difficulty breathing
    assert "will contact you today" in phone.content()
    requests = patient_requests(phone)
    answer_current(phone, 1)  # "Yes": it is happening now
    assert requests == [("POST", urllib.parse.urlsplit(phone.url).path)]  # the advice came in its reply
    heading = phone.get_by_role("heading", level=1)
    assert heading.inner_text() == "Call 15 now"
    assert phone.evaluate("document.activeElement.tagName") == "H1"  # read out first
    assert phone.get_by_role("link", name="Call 15").get_attribute("href") == "tel:15"
    assert current_item(phone) is None
    assert live_server.run(lambda: __import__("surveys.infra.db").infra.db.db.session.scalar(
        select(func.max(Alert.level)))) == 3
    with phone.expect_navigation():
        phone.get_by_role("link", name="Continue the questionnaire").tap()
    assert current_item(phone) == "rf_airway_swelling"


def test_closed_window_and_revoked_link_get_kind_pages(phone, patient_link, live_server):
    url = patient_link(sessions_days_ago=(30, 2))
    reply = phone.goto(f"{url}/q/T0")
    assert reply.status == 410
    assert phone.get_by_role("heading", name="This questionnaire is closed").is_visible()

    def reissue() -> None:
        from surveys.domain.links import issue_link, open_link
        from surveys.domain.models import Patient
        from surveys.infra.db import db

        opened = open_link(db.session, url.rsplit("/", 1)[1])
        issue_link(db.session, db.session.get_one(Patient, opened.patient.id))

    live_server.run(reissue)
    reply = phone.goto(url)
    assert reply.status == 403
    assert phone.get_by_role("heading", name="This link no longer works").is_visible()


@pytest.mark.parametrize("lang", ["en"])
def test_whole_part_works_without_javascript(browser, patient_link, lang):
    context = browser.new_context(java_script_enabled=False, **PHONE)
    page = context.new_page()
    url = patient_link(language=lang)
    page.goto(f"{url}/q/T0/who5")
    page.locator(".actions button:not([name])").click()  # Next without an answer
    assert page.get_by_role("alert").inner_text() == "Please choose an answer, then press Next."
    requests = patient_requests(page)
    seen = []
    while current_item(page) and current_item(page).startswith("who5"):
        seen.append(answer_current(page, 3, tap=False))
    assert seen == ["who5_1", "who5_2", "who5_3", "who5_4", "who5_5"]
    assert current_item(page) == "rses_1"
    who5 = urllib.parse.urlsplit(f"{url}/q/T0/who5").path
    # post/redirect/get: each answer is a POST and the GET of the page it redirects to
    assert requests[:2] == [("POST", who5), ("GET", who5)]
    assert [method for method, _path in requests].count("POST") == 5
    assert requests[-3:] == [("POST", who5), ("GET", who5.replace("/who5", "")), ("GET", f"{who5[:-4]}rses")]
    context.close()


def test_each_answer_is_one_post_whose_reply_is_the_next_screen(phone, patient_link):
    url = patient_link()
    phone.goto(f"{url}/q/T0")
    requests = patient_requests(phone)
    seen = answer_until_done(phone, pick=2)  # the pattern's third choice: not sure, no picture
    assert len(seen) == NOT_SURE_SCREENS
    assert [method for method, _path in requests] == ["POST"] * NOT_SURE_SCREENS  # no GET in between
    base = urllib.parse.urlsplit(url).path
    assert {path for _method, path in requests} == {f"{base}/q/T0/{part}" for part in (
        "who5", "rses", "hair_status", "hair_stage", "systemic")}
    assert phone.get_by_role("heading", name="Thank you!").is_visible()
    assert urllib.parse.urlsplit(phone.url).path == f"{base}/q/T0"  # the address of the page shown
    assert phone.title().startswith("Thank you")
    assert phone.evaluate("document.activeElement.textContent") == "Thank you!"
    assert phone.locator("script[src$='patient.js']").count() == 0  # the swapped page never loads it twice
    assert phone.console_errors == []


def test_back_and_forward_after_answers_sent_by_the_script(phone, patient_link, live_server):
    url = patient_link()
    phone.goto(f"{url}/q/T0/who5")
    for _ in range(3):
        answer_current(phone, 2)
    assert current_item(phone) == "who5_4"
    with phone.expect_navigation():
        phone.get_by_role("button", name="Back").tap()  # the screen's own Back: the answer is kept
    assert current_item(phone) == "who5_3"
    assert phone.locator("label.option").nth(2).locator("input").is_checked()
    assert phone.evaluate("document.activeElement.tagName") == "H1"
    answer_current(phone, 3)  # a changed answer (a tap on the kept one changes nothing: Next would)
    answer_current(phone, 2)
    answer_current(phone, 2)  # the last WHO-5 question: on to the next part, at its own address
    assert current_item(phone) == "rses_1" and phone.url.endswith("/q/T0/rses")
    requests = patient_requests(phone)
    phone.go_back()  # the browser's Back: the address before is loaded as an ordinary page
    phone.wait_for_url("**/q/T0/rses")
    assert requests and requests[0] == ("GET", urllib.parse.urlsplit(f"{url}/q/T0/who5").path)
    assert current_item(phone) == "rses_1"  # WHO-5 is done: the server shows where the patient stands
    assert stored(live_server, url) == (1, 5)  # nothing sent twice, nothing lost
    phone.go_forward()
    phone.wait_for_url("**/q/T0/rses")
    assert current_item(phone) == "rses_1"
    answer_current(phone, 1)
    assert current_item(phone) == "rses_2"
    assert stored(live_server, url) == (2, 6)
    assert phone.console_errors == []


def test_refused_answers_fall_back_to_the_ordinary_form_and_its_pages(phone, patient_link, live_server):
    url = patient_link()
    phone.goto(f"{url}/q/T0/who5")
    who5 = urllib.parse.urlsplit(phone.url).path
    requests = patient_requests(phone)
    with phone.expect_navigation():
        phone.locator(".actions button:not([name])").click()  # Next without an answer: a 400
    assert requests == [("POST", who5), ("POST", who5)]  # the script's try, then the form itself
    assert phone.get_by_role("alert").inner_text() == "Please choose an answer, then press Next."
    phone.evaluate("document.querySelector('form.screen input[name=csrf_token]').value = 'stale'")
    requests.clear()
    with phone.expect_navigation(url=f"**{who5}"):
        phone.locator("label.option").nth(1).tap()  # refused by the CSRF check: a 303 to the screen
    phone.wait_for_selector("text=could not be saved")
    assert requests == [("POST", who5), ("POST", who5), ("GET", who5)]  # the script's try, the form, PRG
    assert current_item(phone) == "who5_1" and stored(live_server, url) == (0, 0)
    answer_current(phone, 1)  # and the next answer goes through the script again
    assert current_item(phone) == "who5_2" and stored(live_server, url) == (1, 1)


def test_switching_to_french_mid_rosenberg_keeps_place_progress_and_answers(phone, patient_link, live_server):
    """RSES orders its items differently in French: the part keeps the order it was started in."""
    url = patient_link()
    phone.goto(f"{url}/q/T0/rses")
    answered = [answer_current(phone, 1) for _ in range(5)]
    assert answered == ["rses_1", "rses_2", "rses_3", "rses_4", "rses_5"]
    assert "Question 6 of 10" in phone.locator(".progress-text").inner_text()
    with phone.expect_navigation():
        phone.get_by_role("button", name="Français").tap()
    assert phone.locator("html").get_attribute("lang") == "fr"
    assert current_item(phone) == "rses_6"  # the same place
    assert "Question 6 sur 10" in phone.locator(".progress-text").inner_text()  # the same progress
    rest = [answer_current(phone, 2) for _ in range(5)]
    assert rest == ["rses_6", "rses_7", "rses_8", "rses_9", "rses_10"]  # no answered item again
    assert not (current_item(phone) or "").startswith("rses")  # the part ended after 10 screens

    def languages() -> dict[str, str]:
        from surveys.domain.links import open_link
        from surveys.domain.models import Answer, Response
        from surveys.infra.db import db

        patient_id = open_link(db.session, url.rsplit("/", 1)[1]).patient.id
        rows = db.session.execute(select(Answer.item_id, Answer.language).join(Response)
                                  .where(Response.patient_id == patient_id, Response.instrument_id == "rses"))
        return dict(rows.all())

    recorded = live_server.run(languages)
    assert len(recorded) == 10
    assert {recorded[f"rses_{n}"] for n in range(1, 6)} == {"en"}
    assert {recorded[f"rses_{n}"] for n in range(6, 11)} == {"fr"}
