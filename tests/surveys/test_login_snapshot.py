"""A staff login reads the account, checks the password (slow on purpose: a memory-hard hash), then
writes its session and audit event. On SQLite the read's snapshot cannot become a write once another
connection has written during the hash ("database is locked" at once), so a login answered 503 while
patients answered. Runs on a database file of its own (see tests/reports/test_audited_reads.py)."""

from __future__ import annotations

from typing import Any

import pytest

import surveys.staff.views as staff_views
from surveys.domain.accounts import create_user
from surveys.domain.models import AuditEvent
from surveys.infra.db import db
from tests.conftest import TEST_PASSWORD
from tests.reports.test_audited_reads import _last_actions, then_someone_writes
from tests.reports.test_audited_reads import own_database as own_database


@pytest.fixture
def app_of_its_own(request: pytest.FixtureRequest) -> Any:
    """The app on a database file of its own (the own_database fixture, imported above)."""
    return request.getfixturevalue("own_database")


@pytest.mark.parametrize(("password", "status", "action"), [(TEST_PASSWORD, 302, "login.success"),
                                                            ("not the password", 401, "login.failure")])
def test_a_login_survives_another_connection_writing_during_the_password_check(
        app_of_its_own, monkeypatch, password, status, action) -> None:
    create_user(db.session, "nurse@clinic.test", TEST_PASSWORD, "coordinator", ())
    db.session.commit()
    monkeypatch.setattr(staff_views, "verify_password", then_someone_writes(staff_views.verify_password))
    app_of_its_own.config["WTF_CSRF_ENABLED"] = False
    response = app_of_its_own.test_client().post("/login", data={"email": "nurse@clinic.test",
                                                              "password": password})
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert _last_actions(2) == [action, "test.write_meanwhile"]
    assert db.session.query(AuditEvent).count() >= 2
