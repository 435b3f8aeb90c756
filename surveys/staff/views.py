"""Staff-facing pages: login with two-factor, the idle timeout, studies, timelines, audit trail.

Patient management, the worklist and the alert queue are in `surveys.staff.patient_views`,
on the same blueprint.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required, logout_user
from sqlalchemy import func, select

from surveys.domain.accounts import (
    CREATE_STUDY,
    actor,
    check_totp,
    dummy_verify,
    new_totp_secret,
    totp_uri,
    verify_password,
)
from surveys.domain.amendments import protocol_history, protocol_problem, read_protocol_json
from surveys.domain.audit import record, study_trail
from surveys.domain.links import qr_svg
from surveys.domain.models import StaffUser, Study
from surveys.domain.patients import study_protocol
from surveys.domain.protocol import ProtocolError
from surveys.domain.staff_sessions import end_session
from surveys.domain.studies import create_study
from surveys.infra.db import begin_writing, db, utcnow
from surveys.infra.library import instruments
from surveys.infra.security import limiter, wants_json
from surveys.infra.throttle import LoginThrottle
from surveys.staff.access import (
    client_details,
    current_staff_session,
    recent_auth_required,
    roles_required,
    safe_next,
    start_session,
    study_or_404,
)
from surveys.staff.blueprint import bp
from surveys.staff.forms import ActionForm, LanguageForm, LoginForm, StudyForm, TotpForm

# The per-study navigation; endpoints that do not exist (yet) are left out by the layout.
STAFF_NAV = (
    ("reports.dashboard", _l("Dashboard")),
    ("staff.patients", _l("Patients")),
    ("staff.worklist", _l("Worklist")),
    ("staff.alerts", _l("Alerts")),
    ("exports.index", _l("Exports")),
    ("staff.audit_trail", _l("Audit trail")),
    ("staff.timeline", _l("Timeline")),
    ("staff.study_protocol_page", _l("Protocol")),
    ("staff.study_settings", _l("Settings")),
)
# Per client address (the real one behind TRUSTED_PROXIES); per account *and* address, growing
# delays (`LoginThrottle`), so nobody can lock a colleague's right password out from elsewhere.
LOGIN_LIMIT = "10 per minute;50 per hour"
TOTP_LIMIT = "5 per minute;30 per hour"
PENDING_SECONDS = 300  # time between the password and the one-time code
# What an admin without two-factor may still reach: setting it up, logging out, static files.
_SETUP_ENDPOINTS = {"staff.totp_setup", "staff.confirm_identity", "staff.logout", "static", "healthz"}


@bp.app_context_processor
def _navigation() -> dict[str, Any]:
    views = current_app.view_functions
    return {"staff_nav": [(endpoint, label) for endpoint, label in STAFF_NAV if endpoint in views],
            "language_form": _language_form}


def _language_form() -> LanguageForm:
    """The header's language control, showing the logged-in staff member's preference."""
    return LanguageForm(formdata=None, language=getattr(current_user, "language", None) or "")


@bp.before_app_request
def _staff_session_rules() -> Any:
    """Refuse a cookie whose server-side session is over; send an admin without two-factor to set
    it up first. (The idle clock and the absolute lifetime are checked by the user loader.)"""
    # The user is loaded, and its session checked, afresh for every request, even where one app
    # context serves several requests (the test client inside an app context shares one `g`).
    for name in ("_login_user", "staff_session", "staff_session_end"):
        g.pop(name, None)
    if not current_user.is_authenticated:
        reason = g.pop("staff_session_end", None)
        if reason is None or "_user_id" not in session:
            return None
        session.clear()
        if wants_json():
            abort(401)
        config = current_app.config
        if reason == "idle":
            flash(_("You were logged out after %(minutes)s minutes without activity. Please log in again.",
                    minutes=config["STAFF_IDLE_MINUTES"]), "error")
        elif reason == "expired":
            flash(_("Your session reached its %(hours)s-hour limit. Please log in again.",
                    hours=config["STAFF_SESSION_HOURS"]), "error")
        else:
            flash(_("Your session has ended (logged out, password changed or account deactivated). "
                    "Please log in again."), "error")
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("staff.login", next=target))
    endpoint = request.endpoint or ""
    needs_setup = current_user.role == "admin" and not current_user.totp_secret
    if needs_setup and endpoint not in _SETUP_ENDPOINTS and not endpoint.endswith("static"):
        flash(_("Administrators must use two-factor login: set it up before anything else."), "error")
        return redirect(url_for("staff.totp_setup"))
    return None


@bp.after_app_request
def _no_store(response: Any) -> Any:
    """Pages for a logged-in user hold patient data: never cached by the browser or a proxy."""
    # Static files (the app's and each blueprint's, e.g. `reports.static`, `reports.static_plotly`) hold no
    # patient data and keep their own cache headers.
    endpoint = (request.endpoint or "").rpartition(".")[2]
    if current_user.is_authenticated and endpoint and not endpoint.startswith("static"):
        response.headers["Cache-Control"] = "no-store"
    return response


def _pending_user_key() -> str:
    return f"totp-user:{session.get('pending_user', '-')}"


def _finish_login(user: StaffUser, target: str | None, *, two_factor: bool) -> Any:
    start_session(user)
    user.last_login_at = utcnow()
    record(db.session, actor(user), "login.success", entity="staff_user", entity_id=user.id,
           details={"two_factor": two_factor, **client_details()})
    db.session.commit()
    return redirect(safe_next(target))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, methods=["POST"])
def login() -> Any:
    """Staff login with e-mail and password; a second step asks for the one-time code if set up."""
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        throttle = LoginThrottle.for_request(email)
        wait = throttle.wait_seconds()
        if wait:
            record(db.session, f"anonymous:{email}", "login.throttled", entity="staff_user",
                   details={"wait_seconds": wait, **client_details()})
            db.session.commit()
            flash(ngettext("Too many wrong passwords for this account. Try again in %(num)d second.",
                           "Too many wrong passwords for this account. Try again in %(num)d seconds.",
                           wait), "error")
            return render_template("staff/login.html", form=form), 429, {"Retry-After": str(wait)}
        user = db.session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email))
        # One hash check whatever the account's state (unknown, deactivated, wrong or right
        # password): the answer takes as long either way, so timing tells nobody which it was.
        if user is None:
            dummy_verify(form.password.data)
            password_ok = False
        else:
            password_ok = verify_password(user, form.password.data)
        begin_writing(db.session)  # after the slow hash, the writes below need a fresh transaction (SQLite)
        if user is None or not user.active or not password_ok:
            throttle.failed()
            record(db.session, f"anonymous:{email}", "login.failure", entity="staff_user",
                   entity_id=user.id if user else None, details={"stage": "password", **client_details()})
            db.session.commit()
            flash(_("E-mail or password is not right."), "error")
            return render_template("staff/login.html", form=form), 401
        throttle.succeeded()
        target = request.args.get("next")
        if user.totp_secret:
            session.clear()
            session.update(pending_user=user.id, pending_at=time.time(), pending_next=target)
            return redirect(url_for("staff.login_totp"))
        return _finish_login(user, target, two_factor=False)
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(url_for("staff.home"))
    return render_template("staff/login.html", form=form), 400 if form.is_submitted() else 200


@bp.route("/login/2fa", methods=["GET", "POST"])
@limiter.limit(TOTP_LIMIT, methods=["POST"])
@limiter.limit(TOTP_LIMIT, methods=["POST"], key_func=_pending_user_key)
def login_totp() -> Any:
    """The second login step: the one-time code of the user's authenticator app."""
    user_id, started = session.get("pending_user"), session.get("pending_at", 0)
    user = db.session.get(StaffUser, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active or not user.totp_secret or time.time() - started > PENDING_SECONDS:
        session.clear()
        flash(_("Please log in again."), "error")
        return redirect(url_for("staff.login"))
    form = TotpForm()
    if form.validate_on_submit():
        if check_totp(user, form.code.data):
            return _finish_login(user, session.get("pending_next"), two_factor=True)
        record(db.session, f"anonymous:{user.email}", "login.failure", entity="staff_user",
               entity_id=user.id, details={"stage": "totp", **client_details()})
        db.session.commit()
        flash(_("That code is not right or was already used. Wait for the next code and try again."), "error")
        return render_template("staff/login_totp.html", form=form), 401
    return render_template("staff/login_totp.html", form=form), 400 if form.is_submitted() else 200


@bp.post("/logout")
@login_required
def logout() -> Any:
    """End the staff session on the server too: a copy of the cookie no longer works."""
    row = current_staff_session()
    if row is not None:
        end_session(row, "logout")
    record(db.session, actor(current_user), "logout", entity="staff_user", entity_id=current_user.id,
           details=client_details())
    db.session.commit()
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


@bp.route("/account/2fa", methods=["GET", "POST"])
@login_required
@recent_auth_required
def totp_setup() -> Any:
    """Set up (or replace) two-factor login: scan the code, type one code to prove it works."""
    form = TotpForm()
    secret = session.get("totp_pending")
    if form.validate_on_submit() and isinstance(secret, str):
        if check_totp(current_user, form.code.data, secret=secret):
            replaced = current_user.totp_secret is not None
            current_user.totp_secret = secret
            session.pop("totp_pending", None)
            record(db.session, actor(current_user), "user.totp_enable", entity="staff_user",
                   entity_id=current_user.id, details={"replaced": replaced})
            db.session.commit()
            flash(_("Two-factor login is on. From now on you will be asked for a code after your password."))
            return redirect(url_for("staff.home"))
        flash(_("That code is not right. Check the time on your phone and type the newest code."), "error")
        status = 400
    else:
        if request.method == "GET" or not isinstance(secret, str):
            secret = new_totp_secret()
            session["totp_pending"] = secret
        status = 400 if form.is_submitted() else 200
    uri = totp_uri(current_user.email, secret)
    qr = base64.b64encode(qr_svg(uri, title=_("Two-factor login")).encode()).decode("ascii")
    return render_template("staff/totp_setup.html", form=form, secret=secret, uri=uri, qr=qr,
                           required=current_user.role == "admin"), status


@bp.route("/studies/new", methods=["GET", "POST"])
@roles_required(*CREATE_STUDY)
def new_study() -> Any:
    """Create a study from the shipped protocol or an uploaded protocol file."""
    form = StudyForm()
    if not form.validate_on_submit():
        return render_template("staff/study_new.html", form=form), 400 if form.is_submitted() else 200
    protocol_data = None
    try:
        if form.protocol_source.data == "upload":
            protocol_data = _uploaded_protocol(form.protocol_file.data)
        study = create_study(
            db.session, form.code.data, form.name.data, instruments(), actor=actor(current_user),
            protocol_data=protocol_data, contact=form.contact.data or "",
            emergency_number=form.emergency_number.data.strip(),
            oncall_email=_checked_email(form.oncall_email.data),
        )
    except ProtocolError as exc:
        db.session.rollback()
        flash(_("The study was not created: %(problem)s", problem=protocol_problem(exc)), "error")
        return render_template("staff/study_new.html", form=form), 400
    if current_user.role != "admin":
        current_user.studies.append(study)
    db.session.commit()
    flash(_("Study %(code)s created.", code=study.code))
    return redirect(url_for("staff.timeline", code=study.code))


def _checked_email(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    local, _, domain = value.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in value):
        raise ProtocolError(_("'%(value)s' is not an e-mail address.", value=value))
    return value


def _uploaded_protocol(upload: Any) -> dict[str, Any]:
    if upload is None or not getattr(upload, "filename", ""):
        raise ProtocolError(_("Choose a protocol file to upload, or use the shipped protocol."))
    return read_protocol_json(upload.read())


@bp.get("/studies/<code>/timeline")
@roles_required("coordinator", "clinician")
def timeline(code: str) -> Any:
    """The study protocol's timepoints (anchors, window offsets, instruments) and its amendment history."""
    study = study_or_404(code)
    users = db.session.execute(select(StaffUser.id, StaffUser.email))
    return render_template("staff/timeline.html", study=study, protocol=study_protocol(study),
                           library=instruments(), history=protocol_history(db.session, study),
                           actors={f"staff:{uid}": email for uid, email in users})


@bp.get("/studies/<code>/audit")
@roles_required("coordinator", "clinician")
def audit_trail(code: str) -> Any:
    """The study's audit trail, newest first, paginated."""
    study = study_or_404(code)
    page = request.args.get("page", 1, type=int) or 1
    action = (request.args.get("action") or "").strip()[:64] or None
    trail = study_trail(db.session, study.id, page=page, action=action)
    users = db.session.execute(select(StaffUser.id, StaffUser.email))
    actors = {f"staff:{uid}": email for uid, email in users}
    return render_template("staff/audit.html", study=study, trail=trail, actors=actors, action=action,
                           form=ActionForm())


@bp.post("/account/language")
@login_required
def set_language() -> Any:
    """Store the staff member's interface language ("" follows the browser), then go back."""
    form = LanguageForm()
    if not form.validate_on_submit():
        flash(_("The language was not changed."), "error")
        return redirect(url_for("staff.home"))
    chosen = form.language.data or None
    if chosen != current_user.language:
        record(db.session, actor(current_user), "user.language", entity="staff_user",
               entity_id=current_user.id, details={"old": current_user.language, "new": chosen})
        current_user.language = chosen
        db.session.commit()
    return redirect(safe_next(request.form.get("next")) or url_for("staff.home"))
