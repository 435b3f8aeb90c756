"""Staff accounts in the web, for administrators: invite by e-mail, list, deactivate and reactivate,
role and study memberships, reset a lost authenticator. Every change is audited and e-mailed to the
person concerned (after the commit). Changing a role or memberships asks for a recent proof of
identity. An administrator cannot deactivate, demote or reset themself here (no lock-out by a
slip); the command line (`flask --app app users ...`) is the way back in for a locked-out clinic.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from surveys.domain.account_tokens import issue_account_token
from surveys.domain.accounts import AccountError, actor, invite_user, reset_totp, set_active, set_role
from surveys.domain.audit import record
from surveys.domain.models import StaffUser, Study
from surveys.infra.db import db
from surveys.staff.access import client_details, recent_auth_required, roles_required
from surveys.staff.account_mail import tell_account_holder
from surveys.staff.blueprint import bp
from surveys.staff.forms import AccessForm, ActionForm, InviteForm

ROLE_NAMES = {"admin": "administrator", "coordinator": "coordinator", "clinician": "clinician"}


def _user_or_404(user_id: int) -> StaffUser:
    user = db.session.get(StaffUser, user_id)
    if user is None:
        abort(404)
    return user


def _not_self(user: StaffUser) -> None:
    if user.id == current_user.id:
        abort(403, _("Change your own account from your account page, or ask another administrator."))


def _studies_from_form() -> list[Study]:
    codes = request.form.getlist("study")
    studies = list(db.session.scalars(select(Study).where(Study.code.in_(codes)))) if codes else []
    if len(studies) != len(set(codes)):
        abort(400, _("Choose among the existing studies."))
    return studies


def _invite_link(secret: str) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + url_for("staff.welcome", token=secret)


def _send_invitation(user: StaffUser, secret: str) -> None:
    tell_account_holder(
        user.email, _("Your invitation to the hair-loss PROM platform"),
        _("You were invited as %(role)s. Within 72 hours, open this link to choose your password and set "
          "up two-factor login (an authenticator app on your phone):\n\n%(link)s\n\nThe link works once.",
          role=ROLE_NAMES[user.role], link=_invite_link(secret)))


@bp.get("/admin/users")
@roles_required()
def users() -> Any:
    """Every staff account, with a form to invite someone."""
    accounts = list(db.session.scalars(select(StaffUser).order_by(StaffUser.email)))
    studies = list(db.session.scalars(select(Study).order_by(Study.code)))
    return render_template("staff/admin_users.html", accounts=accounts, studies=studies, form=InviteForm(),
                           study=None)


@bp.post("/admin/users")
@roles_required()
def invite() -> Any:
    """Create an account and e-mail its holder a one-time link (72 h) to set a password and two-factor."""
    form = InviteForm()
    studies = _studies_from_form()
    problem = None
    if not form.validate_on_submit():
        problem = _("Give an e-mail address and a role.")
    else:
        try:
            user = invite_user(db.session, form.email.data, form.role.data, studies)
        except AccountError as exc:
            problem = str(exc)
    if problem:
        db.session.rollback()
        flash(problem, "error")
        return redirect(url_for("staff.users"))
    secret = issue_account_token(db.session, user, "invite")
    record(db.session, actor(current_user), "user.invite", entity="staff_user", entity_id=user.id,
           details={"email": user.email, "role": user.role, "studies": sorted(s.code for s in studies),
                    **client_details()})
    db.session.commit()
    _send_invitation(user, secret)
    flash(_("Invitation sent to %(email)s.", email=user.email))
    return redirect(url_for("staff.users"))


@bp.get("/admin/users/<int:user_id>")
@roles_required()
def user_page(user_id: int) -> Any:
    """One account: its state, role and studies, and what an administrator can do about it."""
    user = _user_or_404(user_id)
    studies = list(db.session.scalars(select(Study).order_by(Study.code)))
    form = AccessForm(role=user.role)
    return render_template("staff/admin_user.html", account=user, studies=studies, form=form,
                           action_form=ActionForm(), member_of={s.id for s in user.studies},
                           is_self=user.id == current_user.id, study=None)


@bp.post("/admin/users/<int:user_id>/access")
@roles_required()
@recent_auth_required
def user_access(user_id: int) -> Any:
    """Change an account's role and study memberships (a recent proof of identity required)."""
    user = _user_or_404(user_id)
    _not_self(user)
    form = AccessForm()
    if not form.validate_on_submit():
        abort(400, _("Choose a role."))
    changes = set_role(db.session, user, form.role.data, _studies_from_form())
    if changes:
        record(db.session, actor(current_user), "user.role_change", entity="staff_user", entity_id=user.id,
               details={"email": user.email, **changes, **client_details()})
    db.session.commit()
    if changes:
        lines = "\n".join(f"{name}: {old} -> {new}" for name, (old, new) in changes.items())
        body = _("The access of your account %(email)s changed:", email=user.email) + "\n" + lines
        tell_account_holder(user.email, _("Your role or studies changed"), body)
        flash(_("Access of %(email)s changed.", email=user.email))
    else:
        flash(_("Nothing changed."))
    return redirect(url_for("staff.user_page", user_id=user.id))


