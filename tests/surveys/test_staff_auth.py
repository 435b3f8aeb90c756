"""Staff login: passwords, two-factor (required for admins), idle expiry, audit of every attempt."""

from __future__ import annotations

import time
from datetime import timedelta
from importlib.metadata import version
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, update

from surveys.domain.accounts import check_totp
from surveys.domain.models import AuditEvent, StaffSession, StaffUser
from surveys.infra.db import db, utcnow
from surveys.infra.passwords import is_common, password_problem
from tests.conftest import TEST_PASSWORD, totp_code
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


def werkzeug_version() -> str:
    return version("werkzeug")


def events(action: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list(db.session.scalars(query))


def test_a_coordinator_logs_in_with_the_password_and_the_login_is_audited(client, make_user) -> None:
    user = make_user("coordinator")
    response = client.post("/login", data={"email": user.email.upper(), "password": TEST_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    assert [e.actor for e in events("login.success")] == [f"staff:{user.id}"]


@pytest.mark.parametrize("email", ["nobody@clinic.test", "known"])
def test_a_wrong_password_or_unknown_account_is_refused_alike_and_audited(client, make_user, email) -> None:
    user = make_user("clinician")
    email = user.email if email == "known" else email
    response = client.post("/login", data={"email": email, "password": "not the password at all"})
    assert response.status_code == 401
    assert "E-mail or password is not right." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    failures = events("login.failure")
    assert len(failures) == 1 and failures[0].actor == f"anonymous:{email}"
    assert "not the password" not in str(failures[0].details)  # passwords never reach the trail


def test_a_deactivated_account_cannot_log_in(client, make_user) -> None:
    user = make_user("coordinator")
    user.active = False
    assert client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 401


def test_the_next_parameter_only_redirects_inside_the_site(client, make_user) -> None:
    user = make_user("coordinator")
    data = {"email": user.email, "password": TEST_PASSWORD}
    response = client.post("/login?next=//evil.example/x", data=data)
    assert response.headers["Location"] == "/"


def test_with_two_factor_the_password_alone_does_not_log_in(client, make_user) -> None:
    user = make_user("clinician", totp=True)
    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert response.headers["Location"].endswith("/login/2fa")
    assert client.get("/").status_code == 302  # not logged in yet
    assert client.post("/login/2fa", data={"code": "000000"}).status_code == 401
    assert client.get("/").status_code == 302
    response = client.post("/login/2fa", data={"code": totp_code(user.totp_secret)})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert events("login.success")[-1].details == {"two_factor": True, "address": "127.0.0.1",
                                                   "user_agent": "Werkzeug/" + werkzeug_version()}
    assert events("login.failure")[-1].details["stage"] == "totp"


def test_a_one_time_code_is_accepted_only_once(app, make_user) -> None:
    user = make_user("clinician", totp=True)
    now = time.time()
    code = pyotp.TOTP(user.totp_secret).at(now)
    assert check_totp(user, code, now=now)
    assert not check_totp(user, code, now=now)  # replayed
    assert not check_totp(user, pyotp.TOTP(user.totp_secret).at(now - 30), now=now)  # older than the last one
    assert check_totp(user, pyotp.TOTP(user.totp_secret).at(now + 30), now=now + 30)


def test_the_code_step_cannot_be_skipped_by_going_to_another_page(client, make_user, make_study) -> None:
    study = make_study()
    user = make_user("coordinator", (study,), totp=True)
    client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert client.get(f"/studies/{study.code}/patients").status_code == 302


def test_a_pending_code_step_expires(client, make_user) -> None:
    user = make_user("clinician", totp=True)
    client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    with client.session_transaction() as session:
        session["pending_at"] = time.time() - 600
    response = client.post("/login/2fa", data={"code": totp_code(user.totp_secret)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_an_admin_without_two_factor_must_set_it_up_before_anything_else(client, make_user,
                                                                          make_study) -> None:
    study = make_study()
    admin = make_user("admin", totp=False)
    client.post("/login", data={"email": admin.email, "password": TEST_PASSWORD})
    for path in ("/", f"/studies/{study.code}/patients", f"/studies/{study.code}/audit"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/account/2fa"), path
    page = client.get("/account/2fa")
    assert page.status_code == 200 and "otpauth://totp/" in page.get_data(as_text=True)
    with client.session_transaction() as session:
        secret = session["totp_pending"]
    assert client.post("/account/2fa", data={"code": "123456"}).status_code == 400
    assert client.post("/account/2fa", data={"code": pyotp.TOTP(secret).now()}).status_code == 302
    assert db.session.get(StaffUser, admin.id).totp_secret == secret
    assert client.get(f"/studies/{study.code}/patients").status_code == 200
    assert events("user.totp_enable")[-1].entity_id == str(admin.id)


def test_the_login_fixture_logs_in_every_role(client, login, make_user, make_study) -> None:
    study = make_study()
    for role in ("admin", "coordinator", "clinician"):
        login(make_user(role, (study,)))
        assert client.get(f"/studies/{study.code}/patients").status_code == 200, role


def last_seen(user: Any, minutes_ago: float) -> None:
    """Move the user's open sessions' last activity into the past."""
    db.session.execute(update(StaffSession).where(StaffSession.user_id == user.id)
                       .values(last_seen_at=utcnow() - timedelta(minutes=minutes_ago)))


def test_a_session_expires_after_the_idle_time(client, login, make_user, make_study) -> None:
    study = make_study()
    user = make_user("coordinator", (study,))
    login(user)
    last_seen(user, 29)
    assert client.get(f"/studies/{study.code}/patients").status_code == 200  # activity keeps it alive
    last_seen(user, 31)
    response = client.get(f"/studies/{study.code}/patients")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert f"next=/studies/{study.code}/patients" in response.headers["Location"]
    assert client.get("/").status_code == 302  # and stays logged out


def test_the_idle_time_is_configurable(app, client, login, make_user) -> None:
    app.config["STAFF_IDLE_MINUTES"] = 5
    user = make_user("coordinator")
    login(user)
    last_seen(user, 6)
    assert client.get("/").status_code == 302


def test_logout_is_a_post(client, login, make_user) -> None:
    login(make_user("coordinator"))
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("password", [
    "short", "password1234", "P@ssw0rd2024!", "abcabcabcabc", "123456789012", "qwertyuiop12",
    "iloveyou2024!!", "zzzzzzzzzzzzzz", "Summer2024!!!", "monkey123456",
])
def test_short_common_and_patterned_passwords_are_refused(password: str) -> None:
    assert password_problem(password) is not None


def test_the_common_password_list_is_large(app) -> None:
    from surveys.infra.passwords import _common

    assert len(_common()) > 5000
    assert is_common("dragon") and is_common("Dragon2024!")


@pytest.mark.parametrize("password", ["correct horse battery staple", "Tr0ub4dor&3 plus more",
                                      "vélo-rouge-sous-la-pluie"])
def test_long_uncommon_passwords_are_accepted(password: str) -> None:
    assert password_problem(password) is None


def test_a_password_may_not_contain_the_e_mail_name() -> None:
    assert password_problem("marie.curie-radium-88", "marie.curie@clinic.test") is not None


def cli(runner: Any, *args: str, password: str) -> Any:
    return runner.invoke(args=["users", "create", *args, "--password-stdin"], input=password + "\n")


def test_users_create_makes_an_account_in_its_studies(runner, make_study) -> None:
    study = make_study("CLI1")
    result = cli(runner, "Doc@Clinic.test", "--role", "clinician", "--study", "CLI1",
                 password="a long and unusual passphrase")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == "doc@clinic.test"))
    assert user.role == "clinician" and [s.code for s in user.studies] == [study.code]
    assert events("user.create")[-1].details["studies"] == ["CLI1"]


@pytest.mark.parametrize(("args", "password", "message"), [
    (("x@clinic.test", "--role", "clinician"), "short", "at least 12"),
    (("x@clinic.test", "--role", "clinician"), "password123456", "too common"),
    (("x@clinic.test", "--role", "clinician", "--study", "NOPE"), "a long unusual passphrase", "No study"),
    (("not-an-email", "--role", "clinician"), "a long and unusual passphrase", "not an e-mail"),
    (("x@clinic.test", "--role", "owner"), "a long and unusual passphrase", "Invalid value"),
])
def test_users_create_refuses_bad_input(runner, make_study, args, password, message) -> None:
    result = cli(runner, *args, password=password)
    assert result.exit_code != 0 and message in result.output
    assert db.session.scalar(select(StaffUser).where(StaffUser.email == "x@clinic.test")) is None


def test_users_create_refuses_a_duplicate(runner, make_user) -> None:
    user = make_user("clinician")
    result = cli(runner, user.email, "--role", "clinician", password="a long and unusual passphrase")
    assert result.exit_code != 0 and "already exists" in result.output


def test_the_demo_admin_logs_in_with_the_printed_two_factor_key(client, login, library) -> None:
    from surveys.demo import DEMO_USERS, demo_totp_secret, load_demo

    summary = load_demo(db.session, n_patients=0, seed=1, secret="demo-key", base_url="http://x",
                        library=library)
    email, _role, password = DEMO_USERS[0]
    admin = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
    assert admin.totp_secret == demo_totp_secret("demo-key") and admin.totp_secret in summary
    login(admin, password)
    assert client.get("/studies/DEMO/patients").status_code == 200
