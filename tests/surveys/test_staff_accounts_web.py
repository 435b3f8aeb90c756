"""Staff accounts in the web: invitations, one-time links, deactivation, roles, lost authenticators,
forgotten passwords; every change audited and e-mailed to the person concerned."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, update

from surveys.domain import accounts
from surveys.domain.models import AccountToken, AuditEvent, StaffSession, StaffUser
from surveys.infra.db import db, utcnow
from tests.conftest import TEST_PASSWORD
from tests.surveys.staff_world import fast_password_hashing as fast_password_hashing

pytestmark = pytest.mark.usefixtures("fast_password_hashing")
NEW_PASSWORD = "a brand new and unusual passphrase"


def mails_to(app: Any, email: str) -> list[str]:
    return [m for m in (p.read_text() for p in Path(app.config["MAIL_OUTBOX"]).glob("*.eml"))
            if f"To: {email}" in m]


def link_in(mail: str, path: str) -> str:
    found = re.search(rf"http://localhost({path}/[A-Za-z0-9_\-]+)", mail.replace("=\n", ""))
    assert found, mail
    return found.group(1)


def last_event(action: str) -> AuditEvent:
    return db.session.scalar(select(AuditEvent).where(AuditEvent.action == action)
                             .order_by(AuditEvent.id.desc()).limit(1))


def invite(client: Any, email: str, role: str = "coordinator", studies: tuple[str, ...] = ()) -> Any:
    return client.post("/admin/users", data={"email": email, "role": role, "study": list(studies)})


def accept(app: Any, email: str) -> tuple[Any, str]:
    """Open the invitation with a fresh browser, set a password and two-factor; (browser, secret)."""
    url = link_in(mails_to(app, email)[-1], "/account/welcome")
    browser = app.test_client()
    page = browser.get(url).get_data(as_text=True)
    secret = re.search(r'id="totp-key">([A-Z2-7]+)<', page).group(1)
    response = browser.post(url, data={"new": NEW_PASSWORD, "repeat": NEW_PASSWORD,
                                       "code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return browser, url


def test_an_admin_invites_someone_who_sets_a_password_and_two_factor(app, client, login, make_user,
                                                                   make_study) -> None:
    study = make_study("INV1")
    login(make_user("admin"))
    assert invite(client, "New.Nurse@clinic.test", studies=(study.code,)).status_code == 302
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == "new.nurse@clinic.test"))
    assert user.role == "coordinator" and [s.code for s in user.studies] == ["INV1"]
    assert last_event("user.invite").entity_id == str(user.id)
    browser, url = accept(app, user.email)
    changed = db.session.get(StaffUser, user.id)
    assert changed.totp_secret and accounts.verify_password(changed, NEW_PASSWORD)
    assert browser.get(url).status_code == 410  # the link works once
    assert last_event("user.invite_accept").entity_id == str(user.id)


def test_an_invitation_expires_after_72_hours(app, client, login, make_user) -> None:
    login(make_user("admin"))
    invite(client, "late@clinic.test")
    db.session.execute(update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    url = link_in(mails_to(app, "late@clinic.test")[-1], "/account/welcome")
    assert app.test_client().get(url).status_code == 410


def test_only_admins_manage_accounts(client, login, make_user) -> None:
    login(make_user("coordinator"))
    assert client.get("/admin/users").status_code == 403
    assert invite(client, "x@clinic.test").status_code == 403


def test_deactivation_is_immediate_audited_and_mailed(app, client, login, make_user) -> None:
    nurse = make_user("coordinator", email="nurse@clinic.test")
    other = app.test_client()
    other.post("/login", data={"email": nurse.email, "password": TEST_PASSWORD})
    assert other.get("/").status_code == 200
    login(make_user("admin"))
    assert client.post(f"/admin/users/{nurse.id}/deactivate").status_code == 302
    assert other.get("/").status_code == 302
    assert last_event("user.deactivate").entity_id == str(nurse.id)
    assert any("deactivated" in m for m in mails_to(app, nurse.email))
    assert client.post(f"/admin/users/{nurse.id}/reactivate").status_code == 302
    assert db.session.get(StaffUser, nurse.id).active


def test_changing_a_role_needs_a_recent_proof_and_never_touches_ones_own(app, client, login, make_user,
                                                                        make_study) -> None:
    study = make_study("ROLEW")
    admin = make_user("admin")
    doc = make_user("clinician")
    login(admin)
    data = {"role": "coordinator", "study": [study.code]}
    assert client.post(f"/admin/users/{doc.id}/access", data=data).status_code == 302
    assert db.session.get(StaffUser, doc.id).role == "coordinator"
    assert last_event("user.role_change").details["studies"] == [[], ["ROLEW"]]
    assert any("coordinator" in m for m in mails_to(app, doc.email))
    db.session.execute(update(StaffSession).values(authenticated_at=utcnow() - timedelta(minutes=6)))
    response = client.post(f"/admin/users/{doc.id}/access", data={"role": "clinician"})
    assert response.status_code == 302 and "/account/confirm" in response.headers["Location"]
    assert db.session.get(StaffUser, doc.id).role == "coordinator"
    client.post("/account/confirm", data={"password": TEST_PASSWORD})
    assert client.post(f"/admin/users/{admin.id}/access", data={"role": "clinician"}).status_code == 403
    assert client.post(f"/admin/users/{admin.id}/deactivate").status_code == 403


def test_a_lost_authenticator_is_reset_by_an_admin(app, client, login, make_user) -> None:
    doc = make_user("clinician", totp=True)
    login(make_user("admin"))
    assert client.post(f"/admin/users/{doc.id}/reset-totp").status_code == 302
    assert db.session.get(StaffUser, doc.id).totp_secret is None
    assert last_event("user.totp_reset").entity_id == str(doc.id)


def test_a_forgotten_password_is_reset_by_e_mailed_link_without_telling_who_exists(app, client,
                                                                                  make_user) -> None:
    user = make_user("coordinator", email="forgetful@clinic.test")
    other = app.test_client()
    other.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    known = client.post("/password/forgot", data={"email": user.email})
    unknown = client.post("/password/forgot", data={"email": "nobody@clinic.test"})
    assert (known.status_code, known.headers["Location"]) == \
        (unknown.status_code, unknown.headers["Location"])
    known.close(), unknown.close()  # the server closes every reply; the link goes out then
    assert mails_to(app, "nobody@clinic.test") == []
    url = link_in(mails_to(app, user.email)[-1], "/password/reset")
    assert client.post(url, data={"new": "short", "repeat": "short"}).status_code == 400
    assert client.post(url, data={"new": NEW_PASSWORD, "repeat": NEW_PASSWORD}).status_code == 302
    assert accounts.verify_password(db.session.get(StaffUser, user.id), NEW_PASSWORD)
    assert other.get("/").status_code == 302  # sessions opened with the old password ended
    assert client.get(url).status_code == 410  # once only
    assert last_event("user.password_reset").entity_id == str(user.id)


def test_a_forgotten_password_request_does_the_same_work_for_known_and_unknown_addresses(
        app, client, make_user, monkeypatch) -> None:
    """Issue 15: the answer was the same but its time was not (a token, an audit event and an SMTP
    hand-over for a known address only). The request itself now does the same work for both; the
    look-up, link, audit and mail happen once the reply has gone out."""
    from collections import Counter

    from surveys.staff import account_views
    from tests.conftest import statements_run

    user = make_user("coordinator", email="known@clinic.test")
    db.session.commit()
    calls: Counter[str] = Counter()

    def counted(name: str, function: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return function(*args, **kwargs)
        return call

    for name in ("issue_account_token", "record", "tell_account_holder", "send_reset_link"):
        monkeypatch.setattr(account_views, name, counted(name, getattr(account_views, name)))
    work = {}
    for email in (user.email, "nobody@clinic.test"):
        calls.clear()
        with statements_run() as statements:
            # Not read whole (the test client's default): the work after the reply runs at close().
            reply = client.post("/password/forgot", data={"email": email}, buffered=False)
        in_request = (reply.status_code, reply.headers["Location"], dict(calls), list(statements))
        reply.close()
        work[email] = (in_request, dict(calls))
    (known_request, known_after), (unknown_request, unknown_after) = work.values()
    assert known_request == unknown_request == (302, "/password/forgot", {}, [])
    assert known_after == {"send_reset_link": 1, "issue_account_token": 1, "record": 1,
                           "tell_account_holder": 1}
    assert unknown_after == {"send_reset_link": 1}
    assert mails_to(app, user.email) and not mails_to(app, "nobody@clinic.test")


def test_the_account_lists_show_last_logins_in_local_time(client, login, make_user) -> None:
    admin = make_user("admin")
    login(admin)
    listing = client.get("/admin/users").get_data(as_text=True)
    one = client.get(f"/admin/users/{admin.id}").get_data(as_text=True)
    for page in (listing, one):
        assert "Last login" in page and "UTC" not in page  # issue 17: local time, zone named
