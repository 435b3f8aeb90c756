"""Staff in a desktop browser: a coordinator enrolls a patient and records a contact attempt on an
alert; a clinician resolves it with a grade and an outcome, and reopens it."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import select

from tests.browser.conftest import axe_violations
from tests.conftest import TEST_PASSWORD

_numbers = itertools.count(1)


@pytest.fixture
def staff_study(live_server: Any) -> dict[str, Any]:
    """A fresh study with a coordinator and a clinician, and a patient whose fever raised an alert."""
    from datetime import timedelta

    from surveys.domain.accounts import create_user
    from surveys.domain.patients import enroll_patient, record_session
    from surveys.domain.studies import create_study
    from surveys.infra.db import db, utcnow
    from surveys.infra.library import instruments
    from tests.surveys.staff_world import FEVER, alert_of, submit_pirc

    n = next(_numbers)

    def build() -> dict[str, Any]:
        study = create_study(db.session, f"BRW{n}", f"Browser study {n}", instruments(), actor="test")
        coordinator = create_user(db.session, f"coord{n}@browser.test", TEST_PASSWORD, "coordinator", [study])
        clinician = create_user(db.session, f"clin{n}@browser.test", TEST_PASSWORD, "clinician", [study])
        patient, _token = enroll_patient(db.session, study, "FEVERISH", actor="test",
                                         enrolled_at=utcnow() - timedelta(days=10))
        record_session(db.session, patient, actor="test", number=1, day=(utcnow() - timedelta(days=2)).date())
        alert = alert_of(submit_pirc(patient, FEVER))
        return {"code": study.code, "coordinator": coordinator.email, "clinician": clinician.email,
                "alert": alert.id}

    return live_server.run(build)


def unexpected(errors: list[str]) -> list[str]:
    """Console errors other than the 400 answers to the bad inputs these tests send on purpose."""
    return [e for e in errors if "status of 400" not in e]


def log_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def test_a_coordinator_enrolls_a_patient_and_prints_the_handout(desktop, live_server, staff_study) -> None:
    page, code = desktop, staff_study["code"]
    log_in(page, live_server.url, staff_study["coordinator"])
    page.get_by_role("link", name="Patients").first.click()
    page.get_by_role("link", name="Enroll a patient").click()
    assert axe_violations(page) == []
    page.get_by_label("Patient code").fill("NEW PATIENT")  # a space: refused with a message
    with page.expect_navigation():
        page.get_by_role("button", name="Enroll").click()
    assert "The patient code must be" in page.content()
    page.get_by_label("Patient code").fill("WEB-001")
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Birth year").fill("1988")
    page.get_by_label("Diagnosis").select_option("female_pattern_hair_loss")
    page.get_by_label("Prior treatments").fill("minoxidil\nPRP")
    page.get_by_label("Preferred language").select_option("fr")
    with page.expect_navigation():
        page.get_by_role("button", name="Enroll").click()
    assert page.get_by_role("heading", name="Your questionnaires · Browser study").is_visible()
    assert page.get_by_role("img", name="QR code of the personal link").is_visible()
    link = page.get_by_label("Personal link").input_value()
    assert link.startswith(f"{live_server.url}/p/")
    assert axe_violations(page) == []
    assert unexpected(page.console_errors) == []

    patient_page = page.context.new_page()
    assert patient_page.goto(link).status == 200  # the printed link opens the patient's home

    from surveys.domain.models import Patient
    from surveys.infra.db import db

    stored = live_server.run(lambda: db.session.scalar(
        select(Patient.birth_year).where(Patient.code == "WEB-001")))
    assert stored == 1988
    page.goto(f"{live_server.url}/studies/{code}/patients")
    assert "WEB-001" in page.content()


def test_not_reached_keeps_an_alert_open_until_a_clinician_resolves_it_and_reopening_brings_it_back(
        desktop, live_server, staff_study) -> None:
    page, code, alert_id = desktop, staff_study["code"], staff_study["alert"]
    log_in(page, live_server.url, staff_study["coordinator"])
    page.goto(f"{live_server.url}/studies/{code}/alerts")
    card = page.locator(f"#alert-{alert_id}")
    assert "FEVERISH" in card.inner_text() and "fever of 38" in card.inner_text()
    assert "<script>alert('x')</script> felt hot & shivery" in card.inner_text()  # shown as text, not run
    assert card.get_by_role("button", name=f"Resolve alert #{alert_id}").count() == 0  # coordinators do not
    card.get_by_text("Record a contact attempt").click()
    assert axe_violations(page) == []
    card.get_by_label("not reached").check()
    card.get_by_label("Note").fill("No answer; will call again at 14:00.")
    with page.expect_navigation():
        card.get_by_role("button", name=f"Record the attempt on alert #{alert_id}").click()
    assert "stays open until resolved" in page.content()
    card = page.locator(f"#alert-{alert_id}")  # still in the queue of alerts not resolved
    assert "in progress" in card.inner_text() and "No answer; will call again" in card.inner_text()

    page.context.clear_cookies()
    log_in(page, live_server.url, staff_study["clinician"])
    page.goto(f"{live_server.url}/studies/{code}/alerts")
    card = page.locator(f"#alert-{alert_id}")
    card.get_by_text("Resolve", exact=True).click()
    assert axe_violations(page) == []
    with page.expect_navigation():
        card.get_by_role("button", name=f"Resolve alert #{alert_id}").click()
    assert "nothing was recorded" in page.content()  # outcome, grade and the rest are required
    card = page.locator(f"#alert-{alert_id}")  # the refused form is open again, ready to complete
    card.get_by_label("Outcome").select_option("seen_in_clinic")
    card.get_by_label("Grade of the event").select_option("2")
    card.get_by_label("Relatedness to the treatment").select_option("probable")
    card.get_by_label("no", exact=True).check()
    card.get_by_label("Resolution note").fill("Seen today; local infection, antibiotics.")
    with page.expect_navigation():
        card.get_by_role("button", name=f"Resolve alert #{alert_id}").click()
    assert f"Alert #{alert_id} resolved." in page.content()
    assert page.locator(f"#alert-{alert_id}").count() == 0
    page.get_by_role("link", name="Show resolved alerts too").click()
    card = page.locator(f"#alert-{alert_id}")
    assert "seen in clinic" in card.inner_text() and "Seen today; local infection" in card.inner_text()
    card.get_by_text("Reopen", exact=True).click()
    card.get_by_label("Reason for reopening").fill("Patient called back: fever again.")
    with page.expect_navigation():
        card.get_by_role("button", name=f"Reopen alert #{alert_id}").click()
    assert f"Alert #{alert_id} reopened." in page.content()
    page.goto(f"{live_server.url}/studies/{code}/alerts")
    assert "Patient called back: fever again." in page.locator(f"#alert-{alert_id}").inner_text()
    assert unexpected(page.console_errors) == []

    from surveys.domain.models import Alert, AlertResolution
    from surveys.infra.db import db

    def stored() -> tuple:
        alert = db.session.get(Alert, alert_id)
        resolution = db.session.scalar(select(AlertResolution).where(AlertResolution.alert_id == alert_id))
        return (alert.state, resolution.outcome, resolution.ctcae_grade, resolution.relatedness,
                resolution.serious)

    assert live_server.run(stored) == ("in_progress", "seen_in_clinic", 2, "probable", False)
