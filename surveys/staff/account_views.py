"""A staff member's own account: open sessions (end one, or all), password change, and the
re-authentication step that sensitive actions ask for (`access.recent_auth_required`).

Routes on the shared staff blueprint. Every change is audited with the client's address and
browser, and the account holder gets an e-mail about it after the commit.
"""

from __future__ import annotations

import base64
from functools import partial
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user
from sqlalchemy import func, select

from surveys.domain.account_tokens import (
    AccountTokenError,
    issue_account_token,
    open_account_token,
    use_account_token,
)
from surveys.domain.accounts import (
    AccountError,
    actor,
    check_totp,
    dummy_verify,
    new_totp_secret,
    set_password,
    totp_uri,
    verify_password,
)
from surveys.domain.audit import record
from surveys.domain.links import qr_svg
from surveys.domain.models import AccountToken, StaffSession, StaffUser
from surveys.domain.staff_sessions import (
    confirm_identity,
    end_session,
    end_user_sessions,
    open_sessions,
)
from surveys.infra.after_reply import after_reply
from surveys.infra.db import begin_writing, db
from surveys.infra.i18n import current_lang
from surveys.infra.security import limiter
from surveys.staff.access import (
    client_details,
    current_staff_session,
    idle_limit,
    safe_next,
    session_lifetime,
    start_session,
)
from surveys.staff.account_mail import tell_account_holder
from surveys.staff.blueprint import bp
from surveys.staff.forms import (
    ActionForm,
    ConfirmIdentityForm,
    ForgotPasswordForm,
    NewPasswordForm,
    PasswordChangeForm,
    WelcomeForm,
)

CONFIRM_LIMIT = "10 per minute;30 per hour"