def _set_active(user_id: int, active: bool) -> Any:
    user = _user_or_404(user_id)
    _not_self(user)
    if not ActionForm().validate_on_submit():
        abort(400)
    if set_active(db.session, user, active):
        record(db.session, actor(current_user), "user.reactivate" if active else "user.deactivate",
               entity="staff_user", entity_id=user.id, details={"email": user.email, **client_details()})
        db.session.commit()
        if active:
            tell_account_holder(user.email, _("Your account was reactivated"),
                                _("Your account %(email)s can log in again.", email=user.email))
            flash(_("%(email)s can log in again.", email=user.email))
        else:
            tell_account_holder(user.email, _("Your account was deactivated"),
                                _("Your account %(email)s was deactivated: its sessions and API tokens "
                                  "stopped working.", email=user.email))
            flash(_("%(email)s was deactivated; every session of the account has ended.", email=user.email))
    return redirect(url_for("staff.user_page", user_id=user.id))


@bp.post("/admin/users/<int:user_id>/deactivate")
@roles_required()
def user_deactivate(user_id: int) -> Any:
    """Deactivate an account: its sessions end at once and its API tokens stop working."""
    return _set_active(user_id, False)


@bp.post("/admin/users/<int:user_id>/reactivate")
@roles_required()
def user_reactivate(user_id: int) -> Any:
    """Let a deactivated account log in again."""
    return _set_active(user_id, True)


@bp.post("/admin/users/<int:user_id>/reset-totp")
@roles_required()
def user_reset_totp(user_id: int) -> Any:
    """Forget a lost authenticator: the person sets up a new one at their next login."""
    user = _user_or_404(user_id)
    _not_self(user)
    if not ActionForm().validate_on_submit():
        abort(400)
    reset_totp(db.session, user)
    record(db.session, actor(current_user), "user.totp_reset", entity="staff_user", entity_id=user.id,
           details={"email": user.email, **client_details()})
    db.session.commit()
    tell_account_holder(user.email, _("Your two-factor login was reset"),
                        _("The authenticator of your account %(email)s was forgotten; set up a new one after "
                          "your next login.", email=user.email))
    flash(_("Two-factor login of %(email)s reset.", email=user.email))
    return redirect(url_for("staff.user_page", user_id=user.id))


@bp.post("/admin/users/<int:user_id>/reinvite")
@roles_required()
def user_reinvite(user_id: int) -> Any:
    """Send a new invitation link (the previous one stops working)."""
    user = _user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if user.last_login_at is not None or not user.active:
        abort(409, _("This account was already used or is deactivated: no invitation to send."))
    secret = issue_account_token(db.session, user, "invite")
    record(db.session, actor(current_user), "user.invite", entity="staff_user", entity_id=user.id,
           details={"email": user.email, "again": True, **client_details()})
    db.session.commit()
    _send_invitation(user, secret)
    flash(_("Invitation sent to %(email)s.", email=user.email))
    return redirect(url_for("staff.user_page", user_id=user.id))
