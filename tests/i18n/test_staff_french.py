"""The staff side in French: the browser's language by default, the account's preference over it,
dates and numbers per locale in the study's zone, and the patient's language on the patient's papers."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from typing import Any

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from surveys.domain.models import AuditEvent
from surveys.infra.db import db
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")
FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}


@pytest.fixture
def coordinator(client: Any, login: Any, make_user: Any, make_study: Any) -> Any:
    study = make_study("PARIS")
    user = make_user("coordinator", (study,))
    login(user)
    user.study = study
    db.session.commit()
    return user


def page(client: Any, url: str, **headers: str) -> str:
    response = client.get(url, headers=headers or FRENCH)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def test_a_french_browser_gets_the_staff_pages_in_french(client, coordinator, make_patient) -> None:
    make_patient(coordinator.study, "P-1", sessions_days_ago=(3,))
    db.session.commit()
    code = coordinator.study.code
    assert 'lang="fr"' in page(client, "/")
    patients = page(client, f"/studies/{code}/patients")
    assert "Trouver un patient par son code" in patients and "Find a patient" not in patients
    worklist = page(client, f"/studies/{code}/worklist")
    assert "Ouvert jusqu&#39;au" in worklist or "Ouvert jusqu'au" in worklist
    manage = page(client, f"/studies/{code}/patients/P-1/manage")
    assert "Séances de traitement" in manage and "Treatment sessions" not in manage
    assert "Numéro de séance" in manage  # a form label (lazy_gettext)


def test_the_account_preference_wins_over_the_browser(client, coordinator) -> None:
    response = client.post("/account/language", data={"language": "en", "next": "/"}, headers=FRENCH)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    db.session.refresh(coordinator)
    assert coordinator.language == "en"
    assert "Studies" in page(client, "/") and 'lang="en"' in page(client, "/")
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.language")).one()
    assert event.details == {"old": None, "new": "en"}
    client.post("/account/language", data={"language": "fr"})  # an English browser, a French account
    assert "Études" in page(client, "/", **{"Accept-Language": "en"})
    client.post("/account/language", data={"language": ""})  # back to the browser's choice
    db.session.refresh(coordinator)
    assert coordinator.language is None
    assert "Études" in page(client, "/") and "Studies" in page(client, "/", **{"Accept-Language": "en"})


def test_a_bad_language_is_refused_and_changes_nothing(client, coordinator) -> None:
    response = client.post("/account/language", data={"language": "de"}, headers=FRENCH)
    assert response.status_code == 302
    db.session.refresh(coordinator)
    assert coordinator.language is None


def test_the_preference_does_not_touch_the_patient_pages(client, coordinator, make_patient) -> None:
    patient = make_patient(coordinator.study, "P-EN", language="en")
    db.session.commit()
    client.post("/account/language", data={"language": "fr"})
    response = client.get(f"/p/{patient.token}", follow_redirects=True, headers=FRENCH)
    assert 'lang="en"' in response.get_data(as_text=True)


def test_dates_and_numbers_follow_the_locale_and_the_study_zone(client, coordinator, make_patient) -> None:
    from surveys.infra.formatting import last_open_day, local_datetime, number

    with client.application.test_request_context(), force_locale("fr"):
        assert number(1234.5) == "1\u202f234,5"
        assert local_datetime(datetime(2026, 12, 2, 13, 5, tzinfo=UTC), "Europe/Paris") == (
            "2 déc. 2026 14:05 CET")
        assert local_datetime(datetime(2026, 7, 2, 13, 5, tzinfo=UTC), "Europe/Paris") == (
            "2 juil. 2026 15:05 CEST")
        # a window closing at local midnight starting 2 December is open until 1 December
        assert last_open_day(datetime(2026, 12, 1, 23, 0, tzinfo=UTC), "Europe/Paris") == "1 déc. 2026"
    with client.application.test_request_context(), force_locale("en"):
        assert number(1234.5) == "1,234.5"
        assert (local_datetime(datetime(2026, 12, 2, 13, 5, tzinfo=UTC), "America/New_York")
                == "Dec 2, 2026 8:05\u202fAM EST")


def test_the_handout_is_in_the_patients_language_whatever_the_staff_language(client, coordinator,
                                                                            make_patient) -> None:
    make_patient(coordinator.study, "P-EN", language="en")
    make_patient(coordinator.study, "P-FR", language="fr")
    db.session.commit()
    code = coordinator.study.code
    english = client.post(f"/studies/{code}/patients/P-EN/link", headers=FRENCH).get_data(as_text=True)
    staff_part, sheet = english.split('<section class="handout"', 1)
    assert "Lien personnel" in staff_part and "Imprimer" in staff_part  # the staff member's French
    assert 'lang="en"' in sheet and "Your questionnaires" in sheet and "Participant code" in sheet
    assert "Vos questionnaires" not in sheet
    french = client.post(f"/studies/{code}/patients/P-FR/link",
                         headers={"Accept-Language": "en"}).get_data(as_text=True)
    staff_part, sheet = french.split('<section class="handout"', 1)
    assert "Personal link" in staff_part
    assert 'lang="fr"' in sheet and "Vos questionnaires" in sheet and "Code participant" in sheet


def test_the_link_e_mail_is_in_the_patients_language(client, coordinator, make_patient, tmp_path) -> None:
    make_patient(coordinator.study, "P-EN", email="en@example.test", language="en")
    db.session.commit()
    response = client.post(f"/studies/{coordinator.study.code}/patients/P-EN/link/email", headers=FRENCH)
    assert response.status_code == 302
    mail = email.message_from_bytes(next((tmp_path / "outbox").glob("*.eml")).read_bytes(),
                                    policy=email.policy.default)
    assert mail["Subject"] == "Your questionnaires"
    assert "Your personal link is" in mail.get_content() and "Votre" not in mail.get_content()
    flashed = client.get(f"/studies/{coordinator.study.code}/patients/P-EN/link", headers=FRENCH)
    assert "Un nouveau lien a été envoyé" in flashed.get_data(as_text=True)  # the staff member's French
