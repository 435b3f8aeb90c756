"""Every patient page type passes axe-core (no serious or critical violation) and reflows at 320 px."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import answer_current, axe_violations, current_item

BASELINE = {
    "who5": {f"who5_{n}": 3 for n in range(1, 6)},
    "rses": {f"rses_{n}": 2 for n in range(1, 11)},
    "hair_status": {"thinning": 6, "hair_bother": 7, "shedding_amount": 3},
    "hair_stage": {"pattern": 2, "sinclair": 3},
    "systemic": {"dizziness": 0, "palpitations": 0, "numbness": 0, "more_shedding": 1},
}


def seed(live_server: Any, url: str, timepoint: str, answers: dict[str, dict[str, Any]],
         submit: bool = True) -> None:
    """Store answers through the services, as if the patient had answered on another day."""

    def store() -> None:
        from surveys.domain.links import open_link
        from surveys.domain.responses import save_answers, start_response, submit_response
        from surveys.infra.db import db
        from surveys.infra.library import instruments

        patient = open_link(db.session, url.rsplit("/", 1)[1]).patient
        for instrument_id, values in answers.items():
            instrument = instruments()[instrument_id]
            response = start_response(db.session, patient, timepoint, instrument, "en")
            save_answers(db.session, response, instrument, values)
            if submit:
                submit_response(db.session, response, instrument)

    live_server.run(store)


def assert_accessible(page: Any, what: str, status: int = 200) -> None:
    assert axe_violations(page) == [], what
    own = f"the server responded with a status of {status} "  # the page itself, said on purpose
    assert [e for e in page.console_errors if own not in e] == [], what
    page.console_errors.clear()


def test_the_scan_does_find_violations(phone, patient_link):
    phone.goto(patient_link())
    phone.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<input type=text>')")
    assert {v["id"] for v in axe_violations(phone)} == {"label"}


def test_home_question_error_done_and_scores_pages(phone, patient_link, live_server):
    url = patient_link()
    phone.goto(url)
    assert_accessible(phone, "home")
    phone.goto(f"{url}/q/T0/who5")
    assert_accessible(phone, "question screen")
    with phone.expect_navigation():
        phone.locator(".actions button:not([name])").click()  # Next without an answer
    assert phone.get_by_role("alert").is_visible()
    assert_accessible(phone, "question with an error", 400)
    seed(live_server, url, "T0", BASELINE)
    phone.goto(f"{url}/q/T0")
    assert phone.get_by_role("heading", name="Thank you!").is_visible()
    assert_accessible(phone, "done")
    phone.goto(f"{url}/scores")
    assert phone.get_by_role("heading", name="Well-being").is_visible()
    assert_accessible(phone, "scores")


def test_conditional_picture_and_emergency_screens(phone, patient_link, live_server):
    url = patient_link(sessions_days_ago=(1,))
    phone.goto(f"{url}/q/S1/pirc")
    answer_current(phone, 1)  # yes: pain
    assert current_item(phone) == "pain_worst"
    assert_accessible(phone, "conditional screen")
    seed(live_server, url, "S1", {"pirc": {f"{s}_present": 0 for s in (
        "pain", "redness", "swelling", "bruising", "itch", "headache")}}, submit=False)
    phone.goto(f"{url}/q/S1/pirc")
    assert current_item(phone) == "rf_breathing"
    answer_current(phone, 1)
    assert_accessible(phone, "same-day notice")
    answer_current(phone, 1)
    assert phone.get_by_role("heading", name="Call 112 now").is_visible()
    assert_accessible(phone, "emergency")

    baseline = patient_link()
    seed(live_server, baseline, "T0", {k: v for k, v in BASELINE.items() if k != "hair_stage"})
    seed(live_server, baseline, "T0", {"hair_stage": {"pattern": 2}}, submit=False)
    phone.goto(f"{baseline}/q/T0/hair_stage")
    assert phone.locator("label.option img").count() == 5
    assert_accessible(phone, "picture choices")


def test_closed_revoked_and_unknown_link_pages(phone, patient_link, live_server):
    url = patient_link(sessions_days_ago=(30, 2))
    phone.goto(f"{url}/q/T0")
    assert_accessible(phone, "closed", 410)
    phone.goto(f"{url}/q/W12")
    assert_accessible(phone, "not open yet", 403)

    def reissue() -> None:
        from surveys.domain.links import issue_link, open_link
        from surveys.domain.models import Patient
        from surveys.infra.db import db

        opened = open_link(db.session, url.rsplit("/", 1)[1])
        issue_link(db.session, db.session.get_one(Patient, opened.patient.id))

    live_server.run(reissue)
    phone.goto(url)
    assert_accessible(phone, "revoked", 403)
    phone.goto(f"{live_server.url}/p/this-is-not-a-link")
    assert_accessible(phone, "unknown link", 404)


@pytest.fixture
def narrow(browser: Any) -> Any:
    """320 CSS pixels wide: a 640 px phone at 200 % zoom (WCAG 1.4.10 reflow)."""
    context = browser.new_context(viewport={"width": 320, "height": 640}, has_touch=True, is_mobile=True)
    page = context.new_page()
    yield page
    context.close()


def fits_and_targets_are_big(page: Any) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"horizontal scrolling on {page.url}"
    targets_selectors = ("label.option", ".actions .button", ".actions button", ".p-lang button",
                         ".card .button")
    for selector in targets_selectors:
        targets = page.locator(selector)
        for box in (targets.nth(i).bounding_box() for i in range(targets.count())):
            assert box["height"] >= 44 and box["width"] >= 44, (selector, box)


def test_pages_reflow_at_320_pixels_with_44_pixel_targets(narrow, patient_link, live_server):
    url = patient_link()
    narrow.goto(url)
    fits_and_targets_are_big(narrow)
    narrow.goto(f"{url}/q/T0/hair_status")
    fits_and_targets_are_big(narrow)
    seed(live_server, url, "T0", {"hair_stage": {"pattern": 1}}, submit=False)
    narrow.goto(f"{url}/q/T0/hair_stage")
    assert narrow.locator("label.option img").count() == 12
    fits_and_targets_are_big(narrow)


def test_the_consent_page_passes_axe_and_leads_to_the_questionnaire(phone, patient_link, live_server):
    url = patient_link()

    def ask_consent_on_the_phone() -> None:
        from surveys.domain.consent import add_version
        from surveys.domain.links import open_link
        from surveys.domain.models import Study
        from surveys.infra.db import db

        study = db.session.get(Study, open_link(db.session, url.rsplit("/", 1)[1]).study.id)
        study.consent_on_phone = True
        add_version(db.session, study, "1", "You agree to answer.\n\nYou may stop at any time.",
                    "Vous acceptez de répondre.", requires_reconsent=False, actor="test")

    live_server.run(ask_consent_on_the_phone)
    phone.goto(f"{url}/q/T0")
    assert phone.url.endswith("/consent") and "You may stop at any time" in phone.content()
    assert_accessible(phone, "consent")
    with phone.expect_navigation():
        phone.click("button[name=accept]")
    phone.goto(f"{url}/q/T0")
    assert "/q/T0/" in phone.url
