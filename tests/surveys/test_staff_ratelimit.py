"""Login and one-time-code attempts are rate-limited (429), per address and per account."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TEST_PASSWORD, totp_code
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}


def test_the_eleventh_login_attempt_in_a_minute_is_refused(client, make_user) -> None:
    user = make_user("coordinator")
    codes = [client.post("/login", data={"email": f"guess{i}@clinic.test", "password": "wrong"}).status_code
             for i in range(10)]
    assert codes == [401] * 10
    refused = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert refused.status_code == 429
    assert client.get("/").status_code == 302  # even the right password did not get in
    assert client.get("/login").status_code == 200  # the page itself stays readable


def test_one_account_is_protected_against_guesses_from_many_addresses(client, make_user) -> None:
    user = make_user("coordinator")
    codes = []
    for i in range(21):
        environ = {"REMOTE_ADDR": f"127.0.{i}.1"}  # only the WSGI field: no traffic goes anywhere
        codes.append(client.post("/login", data={"email": user.email, "password": "wrong password"},
                                 environ_base=environ).status_code)
    assert codes[:20] == [401] * 20 and codes[20] == 429


def test_one_time_codes_are_limited_to_five_a_minute(client, make_user) -> None:
    user = make_user("clinician", totp=True)
    client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    codes = [client.post("/login/2fa", data={"code": f"{i:06d}"}).status_code for i in range(5)]
    assert codes == [401] * 5
    assert client.post("/login/2fa", data={"code": totp_code(user.totp_secret)}).status_code == 429
    assert client.get("/").status_code == 302


def test_a_limited_api_client_gets_json(client) -> None:
    for i in range(10):
        client.post("/login", data={"email": f"g{i}@clinic.test", "password": "x"})
    response = client.post("/login", data={"email": "g@clinic.test", "password": "x"},
                           headers={"Accept": "application/json"})
    assert response.status_code == 429 and response.is_json
    assert "Retry-After" in response.headers or "X-RateLimit-Reset" in response.headers
