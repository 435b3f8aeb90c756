"""A staff member's own account: open sessions (end one, or all), password change, and the
re-authentication step that sensitive actions ask for (`access.recent_auth_required`).

Routes on the shared staff blueprint. Every change is audited with the client's address and
browser, and the account holder gets an e-mail about it after the commit.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from surveys.domain.accounts import (
    AccountError,
    actor,
    check_totp,
    dummy_verify,
    set_password,
    verify_password,
)
from surveys.domain.audit import record
from surveys.domain.models import StaffSession
from surveys.domain.staff_sessions import (
    confirm_identity,
    end_session,
    end_user_sessions,
    open_sessions,
)
from surveys.infra.db import db
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
from surveys.staff.forms import ActionForm, ConfirmIdentityForm, PasswordChangeForm

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
        if not verify_password(user, form.current.data):
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

