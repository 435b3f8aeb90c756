"""Security headers and cookies: CSP without unsafe-inline, HSTS over HTTPS, Secure/HttpOnly/SameSite."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TEST_PASSWORD
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"BASE_URL": "https://prom.example"}


def test_every_page_carries_the_security_headers(client) -> None:
    headers = client.get("/login").headers
    csp = headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_the_session_cookie_is_secure_httponly_and_samesite(client, make_user) -> None:
    user = make_user("coordinator")
    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD},
                           base_url="https://prom.example")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("__Host-session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie


def test_pages_for_a_logged_in_user_are_never_cached(client, make_user) -> None:
    user = make_user("coordinator")
    client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}, base_url="https://prom.example")
    response = client.get("/", base_url="https://prom.example")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    static = client.get("/static/staff/staff.css", base_url="https://prom.example")
    assert static.headers.get("Cache-Control") != "no-store"
    static.close()


def test_plain_http_gets_no_hsts() -> None:
    from app import create_app

    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "k", "BASE_URL": "http://127.0.0.1:5000"})
    response = app.test_client().get("/login")
    assert "Strict-Transport-Security" not in response.headers
    assert app.config["SESSION_COOKIE_SECURE"] is False
