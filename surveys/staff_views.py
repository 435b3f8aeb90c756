"""Staff-facing pages: login, studies, patients, sessions, alerts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from surveys.audit import record
from surveys.db import db, utcnow
from surveys.models import StaffUser, Study
from surveys.staff import verify_password

bp = Blueprint("staff", __name__)

# The per-study navigation; endpoints that do not exist (yet) are left out by the layout.
STAFF_NAV = (
    ("reports.dashboard", "Dashboard"),
    ("staff.patients", "Patients"),
    ("staff.worklist", "Worklist"),
    ("staff.alerts", "Alerts"),
    ("exports.index", "Exports"),
    ("staff.audit_trail", "Audit trail"),
)


@bp.app_context_processor
def _navigation() -> dict[str, Any]:
    return {"staff_nav": STAFF_NAV}


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Staff login with e-mail and password."""
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email))
        if user is None or not user.active or not verify_password(user, form.password.data):
            record(db.session, f"anonymous:{email}", "login.failure", entity="staff_user")
            db.session.commit()
            flash("E-mail or password is not right.", "error")
            return render_template("staff/login.html", form=form), 401
        session.clear()
        login_user(user)
        user.last_login_at = utcnow()
        record(db.session, f"staff:{user.id}", "login.success", entity="staff_user", entity_id=user.id)
        db.session.commit()
        target = request.args.get("next", "")
        if not target.startswith("/") or target.startswith("//"):
            target = url_for("staff.home")
        return redirect(target)
    return render_template("staff/login.html", form=form), 400 if form.is_submitted() else 200


@bp.post("/logout")
@login_required
def logout() -> Any:
    """End the staff session."""
    logout_user()
    session.clear()
    return redirect(url_for("staff.login"))


@bp.get("/")
@login_required
def home() -> Any:
    """The studies this user may see."""
    if current_user.role == "admin":
        studies = list(db.session.scalars(select(Study).order_by(Study.code)))
    else:
        studies = sorted(current_user.studies, key=lambda s: s.code)
    return render_template("staff/home.html", studies=studies)
