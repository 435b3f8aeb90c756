"""Guessing links is rate-limited; a stale form brings the patient back to the same screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from surveys.domain.models import Answer
from surveys.infra.db import db
from surveys.infra.security import limiter
from tests.conftest import in_own_app_contexts


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"RATELIMIT_ENABLED": True, "WTF_CSRF_ENABLED": True}


@pytest.fixture(autouse=True)
def fresh_limits(app) -> Iterator[None]:
    limiter.reset()
    yield
    limiter.reset()


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html).group(1)


def test_wrong_tokens_are_rate_limited(client):
    statuses = [client.get(f"/p/wrong-token-{n:03d}").status_code for n in range(12)]
    assert statuses[:10] == [404] * 10
    assert statuses[10:] == [429, 429]
    page = client.get("/p/wrong-token-999")
    assert page.status_code == 429
    assert "Please wait a little" in page.get_data(as_text=True)


def test_a_valid_link_is_served_even_after_the_address_guessed_too_often(client, make_patient):
    patient = make_patient()
    db.session.commit()  # a refused request drops what its session left unsaved (the tests share one)
    assert [client.get(f"/p/wrong-token-{n:03d}").status_code for n in range(11)][-1] == 429
    assert client.get(f"/p/{patient.token}").status_code == 200  # a shared clinic address, a real patient
    assert client.get("/p/wrong-token-again").status_code == 429


def test_only_failed_lookups_count_against_the_limit(client, make_patient):
    patient = make_patient()
    for _ in range(15):
        assert client.get(f"/p/{patient.token}").status_code == 200
    assert client.get("/p/wrong-token").status_code == 404


def test_answers_need_the_form_token(client, make_patient):
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    html = client.get(url).get_data(as_text=True)
    posted = client.post(url, data={"item": "who5_1", "answer": "3", "csrf_token": csrf_token(html)})
    assert posted.status_code == 303
    assert db.session.scalar(select(Answer.code).where(Answer.item_id == "who5_1")) == 3


def test_an_answer_after_31_minutes_on_one_screen_is_saved(client, make_patient, monkeypatch):
    """The form token lives as long as the link, not as long as a session cookie (30 minutes)."""
    from itsdangerous.timed import TimestampSigner

    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    html = client.get(url).get_data(as_text=True)
    client.post(url, data={"item": "who5_1", "answer": "3", "csrf_token": csrf_token(html)})
    html = client.get(url).get_data(as_text=True)  # the second question, left open over lunch
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 31 * 60)
    posted = client.post(url, data={"item": "who5_2", "answer": "4", "csrf_token": csrf_token(html)})
    assert posted.status_code == 303
    assert "could not be saved" not in client.get(posted.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(select(Answer.code).where(Answer.item_id == "who5_2")) == 4


def test_a_form_token_of_another_link_is_refused(client, make_patient):
    one, two = make_patient(), make_patient()
    html = client.get(f"/p/{one.token}/q/T0/who5").get_data(as_text=True)
    url = f"/p/{two.token}/q/T0/who5"
    posted = client.post(url, data={"item": "who5_1", "answer": "3", "csrf_token": csrf_token(html)})
    assert posted.status_code == 303 and posted.headers["Location"] == url
    assert db.session.scalar(select(Answer.id)) is None


def test_stale_form_token_returns_to_the_same_screen_with_a_plain_message(client, make_patient):
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    client.get(url)
    posted = client.post(url, data={"item": "who5_1", "answer": "3", "csrf_token": "stale"})
    assert posted.status_code == 303 and posted.headers["Location"] == url
    page = client.get(url).get_data(as_text=True)
    assert "could not be saved" in page and 'role="alert"' in page
    assert 'name="item" value="who5_1"' in page
    assert db.session.scalar(select(Answer.id)) is None


def test_answers_sent_by_the_script_need_the_form_token_too(client, make_patient):
    from surveys.patient.views import PAGE_ADDRESS_HEADER, SCREEN_FETCH_HEADER

    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"
    html = client.get(url).get_data(as_text=True)
    refused = client.post(url, data={"item": "who5_1", "answer": "3", "csrf_token": "stale"},
                          headers={SCREEN_FETCH_HEADER: "1"})
    assert refused.status_code == 303 and refused.headers["Location"] == url  # patient.js then posts the form
    assert PAGE_ADDRESS_HEADER not in refused.headers
    assert db.session.scalar(select(Answer.id)) is None
    accepted = client.post(url, data={"item": "who5_1", "answer": "3", "csrf_token": csrf_token(html)},
                           headers={SCREEN_FETCH_HEADER: "1"})
    assert accepted.status_code == 200 and accepted.headers[PAGE_ADDRESS_HEADER] == url
    assert "could not be saved" in accepted.get_data(as_text=True)  # the notice of the refused try
    assert 'name="item" value="who5_2"' in accepted.get_data(as_text=True)
    assert csrf_token(accepted.get_data(as_text=True))  # the next answer has its form token
    assert db.session.scalar(select(Answer.code).where(Answer.item_id == "who5_1")) == 3



def test_with_its_form_token_in_the_session_a_screen_still_sets_no_cookie(client, make_patient):
    # With CSRF on, as in production, the session holds the form token. Flask-Login's "strong"
    # session protection took such a session, with no one logged in, for a stolen one: every
    # patient page re-signed the session cookie and sent a remember-cookie deletion.
    patient = make_patient()
    url = f"/p/{patient.token}/q/T0/who5"

    def cookies_set() -> list[list[str]]:
        first = client.get(url)
        sent = [first.headers.getlist("Set-Cookie")]
        for address in (url, f"/p/{patient.token}"):
            sent.append(client.get(address).headers.getlist("Set-Cookie"))
        form = {"item": "who5_1", "answer": "3", "csrf_token": csrf_token(first.get_data(as_text=True))}
        posted = client.post(url, data=form)
        assert posted.status_code == 303
        return [*sent, posted.headers.getlist("Set-Cookie"), client.get(url).headers.getlist("Set-Cookie")]

    names = [[cookie.split("=", 1)[0] for cookie in sent] for sent in in_own_app_contexts(cookies_set)]
    # No cookie for the form token (it comes from the link); the cursor moved by the answer; nothing.
    assert names == [[], [], [], ["session"], []]


def test_wrong_short_codes_are_rate_limited_like_links(client):
    page = client.get("/code")
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))
    statuses = [client.post("/code", data={"code": f"AAAAAAAA{n:02d}", "csrf_token": token}).status_code
                for n in range(12)]
    assert statuses[:10] == [400] * 10 and statuses[10:] == [429, 429]
    assert client.get("/p/wrong-token").status_code == 429  # one limit for codes and links


def test_the_code_page_needs_its_form_token(client):
    refused = client.post("/code", data={"code": "AAAAAAAAAA"})
    assert refused.status_code == 303 and refused.headers["Location"] == "/code"
