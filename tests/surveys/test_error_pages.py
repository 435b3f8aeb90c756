"""Error pages (404, 405, 400, 413, 429, 500 and every other status Werkzeug knows) are rendered through
our template in the reader's language: the patient's once their link is open, the staff member's
account language, else the browser's (issue 17). Werkzeug's own titles and texts are English only."""

from __future__ import annotations

from typing import Any

import pytest
from flask import abort
from werkzeug.exceptions import default_exceptions

from surveys.infra.db import db

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # Unhandled exceptions become the 500 page, as in production (TESTING alone would re-raise them).
    return {"PROPAGATE_EXCEPTIONS": False, "MAX_CONTENT_LENGTH": 10_000}


@pytest.fixture
def aborting(app: Any) -> Any:
    """A route answering any status with Werkzeug's default description (added before any request)."""
    app.add_url_rule("/test-abort/<int:code>", "test_abort", lambda code: abort(code))
    return app


def english_of(code: int) -> tuple[str, str]:
    error = default_exceptions[code]()
    return error.name, error.description or ""


@pytest.mark.parametrize("code", sorted(default_exceptions))
def test_every_error_status_is_french_for_a_french_browser(aborting, client, code) -> None:
    response = client.get(f"/test-abort/{code}", headers=FRENCH)
    assert response.status_code == code
    page = response.get_data(as_text=True)
    name, description = english_of(code)
    assert '<html lang="fr"' in page
    assert name not in page and description not in page
    assert "<h1>" in page and page.count('role="alert"') >= 1


@pytest.mark.parametrize("code", sorted(default_exceptions))
def test_an_english_browser_reads_our_english_text(aborting, client, code) -> None:
    page = client.get(f"/test-abort/{code}", headers=ENGLISH).get_data(as_text=True)
    assert '<html lang="en"' in page and "<h1>" in page


def test_an_unknown_address_answers_a_french_404(client) -> None:
    response = client.get("/no/such/page", headers=FRENCH)
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Page introuvable" in page and "Not Found" not in page


def test_a_wrong_method_answers_a_french_405_and_keeps_the_allow_header(client) -> None:
    response = client.post("/healthz", headers=FRENCH)
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert "Method Not Allowed" not in response.get_data(as_text=True)


def test_a_body_too_large_and_a_nul_character_answer_in_french(client) -> None:
    big = client.post("/login", data={"email": "x" * 20_000}, headers=FRENCH)
    assert big.status_code == 413 and "Request Entity Too Large" not in big.get_data(as_text=True)
    nul = client.get("/login?next=a%00b", headers=FRENCH)
    assert nul.status_code == 400
    assert "caractère NUL" in nul.get_data(as_text=True)


def test_an_unhandled_exception_answers_a_french_500(aborting, client) -> None:
    aborting.add_url_rule("/test-crash", "test_crash", lambda: 1 / 0)
    response = client.get("/test-crash", headers=FRENCH)
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Internal Server Error" not in page and '<html lang="fr"' in page


def test_the_staff_members_language_wins_over_the_browser(client, login, make_user) -> None:
    user = make_user("coordinator")
    user.language = "fr"
    db.session.commit()
    login(user)
    page = client.get("/no/such/page", headers=ENGLISH).get_data(as_text=True)
    assert "Page introuvable" in page


def test_the_patients_language_wins_on_their_pages(client, make_patient, monkeypatch) -> None:
    from surveys.patient import views

    patient = make_patient(language="fr")
    db.session.commit()

    def crash(*_args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "_home_page", crash)
    response = client.get(f"/p/{patient.token}", headers=ENGLISH)
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert '<html lang="fr"' in page and "Internal Server Error" not in page


def test_json_clients_get_a_translated_message(client) -> None:
    response = client.get("/no/such/page", headers={**FRENCH, "Accept": "application/json"})
    assert response.status_code == 404 and response.is_json
    assert response.json["error"] == "Not Found"  # the stable name, for programs
    assert "Not Found" not in response.json["message"]