@bp.get("/account")
@login_required
def account() -> Any:
    """The user's account: open sessions with address and browser, and what they can change."""
    rows = open_sessions(db.session, current_user, idle=idle_limit(), lifetime=session_lifetime())
    this = current_staff_session()
    return render_template("staff/account.html", sessions=rows, this_id=this.id if this else None,
                           form=ActionForm(), study=None)


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_one_session(session_id: int) -> Any:
    """End one of the user's own sessions (another browser, a lost phone)."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    row = db.session.get(StaffSession, session_id)
    if row is None or row.user_id != current_user.id:
        abort(404)
    end_session(row, "ended")
    record(db.session, actor(current_user), "session.end", entity="staff_session", entity_id=row.id,
           details=client_details())
    db.session.commit()
    this = current_staff_session()
    if this is not None and this.id == row.id:
        logout_user()
        session.clear()
        return redirect(url_for("staff.login"))
    flash(_("That session has ended."))
    return redirect(url_for("staff.account"))


@bp.post("/account/sessions/end-all")
@login_required
def end_all_sessions() -> Any:
    """Log out everywhere: every session of this account ends, this one included."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    user = current_user._get_current_object()
    ended = end_user_sessions(db.session, user, "logout_all")
    record(db.session, actor(user), "session.end_all", entity="staff_user", entity_id=user.id,
           details={"ended": ended, **client_details()})
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You were logged out everywhere."))
    return redirect(url_for("staff.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@limiter.limit(CONFIRM_LIMIT, methods=["POST"])
def change_password() -> Any:
    """Change one's own password (the current one required); every other session ends."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        problem = None
        password_ok = verify_password(user, form.current.data)
        begin_writing(db.session)  # after the slow hash, the writes below need a fresh transaction (SQLite)
        if not password_ok:
            problem = _("The current password is not right.")
        elif form.new.data != form.repeat.data:
            problem = _("The two new passwords differ.")
        else:
            try:
                ended = set_password(db.session, user, form.new.data)
            except AccountError as exc:
                problem = str(exc)
        if problem:
            db.session.rollback()
            flash(problem, "error")
            return render_template("staff/password_change.html", form=form, study=None), 400
        start_session(user)  # this browser goes on with a new key; every other copy is void
        record(db.session, actor(user), "user.password_change", entity="staff_user", entity_id=user.id,
               details={"sessions_ended": ended, **client_details()})
        db.session.commit()
        tell_account_holder(user.email, _("Your password was changed"),
                            _("The password of your account %(email)s was changed. Every other session "
                              "of this account was logged out.", email=user.email))
        flash(_("Your password was changed. Your other sessions were logged out."))
        return redirect(url_for("staff.account"))
    status = 400 if form.is_submitted() else 200
    return render_template("staff/password_change.html", form=form, study=None), status


@bp.route("/account/confirm", methods=["GET", "POST"], endpoint="confirm_identity")
@login_required
@limiter.limit(CONFIRM_LIMIT, methods=["POST"])
def confirm_identity_page() -> Any:
    """Prove it is you again (password, or a one-time code) before a sensitive action."""
    form = ConfirmIdentityForm()
    target = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        user = current_user._get_current_object()
        row = current_staff_session()
        code = (form.code.data or "").strip()
        if code and user.totp_secret:
            dummy_verify(form.password.data or "")
            ok, how = check_totp(user, code), "totp"
        else:
            ok, how = bool(form.password.data) and verify_password(user, form.password.data), "password"
        begin_writing(db.session)  # after the slow hash, the writes below need a fresh transaction (SQLite)
        if ok and row is not None:
            confirm_identity(row)
            record(db.session, actor(user), "session.reauth", entity="staff_user", entity_id=user.id,
                   details={"method": how, **client_details()})
            db.session.commit()
            return redirect(target)
        record(db.session, actor(user), "session.reauth_failure", entity="staff_user", entity_id=user.id,
               details={"method": how, **client_details()})
        db.session.commit()
        flash(_("That is not right. Try again."), "error")
        return render_template("staff/confirm.html", form=form, study=None), 401
    status = 400 if form.is_submitted() else 200
    return render_template("staff/confirm.html", form=form, study=None), status



# --- one-time links by e-mail: accepting an invitation, resetting a forgotten password ------------

LINK_LIMIT = "10 per minute;50 per hour"


def _open_link(secret: str, purpose: str) -> AccountToken:
    try:
        return open_account_token(db.session, secret, purpose)
    except AccountTokenError:
        abort(410, _("This link is not valid any more. Ask for a new one."))


@bp.route("/account/welcome/<token>", methods=["GET", "POST"])
@limiter.limit(LINK_LIMIT)
def welcome(token: str) -> Any:
    """Accept an invitation: choose a password and set up two-factor login, with the e-mailed link."""
    link = _open_link(token, "invite")
    user = link.user
    form = WelcomeForm()
    secret = session.get("welcome_totp")
    if not isinstance(secret, str) or session.get("welcome_token") != link.id:
        secret = new_totp_secret()
        session["welcome_totp"], session["welcome_token"] = secret, link.id
    if form.validate_on_submit():
        problem = None
        if form.new.data != form.repeat.data:
            problem = _("The two new passwords differ.")
        elif not check_totp(user, form.code.data, secret=secret):
            problem = _("That code is not right. Check the time on your phone and type the newest code.")
        else:
            try:
                set_password(db.session, user, form.new.data)
            except AccountError as exc:
                problem = str(exc)
        if problem:
            db.session.rollback()
            flash(problem, "error")
        else:
            user.totp_secret = secret
            use_account_token(link)
            record(db.session, actor(user), "user.invite_accept", entity="staff_user", entity_id=user.id,
                   details=client_details())
            db.session.commit()
            session.pop("welcome_totp", None)
            session.pop("welcome_token", None)
            flash(_("Your account is ready. Log in with your e-mail, your password and a code from "
                    "your app."))
            return redirect(url_for("staff.login"))
    uri = totp_uri(user.email, secret)
    qr = base64.b64encode(qr_svg(uri, title=_("Two-factor login")).encode()).decode("ascii")
    status = 400 if form.is_submitted() else 200
    page = render_template("staff/welcome.html", form=form, account=user, secret=secret, uri=uri, qr=qr)
    return page, status


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(LINK_LIMIT, methods=["POST"])
def forgot_password() -> Any:
    """Ask for a password reset link. The answer is the same, and the request does the same work,
    whether an account exists or not: the look-up, the link, the audit and the e-mail all happen
    after the reply has gone out (`send_reset_link`), so its timing tells nobody which it was."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        base = current_app.config["BASE_URL"].rstrip("/")
        link = base + url_for("staff.reset_password", token=RESET_LINK_SLOT)
        after_reply(partial(send_reset_link, email, link, client_details(), current_lang()),
                    "password reset request")
        flash(_("If an account exists for that address, an e-mail with a link is on its way. The link works "
                "once, within an hour."))
        return redirect(url_for("staff.forgot_password"))
    status = 400 if form.is_submitted() else 200
    return render_template("staff/forgot.html", form=form), status


RESET_LINK_SLOT = "LINK-SLOT"  # where the one-time token goes in the reset link's address


def send_reset_link(email: str, link: str, client: dict[str, str], lang: str) -> None:
    """After the reply: for an active account with this address, issue a one-time reset link (1 h),
    audit the request and e-mail the link, in the account's language (else the asker's `lang`).
    Nothing for an unknown or deactivated address. Needs an app context; commits."""
    user = db.session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email))
    if user is None or not user.active:
        return
    secret = issue_account_token(db.session, user, "reset")
    record(db.session, f"anonymous:{email}", "user.password_reset_request", entity="staff_user",
           entity_id=user.id, details=client)
    db.session.commit()
    with force_locale(user.language or lang):
        tell_account_holder(user.email, _("Reset your password"),
                            _("Someone (we hope you) asked to reset the password of %(email)s. Open "
                              "this link within an hour to choose a new one:\n\n%(link)s\n\nIf it was "
                              "not you, ignore this e-mail: your password stays as it is.",
                              email=user.email, link=link.replace(RESET_LINK_SLOT, secret)))


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(LINK_LIMIT)
def reset_password(token: str) -> Any:
    """Choose a new password with the e-mailed link; every session of the account ends."""
    link = _open_link(token, "reset")
    user = link.user
    form = NewPasswordForm()
    if form.validate_on_submit():
        problem = None
        if form.new.data != form.repeat.data:
            problem = _("The two new passwords differ.")
        else:
            try:
                ended = set_password(db.session, user, form.new.data)
            except AccountError as exc:
                problem = str(exc)
        if problem:
            db.session.rollback()
            flash(problem, "error")
            return render_template("staff/reset.html", form=form), 400
        use_account_token(link)
        record(db.session, actor(user), "user.password_reset", entity="staff_user", entity_id=user.id,
               details={"sessions_ended": ended, "via": "e-mail link", **client_details()})
        db.session.commit()
        tell_account_holder(user.email, _("Your password was changed"),
                            _("The password of your account %(email)s was changed. Every other session "
                              "of this account was logged out.", email=user.email))
        flash(_("Your password was changed. Log in with the new one."))
        return redirect(url_for("staff.login"))
    status = 400 if form.is_submitted() else 200
    return render_template("staff/reset.html", form=form), status
