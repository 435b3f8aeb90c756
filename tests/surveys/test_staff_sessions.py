"""Staff sessions that really end: server-side rows, absolute lifetime, re-authentication,
API token expiry, safe `next`, and a login that takes as long for every account state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from reports.exports.api_tokens import hash_api_token
from surveys.domain import accounts
from surveys.domain.models import ApiToken, AuditEvent, StaffSession, StaffUser
from surveys.infra.db import db, utcnow
from tests.conftest import TEST_PASSWORD, totp_code
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")
NEW_PASSWORD = "a brand new and unusual passphrase"


def copy_cookie(source: FlaskClient, app: Flask) -> FlaskClient:
    """Another browser (another client) holding a copy of `source`'s session cookie."""
    thief = app.test_client()
    cookie = source.get_cookie("session")
    assert cookie is not None
    thief.set_cookie("session", cookie.value)
    return thief


def events(action: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list(db.session.scalars(query))


def age_sessions(user: Any, **columns: timedelta) -> None:
    """Move timestamps of the user's sessions into the past (created_at=timedelta(hours=13), ...)."""
    db.session.execute(update(StaffSession).where(StaffSession.user_id == user.id)
                       .values({name: utcnow() - ago for name, ago in columns.items()}))


def test_a_copied_cookie_stops_working_when_its_owner_logs_out(app, client, login, make_user) -> None:
    user = make_user("coordinator")
    login(user)
    thief = copy_cookie(client, app)
    assert thief.get("/").status_code == 200  # the copy works while the session is open...
    assert client.post("/logout").status_code == 302
    response = thief.get("/")  # ...and not a moment after the logout
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    row = db.session.scalar(select(StaffSession).where(StaffSession.user_id == user.id))
    assert row.end_reason == "logout"
    assert events("logout")[-1].details["address"] == "127.0.0.1"


def test_a_copied_cookie_stops_working_after_a_password_change(app, client, login, make_user) -> None:
    user = make_user("coordinator")
    login(user)
    thief = copy_cookie(client, app)
    assert thief.get("/").status_code == 200
    response = client.post("/account/password", data={"current": TEST_PASSWORD, "new": NEW_PASSWORD,
                                                      "repeat": NEW_PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    assert thief.get("/").status_code == 302  # the copy is dead
    assert client.get("/").status_code == 200  # the browser that changed it goes on, with a new key
    assert accounts.verify_password(db.session.get(StaffUser, user.id), NEW_PASSWORD)
    assert events("user.password_change")[-1].entity_id == str(user.id)


def test_a_password_change_needs_the_current_password_and_the_policy(client, login, make_user) -> None:
    user = make_user("coordinator")
    login(user)
    wrong = client.post("/account/password", data={"current": "not it at all, sorry", "new": NEW_PASSWORD,
                                                   "repeat": NEW_PASSWORD})
    assert wrong.status_code == 400
    weak = client.post("/account/password", data={"current": TEST_PASSWORD, "new": "password1234",
                                                  "repeat": "password1234"})
    assert weak.status_code == 400 and "too common" in weak.get_data(as_text=True)
    assert accounts.verify_password(db.session.get(StaffUser, user.id), TEST_PASSWORD)


def test_a_password_change_is_mailed_to_the_account_holder(client, login, make_user, app) -> None:
    from pathlib import Path

    user = make_user("coordinator")
    login(user)
    client.post("/account/password", data={"current": TEST_PASSWORD, "new": NEW_PASSWORD,
                                           "repeat": NEW_PASSWORD})
    mails = [p.read_text() for p in Path(app.config["MAIL_OUTBOX"]).glob("*.eml")]
    assert any(f"To: {user.email}" in m and "password" in m.lower() for m in mails)


def test_log_out_everywhere_ends_every_browser(app, client, login, make_user) -> None:
    user = make_user("coordinator")
    login(user)
    other = app.test_client()
    other.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert other.get("/").status_code == 200
    page = client.get("/account").get_data(as_text=True)
    assert page.count("End this session") == 2 and "Werkzeug/" in page and "127.0.0.1" in page
    assert "UTC" not in page  # login and activity times in the local zone, named (issue 17)
    assert client.post("/account/sessions/end-all").status_code == 302
    assert other.get("/").status_code == 302 and client.get("/").status_code == 302


def test_ending_one_session_from_the_list_ends_only_that_one(app, client, login, make_user) -> None:
    user = make_user("coordinator")
    login(user)
    other = app.test_client()
    other.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    newest = db.session.scalar(select(StaffSession).where(StaffSession.user_id == user.id)
                               .order_by(StaffSession.id.desc()))
    assert client.post(f"/account/sessions/{newest.id}/end").status_code == 302
    assert other.get("/").status_code == 302
    assert client.get("/").status_code == 200


def test_deactivating_an_account_ends_its_sessions_at_once(app, client, login, make_user) -> None:
    user = make_user("coordinator")
    login(user)
    assert client.get("/").status_code == 200
    db.session.get(StaffUser, user.id).active = False
    db.session.flush()
    assert client.get("/").status_code == 302


def test_a_session_ends_after_its_absolute_lifetime_even_when_busy(client, login, make_user) -> None:
    user = make_user("coordinator")
    login(user)
    age_sessions(user, created_at=timedelta(hours=11, minutes=59))
    assert client.get("/").status_code == 200
    age_sessions(user, created_at=timedelta(hours=12, minutes=1))
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    reason = select(StaffSession.end_reason).where(StaffSession.user_id == user.id)
    assert db.session.scalar(reason) == "expired"


def test_replacing_two_factor_needs_a_recent_proof_of_identity(client, login, make_user) -> None:
    user = make_user("clinician", totp=True)
    login(user)
    assert client.get("/account/2fa").status_code == 200  # just logged in: recent enough
    age_sessions(user, authenticated_at=timedelta(minutes=6))
    response = client.get("/account/2fa")
    assert response.status_code == 302
    assert "/account/confirm?next=/account/2fa" in response.headers["Location"]
    assert client.post("/account/2fa", data={"code": "123456"}).status_code == 302  # refused, not applied
    assert client.post("/account/confirm?next=/account/2fa", data={"password": "wrong wrong wrong"}
                       ).status_code == 401
    response = client.post("/account/confirm?next=/account/2fa",
                           data={"code": totp_code(user.totp_secret, 1)})
    assert response.status_code == 302 and response.headers["Location"] == "/account/2fa"
    assert client.get("/account/2fa").status_code == 200
    assert events("session.reauth")[-1].details["method"] == "totp"


def test_creating_an_api_token_needs_a_recent_proof_of_identity(client, login, make_user, make_study) -> None:
    study = make_study()
    user = make_user("coordinator", (study,))
    login(user)
    age_sessions(user, authenticated_at=timedelta(minutes=6))
    response = client.post("/account/tokens", data={"name": "R", "study": study.code},
                           headers={"Referer": "http://localhost/account/tokens"})
    assert response.status_code == 302
    assert "/account/confirm?next=/account/tokens" in response.headers["Location"]
    assert db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id)) is None
    client.post("/account/confirm", data={"password": TEST_PASSWORD})
    assert client.post("/account/tokens", data={"name": "R", "study": study.code}).status_code == 201


def test_identified_exports_need_a_recent_proof_of_identity(client, login, make_user, make_study) -> None:
    study = make_study()
    user = make_user("coordinator", (study,))
    login(user)
    age_sessions(user, authenticated_at=timedelta(minutes=6))
    response = client.get(f"/studies/{study.code}/exports/long")
    assert response.status_code == 302 and "/account/confirm" in response.headers["Location"]
    assert client.get(f"/studies/{study.code}/exports/long?deidentified=1").status_code == 200
    client.post("/account/confirm", data={"password": TEST_PASSWORD})
    assert client.get(f"/studies/{study.code}/exports/long").status_code == 200


def make_token(client: FlaskClient, study: Any, **form: str) -> tuple[int, str]:
    response = client.post("/account/tokens", data={"name": "R laptop", "study": study.code, **form})
    page = response.get_data(as_text=True)
    secret = page.split('id="token-value" type="text" readonly value="')[1].split('"')[0] \
        if response.status_code == 201 else ""
    return response.status_code, secret


def test_api_tokens_expire_after_90_days_by_default_and_never_after_a_year(client, login, make_user,
                                                                           make_study) -> None:
    study = make_study()
    user = make_user("coordinator", (study,))
    login(user)
    status, secret = make_token(client, study)
    assert status == 201
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_api_token(secret)))
    assert timedelta(days=89, hours=23) < token.expires_at - utcnow() <= timedelta(days=90)
    assert make_token(client, study, days="366")[0] == 400
    assert make_token(client, study, days="abc")[0] == 400
    assert make_token(client, study, days="365")[0] == 201
    page = client.get("/account/tokens").get_data(as_text=True)
    # shown in the reader's locale and the server's zone (DEFAULT_TIMEZONE, named), like every staff time
    from surveys.infra.formatting import local_datetime

    with client.application.test_request_context():
        shown = local_datetime(token.expires_at)
    assert "Expires" in page and shown in page

    url = f"/api/studies/{study.code}/exports/codebook"
    assert client.get(url, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    assert client.get(url, headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert "expired" in client.get("/account/tokens").get_data(as_text=True)


@pytest.mark.parametrize("target", [
    "/%09/evil.example", "/\t/evil.example", "//evil.example", "/\\evil.example", "https://evil.example/",
    "/%2F/evil.example", "/%5Cevil.example", "%2F%2Fevil.example", "/\n/evil.example", "javascript:alert(1)",
])
def test_login_never_redirects_off_site(client, make_user, target: str) -> None:
    user = make_user("coordinator")
    response = client.post("/login", query_string={"next": target},
                           data={"email": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_login_follows_a_local_next(client, make_user, make_study) -> None:
    study = make_study()
    user = make_user("coordinator", (study,))
    response = client.post("/login", query_string={"next": f"/studies/{study.code}/patients?page=2"},
                           data={"email": user.email, "password": TEST_PASSWORD})
    assert response.headers["Location"] == f"/studies/{study.code}/patients?page=2"


def test_every_account_state_costs_one_password_hash_check(client, make_user, monkeypatch) -> None:
    """Timing tells nothing: unknown, deactivated, wrong and right passwords each run one hash check."""
    calls: list[str] = []
    real = accounts._hasher

    class CountingHasher:
        def hash(self, password: str) -> str:
            return real.hash(password)

        def verify(self, hashed: str, password: str) -> bool:
            calls.append(password)
            return real.verify(hashed, password)

    monkeypatch.setattr(accounts, "_hasher", CountingHasher())
    active = make_user("coordinator")
    gone = make_user("coordinator")
    gone.active = False
    db.session.flush()
    attempts = [("nobody@clinic.test", TEST_PASSWORD), (gone.email, TEST_PASSWORD), (gone.email, "wrong one"),
                (active.email, "wrong one"), (active.email, TEST_PASSWORD)]
    for email, password in attempts:
        calls.clear()
        client.post("/logout")
        client.post("/login", data={"email": email, "password": password})
        assert len(calls) == 1, (email, password, calls)
