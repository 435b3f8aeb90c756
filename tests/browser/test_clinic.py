"""In the clinic: the tablet mode in a browser (a neutral screen after it ends, Back reveals nothing),
paper entry, the link page, the code page and the schedule on the patient's page, scanned by axe."""

from __future__ import annotations

from tests.browser.conftest import PHONE, answer_current, axe_violations, current_item
from tests.browser.test_staff_flows import log_in, staff_study  # noqa: F401  (the fixture)


def test_tablet_session_ends_on_a_neutral_screen_and_back_reveals_nothing(
    browser, live_server, staff_study  # noqa: F811
) -> None:
    code = staff_study["code"]

    def enroll() -> None:
        from sqlalchemy import select

        from surveys.domain.models import Study
        from surveys.domain.patients import enroll_patient
        from surveys.infra.db import db

        study = db.session.scalar(select(Study).where(Study.code == code))
        enroll_patient(db.session, study, "WAITING-ROOM", actor="test")

    live_server.run(enroll)
    tablet = browser.new_context(**PHONE)
    page = tablet.new_page()
    log_in(page, live_server.url, staff_study["coordinator"])
    page.goto(f"{live_server.url}/studies/{code}/patients/WAITING-ROOM/manage")
    assert axe_violations(page) == []
    with page.expect_navigation():
        page.get_by_role("button", name="Answer in clinic on this tablet").click()
    assert "/p/" in page.url and "Before treatment" in page.content()
    assert axe_violations(page) == []
    page.goto(f"{page.url}/q/T0")  # the baseline, in the waiting room
    first = answer_current(page, 0)
    assert first and current_item(page)
    seen_question = page.url

    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    desk = staff.new_page()
    log_in(desk, live_server.url, staff_study["coordinator"])
    desk.goto(f"{live_server.url}/studies/{code}/patients/WAITING-ROOM/manage")
    with desk.expect_navigation():
        desk.get_by_role("button", name="End the tablet session").click()
    assert "tablet session was ended" in desk.content()
    staff.close()

    page.reload()
    assert "hand the tablet back" in page.content() and current_item(page) is None
    assert axe_violations(page) == []
    for _ in range(4):  # Back, again and again: nothing of the patient comes back
        # A page load each time: the browser's own, or patient.js loading a pushed address anew
        with page.expect_navigation(wait_until="load"):
            page.go_back()
        # A page restored from the back-forward cache may then load itself anew (patient.js): wait
        # for a loaded page that is not leaving (wait_for_function follows navigations).
        page.wait_for_function(
            "() => document.readyState === 'complete' && !document.documentElement.dataset.leaving")
        text = page.content()
        if "/login" in page.url:
            break  # before the tablet session: the staff login, logged out
        assert "WAITING-ROOM" not in text and 'name="item"' not in text, page.url
        assert "Before treatment" not in text, page.url
    page.goto(seen_question)
    assert "hand the tablet back" in page.content()
    tablet.close()


def test_new_pages_are_accessible(desktop, live_server, staff_study) -> None:  # noqa: F811
    page, code = desktop, staff_study["code"]
    log_in(page, live_server.url, staff_study["coordinator"])
    patient = f"/studies/{code}/patients/FEVERISH"
    for path in (f"{patient}/link", f"{patient}/paper", f"{patient}/interview"):
        page.goto(f"{live_server.url}{path}")
        assert axe_violations(page) == [], path
    for kind, marker in (("paper", "Date the patient filled it in"), ("interview", "Read each question")):
        page.goto(f"{live_server.url}{patient}/{kind}")
        links = page.locator("td a")
        if links.count():
            links.first.click()
            page.wait_for_load_state()
            assert marker in page.content()
            assert axe_violations(page) == [], kind
    page.goto(f"{live_server.url}/code")
    assert axe_violations(page) == []
    page.get_by_label("Your code").fill("AAAA-AAAA-AA")
    with page.expect_navigation():
        page.get_by_role("button", name="Open my questionnaires").click()
    assert "This code does not work" in page.content()
    assert axe_violations(page) == []
