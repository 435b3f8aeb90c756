"""Login and one-time-code attempts are rate-limited (429) per address, and slowed per account and
address with growing delays that never lock the right password out from another address."""

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


def login_from(client: Any, address: str, email: str, password: str, **headers: str) -> int:
    """One login attempt as seen from `address` (only the WSGI field: no traffic goes anywhere)."""
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address}, headers=headers).status_code


def test_guesses_from_many_addresses_never_lock_the_right_password_out(client, make_user) -> None:
    user = make_user("coordinator")
    codes = [login_from(client, f"127.0.{i}.1", user.email, "wrong password") for i in range(30)]
    assert codes == [401] * 30  # each address guessed once: nobody is slowed
    assert login_from(client, "127.9.9.9", user.email, TEST_PASSWORD) == 302  # the owner gets in


def test_guesses_from_one_address_slow_down_that_account_from_that_address_only(client, make_user) -> None:
    user = make_user("coordinator")
    codes = [login_from(client, "127.0.0.5", user.email, "wrong password") for _ in range(4)]
    assert codes == [401] * 4  # three free failures, the fourth imposes a first delay
    refused = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD},
                          environ_base={"REMOTE_ADDR": "127.0.0.5"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "Try again in" in refused.get_data(as_text=True)
    client.post("/logout")
    assert login_from(client, "127.0.0.6", user.email, TEST_PASSWORD) == 302  # the owner, elsewhere


def test_login_delays_grow_with_each_failure_and_a_success_forgets_them(app) -> None:
    from surveys.infra.throttle import MAX_DELAY_SECONDS, LoginThrottle

    with app.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.7"}):
        throttle = LoginThrottle.for_request("Someone@Clinic.test")
        delays = [throttle.failed() for _ in range(14)]
        assert delays == [0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, MAX_DELAY_SECONDS, MAX_DELAY_SECONDS]
        assert throttle.wait_seconds() > 0
        assert LoginThrottle("someone@clinic.test", "127.0.0.8").wait_seconds() == 0  # other address
        throttle.succeeded()
        assert throttle.wait_seconds() == 0 and throttle.failed() == 0


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
