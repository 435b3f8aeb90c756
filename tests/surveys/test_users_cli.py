"""The account verbs a locked-out clinic needs on the command line, each audited and e-mailed."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from surveys.domain import accounts
from surveys.domain.models import AuditEvent, StaffUser
from surveys.infra.db import db
from tests.conftest import TEST_PASSWORD
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")
NEW_PASSWORD = "a brand new and unusual passphrase"


def last_event(action: str) -> AuditEvent:
    return db.session.scalar(select(AuditEvent).where(AuditEvent.action == action)
                             .order_by(AuditEvent.id.desc()).limit(1))


def mails_to(app: Any, email: str) -> list[str]:
    return [m for m in (p.read_text() for p in Path(app.config["MAIL_OUTBOX"]).glob("*.eml"))
            if f"To: {email}" in m]


def test_users_list_shows_every_account_and_its_state(runner, make_user, make_study) -> None:
    study = make_study("LIST1")
    make_user("clinician", (study,), email="doc@clinic.test")
    gone = make_user("coordinator", email="gone@clinic.test")
    gone.active = False
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0, result.output
    assert "doc@clinic.test\tclinician\tactive\toff\tLIST1\tnever" in result.output
    assert "gone@clinic.test\tcoordinator\tdeactivated" in result.output


def test_deactivating_ends_the_sessions_at_once_is_audited_and_mailed(app, client, login, runner,
                                                                     make_user) -> None:
    user = make_user("coordinator")
    login(user)
    assert client.get("/").status_code == 200
    result = runner.invoke(args=["users", "deactivate", user.email.upper()])
    assert result.exit_code == 0, result.output
    assert client.get("/").status_code == 302
    event = last_event("user.deactivate")
    assert event.actor == f"os-user:{getpass.getuser()}" and event.entity_id == str(user.id)
    assert any("deactivated" in m for m in mails_to(app, user.email))
    assert runner.invoke(args=["users", "reactivate", user.email]).exit_code == 0
    assert db.session.get(StaffUser, user.id).active


def test_as_names_the_staff_account_and_refuses_an_unknown_one(runner, make_user) -> None:
    admin = make_user("admin", email="head@clinic.test")
    user = make_user("clinician")
    assert runner.invoke(args=["users", "deactivate", user.email, "--as", "head@clinic.test"]).exit_code == 0
    assert last_event("user.deactivate").actor == f"staff:{admin.id}"
    refused = runner.invoke(args=["users", "reactivate", user.email, "--as", "nobody@clinic.test"])
    assert refused.exit_code == 1 and "No staff account" in refused.output


def test_reset_password_checks_the_policy_and_ends_sessions(client, login, runner, make_user) -> None:
    user = make_user("coordinator")
    login(user)
    weak = runner.invoke(args=["users", "reset-password", user.email, "--password-stdin"], input="short\n")
    assert weak.exit_code == 1 and "at least 12" in weak.output
    result = runner.invoke(args=["users", "reset-password", user.email, "--password-stdin"],
                           input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert client.get("/").status_code == 302
    assert accounts.verify_password(db.session.get(StaffUser, user.id), NEW_PASSWORD)
    assert not accounts.verify_password(db.session.get(StaffUser, user.id), TEST_PASSWORD)


def test_reset_totp_forgets_the_authenticator(client, login, runner, make_user) -> None:
    user = make_user("admin")
    login(user)
    result = runner.invoke(args=["users", "reset-totp", user.email])
    assert result.exit_code == 0, result.output
    assert db.session.get(StaffUser, user.id).totp_secret is None
    assert client.get("/").status_code == 302  # the session opened with the lost authenticator ended
    client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/2fa")


def test_set_role_changes_role_and_studies_and_records_both(app, runner, make_user, make_study) -> None:
    first, second = make_study("ROLE1"), make_study("ROLE2")
    user = make_user("clinician", (first,))
    result = runner.invoke(args=["users", "set-role", user.email, "--role", "coordinator",
                                 "--study", "ROLE2"])
    assert result.exit_code == 0, result.output
    changed = db.session.get(StaffUser, user.id)
    assert changed.role == "coordinator" and [s.code for s in changed.studies] == [second.code]
    details = last_event("user.role_change").details
    assert details["role"] == ["clinician", "coordinator"] and details["studies"] == [["ROLE1"], ["ROLE2"]]
    assert any("coordinator" in m for m in mails_to(app, user.email))
    assert runner.invoke(args=["users", "set-role", user.email, "--role", "owner"]).exit_code == 2
    assert runner.invoke(args=["users", "set-role", user.email, "--role", "admin", "--study", "NOPE"]
                         ).exit_code == 1


def test_command_line_exports_name_the_operating_system_user_or_the_account(runner, make_study, make_user,
                                                                            tmp_path: Path) -> None:
    study = make_study()
    coordinator = make_user("coordinator", (study,))
    out = tmp_path / "codebook.csv"
    export = ["export", study.code, "--format", "codebook", "--out", str(out)]
    assert runner.invoke(args=export).exit_code == 0
    assert last_event("export").actor == f"os-user:{getpass.getuser()}"
    assert runner.invoke(args=[*export, "--as", coordinator.email]).exit_code == 0
    assert last_event("export").actor == f"staff:{coordinator.id}"


def test_users_create_names_who_created_the_account(runner) -> None:
    result = runner.invoke(args=["users", "create", "new@clinic.test", "--role", "clinician",
                                 "--password-stdin"], input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert last_event("user.create").actor == f"os-user:{getpass.getuser()}"
