"""Behind TRUSTED_PROXIES reverse proxies the limits key on the real client; without, a forged
X-Forwarded-For changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from surveys.domain.models import AuditEvent
from surveys.infra.db import db
from tests.conftest import TEST_PASSWORD
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")
PROXY = {"REMOTE_ADDR": "10.0.0.1"}


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://", "TRUSTED_PROXIES": 1}


def wrong_login(client: Any, forwarded_for: str, n: int) -> int:
    return client.post("/login", data={"email": f"guess{n}@clinic.test", "password": "wrong"},
                       environ_base=PROXY, headers={"X-Forwarded-For": forwarded_for}).status_code


def test_each_client_behind_the_proxy_has_its_own_login_limit(client, make_user) -> None:
    user = make_user("coordinator")
    assert [wrong_login(client, "198.51.100.7", n) for n in range(11)] == [401] * 10 + [429]
    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD},
                           environ_base=PROXY, headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 302  # another client of the same proxy is not blocked
    success = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "login.success")
                                .order_by(AuditEvent.id.desc()).limit(1))
    assert success.details["address"] == "203.0.113.9"


def test_only_the_address_the_trusted_proxy_saw_counts(client) -> None:
    # The client prepends its own forged value; the proxy appends the address it saw (the last one).
    codes = [wrong_login(client, f"192.0.2.{n}, 198.51.100.7", n) for n in range(11)]
    assert codes == [401] * 10 + [429]


def test_patient_link_guessing_behind_the_proxy_blocks_only_the_guesser(client, make_patient) -> None:
    patient = make_patient()
    db.session.commit()  # a refused request drops what its session left unsaved (the tests share one)
    guesses = [client.get(f"/p/guess-{n}", environ_base=PROXY, headers={"X-Forwarded-For": "198.51.100.7"})
               .status_code for n in range(11)]
    assert guesses == [404] * 10 + [429]
    other = client.get("/p/typo", environ_base=PROXY, headers={"X-Forwarded-For": "203.0.113.9"})
    assert other.status_code == 404
    mine = client.get(f"/p/{patient.token}", environ_base=PROXY, headers={"X-Forwarded-For": "198.51.100.7"})
    assert mine.status_code == 200


@pytest.mark.parametrize("app_overrides", [{"RATELIMIT_ENABLED": True, "TRUSTED_PROXIES": 0}])
def test_without_trusted_proxies_a_forged_header_does_not_escape_the_limit(client) -> None:
    codes = [wrong_login(client, f"192.0.2.{n}", n) for n in range(11)]
    assert codes == [401] * 10 + [429]
