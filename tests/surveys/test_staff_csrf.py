"""With CSRF protection on (as in production), staff forms without a valid token change nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import g
from sqlalchemy import func, select

from surveys.domain.models import Patient
from surveys.infra.db import db
from tests.conftest import TEST_PASSWORD
from tests.surveys.staff_world import FEVER, alert_of, submit_pirc
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"WTF_CSRF_ENABLED": True}


def page(client: Any, url: str) -> str:
    """GET a page as a fresh request would.

    The `app` fixture keeps one app context for the whole test, so Flask's `g` (where Flask-WTF
    caches the token of the request) outlives each request; a real server starts afresh.
    """
    g.pop("csrf_token", None)
    return client.get(url).get_data(as_text=True)


def token_of(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def csrf_login(client: Any, user: Any) -> None:
    token = token_of(page(client, "/login"))
    data = {"email": user.email, "password": TEST_PASSWORD, "csrf_token": token}
    response = client.post("/login", data=data)
    assert response.status_code == 302


def test_a_login_without_the_token_is_refused(client, make_user) -> None:
    user = make_user("coordinator")
    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_an_enrollment_without_the_token_stores_nothing(client, make_user, make_study) -> None:
    study = make_study()
    csrf_login(client, make_user("coordinator", (study,)))
    response = client.post(f"/studies/{study.code}/enroll", data={"code": "CSRF-1", "language": "en"})
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(Patient.id)).where(Patient.study_id == study.id)) == 0


def test_an_enrollment_with_a_forged_token_stores_nothing(client, make_user, make_study) -> None:
    study = make_study()
    csrf_login(client, make_user("coordinator", (study,)))
    data = {"code": "CSRF-1", "language": "en", "csrf_token": "forged"}
    assert client.post(f"/studies/{study.code}/enroll", data=data).status_code == 400
    assert db.session.scalar(select(func.count(Patient.id)).where(Patient.study_id == study.id)) == 0


def test_the_page_token_makes_the_enrollment_work(client, make_user, make_study) -> None:
    study = make_study()
    csrf_login(client, make_user("coordinator", (study,)))
    token = token_of(page(client, f"/studies/{study.code}/enroll"))
    data = {"code": "CSRF-1", "language": "en", "csrf_token": token}
    assert client.post(f"/studies/{study.code}/enroll", data=data).status_code == 201


def test_recording_on_an_alert_and_revoking_a_link_need_the_token(client, make_user, make_study,
                                                                   make_patient) -> None:
    study = make_study()
    patient = make_patient(study, sessions_days_ago=(3,))
    alert = alert_of(submit_pirc(patient, FEVER))
    csrf_login(client, make_user("admin", (study,), totp=False))  # admin: may do both
    base = f"/studies/{study.code}/alerts/{alert.id}"
    assert client.post(f"{base}/attempts", data={"channel": "phone", "result": "reached"}).status_code == 400
    resolution = {"outcome": "advice_given", "ctcae_grade": "1", "note": "x", "relatedness": "possible",
                  "serious": "no"}
    assert client.post(f"{base}/resolve", data=resolution).status_code == 400
    assert alert.state == "open" and not alert.attempts
    revoke = f"/studies/{study.code}/patients/{patient.code}/link/revoke"
    assert client.post(revoke).status_code == 400
    assert all(link.revoked_at is None for link in patient.links)


def test_logout_needs_the_token(client, make_user) -> None:
    csrf_login(client, make_user("coordinator"))
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200
