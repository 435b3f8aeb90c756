"""In a real browser: an admin invites a coordinator by e-mail; the coordinator sets a password and
two-factor login from the e-mailed link and logs in; the admin deactivates the account and the
coordinator's open page loses access at once."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pyotp

from tests.browser.conftest import axe_violations
from tests.conftest import TEST_PASSWORD

NEW_PASSWORD = "orchid lantern quietly 2026"


def code_after(secret: str, steps: int) -> str:
    """The one-time code `steps` 30-second steps from now (each code is accepted once)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


def log_in(page: Any, base: str, email: str, password: str, secret: str, step: int) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    page.get_by_label("6-digit code").fill(code_after(secret, step))
    with page.expect_navigation():
        page.get_by_role("button", name="Continue").click()


def test_an_admin_invites_a_coordinator_who_is_later_deactivated(browser, desktop, live_server) -> None:
    from surveys.domain.accounts import create_user, new_totp_secret
    from surveys.domain.studies import create_study
    from surveys.infra.db import db
    from surveys.infra.library import instruments

    def world() -> tuple[str, str]:
        create_study(db.session, "INVITE", "Invitation study", instruments(), actor="test")
        admin = create_user(db.session, "head@invite.test", TEST_PASSWORD, "admin")
        admin.totp_secret = new_totp_secret()
        return admin.email, admin.totp_secret

    admin_email, admin_secret = live_server.run(world)
    base, page = live_server.url, desktop
    log_in(page, base, admin_email, TEST_PASSWORD, admin_secret, 0)

    page.goto(f"{base}/admin/users")
    assert axe_violations(page) == []
    page.get_by_label("E-mail of the person to invite").fill("new.coordinator@invite.test")
    page.get_by_label("Role").select_option("coordinator")
    page.get_by_label("INVITE · Invitation study").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Send the invitation").click()
    assert "Invitation sent to new.coordinator@invite.test" in page.content()

    outbox = Path(live_server.app.config["MAIL_OUTBOX"])
    mails = (p.read_text() for p in outbox.glob("*.eml"))
    mail = next(m for m in mails if "new.coordinator@invite.test" in m)
    link = re.search(r"(http://127\.0\.0\.1:\d+/account/welcome/[A-Za-z0-9_\-]+)", mail.replace("=\n", ""))
    assert link, mail

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    newcomer = context.new_page()
    try:
        newcomer.goto(link.group(1))
        assert axe_violations(newcomer) == []
        secret = newcomer.locator("#totp-key").inner_text().strip()
        newcomer.get_by_label("New password (at least 12 characters)").fill(NEW_PASSWORD)
        newcomer.get_by_label("New password again").fill(NEW_PASSWORD)
        newcomer.get_by_label("6-digit code from your authenticator app").fill(code_after(secret, 0))
        with newcomer.expect_navigation():
            newcomer.get_by_role("button", name="Finish").click()
        assert "Your account is ready" in newcomer.content()

        log_in(newcomer, base, "new.coordinator@invite.test", NEW_PASSWORD, secret, 1)
        newcomer.goto(f"{base}/studies/INVITE/patients")
        assert newcomer.url.endswith("/studies/INVITE/patients")

        page.goto(f"{base}/admin/users")
        with page.expect_navigation():
            page.get_by_role("link", name="new.coordinator@invite.test").click()
        with page.expect_navigation():
            page.get_by_role("button", name="Deactivate (ends every session at once)").click()
        assert "every session of the account has ended" in page.content()

        newcomer.goto(f"{base}/studies/INVITE/patients")
        assert "/login" in newcomer.url  # the open session ended with the deactivation
        assert "Your session has ended" in newcomer.content()
    finally:
        context.close()
