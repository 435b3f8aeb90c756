"""Coordinator export pages, personal API tokens, and the read-only export API.

Who may export: coordinators and admins, identified or de-identified; clinicians, the
de-identified exports of their studies only (they see single patients on the dashboards,
but bulk identified data leaves the clinic only through the people who run the study).
The API authenticates with `Authorization: Bearer <token>` alone: no cookies, no CSRF
(it only reads), 401 for a missing, unknown or revoked token, 404 for a study the token
does not cover.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from reports.exports.api_tokens import (
    DEFAULT_DAYS,
    MAX_DAYS,
    TokenError,
    authenticate,
    create_token,
    may_export_identified,
    revoke_token,
    token_study,
    user_tokens,
)
from reports.exports.options import (
    FORMATS,
    TABLES,
    ExportOptions,
    OptionError,
    parse_options,
    study_instruments,
    study_timepoints,
)
from reports.exports.runs import ExportDownload, open_export
from surveys.domain.accounts import can_access
from surveys.domain.models import AuditEvent, StaffUser, Study
from surveys.domain.participation import awaiting_erasure
from surveys.domain.staff_sessions import recently_authenticated
from surveys.infra.db import db, utcnow
from surveys.infra.library import instruments
from surveys.infra.security import csrf, limiter
from surveys.staff.access import (
    current_staff_session,
    reauth_window,
    recent_auth_required,
    roles_required,
    study_or_404,
)

bp = Blueprint("exports", __name__, template_folder="templates")
DEIDENTIFIED_ONLY = _l("Clinicians may download de-identified exports only.")


def _options_for(user: StaffUser, fmt: str, args: Any, study: Study) -> ExportOptions:
    """Parse the request; a clinician's export is de-identified, and asking otherwise is refused."""
    if not may_export_identified(user):
        if "deidentified" in args and str(args.get("deidentified")).lower() in ("0", "false", "no", "off"):
            raise PermissionError(DEIDENTIFIED_ONLY)
        args = MultiDict(args)
        args["deidentified"] = "1"
    return parse_options(fmt, args, study, instruments())


def _stream(download: ExportDownload) -> Response:
    return Response(
        stream_with_context(download.chunks),
        mimetype=download.mimetype,
        headers={"Content-Disposition": f'attachment; filename="{download.filename}"',
                 "Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _page(study: Study, error: str | None = None, status: int = 200) -> Any:
    recent = db.session.scalars(
        select(AuditEvent).where(AuditEvent.study_id == study.id, AuditEvent.action == "export")
        .order_by(AuditEvent.id.desc()).limit(10))
    return render_template(
        "exports/index.html", study=study, formats=FORMATS, tables=TABLES, error=error, recent=list(recent),
        timepoints=study_timepoints(study), instruments=study_instruments(study, instruments()),
        identified_allowed=may_export_identified(current_user), args=request.args,
        withheld=len(awaiting_erasure(db.session, study)),
    ), status


@bp.get("/studies/<code>/exports")
@roles_required("coordinator", "clinician")
def index(code: str) -> Any:
    """The export page: choose a format, filters and de-identification."""
    return _page(study_or_404(code))


@bp.get("/studies/<code>/exports/<fmt>")
@roles_required("coordinator", "clinician")
def download(code: str, fmt: str) -> Any:
    """Stream one export to a logged-in staff member."""
    study = study_or_404(code)
    if fmt not in FORMATS:
        abort(404)
    try:
        options = _options_for(current_user, fmt, request.args, study)
    except PermissionError as exc:
        return _page(study, str(exc), 403)
    except OptionError as exc:
        return _page(study, str(exc), 400)
    if not options.deidentified and not recently_authenticated(current_staff_session(), reauth_window()):
        # Identified data leaves the clinic: ask for a fresh proof of identity first.
        flash(_("For your safety, please confirm it is you before you go on."), "info")
        return redirect(url_for("staff.confirm_identity", next=request.full_path.rstrip("?")))
    try:
        download = open_export(db.session, study, options, instruments(),
                               actor=f"staff:{current_user.id}", via="web")
    except OptionError as exc:
        return _page(study, str(exc), 400)
    return _stream(download)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _unauthorised(message: str) -> Any:
    response = jsonify(error="Unauthorized", message=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="exports"'
    return response


@bp.get("/api/studies/<code>/exports/<fmt>")
@csrf.exempt
@limiter.limit("60 per minute")
def api_export(code: str, fmt: str) -> Any:
    """Stream an export to a script holding a personal API token."""
    secret = _bearer()
    if secret is None:
        return _unauthorised(_("Send 'Authorization: Bearer <token>' (create one under /account/tokens)."))
    token = authenticate(db.session, secret)
    if token is None:
        return _unauthorised(_("This token is unknown, revoked or expired."))
    study = token_study(token, code)
    if study is None or fmt not in FORMATS:
        abort(404)
    try:
        options = _options_for(token.user, fmt, request.args, study)
    except PermissionError as exc:
        return jsonify(error="Forbidden", message=str(exc)), 403
    except OptionError as exc:
        return jsonify(error="Bad Request", message=str(exc)), 400
    try:
        download = open_export(db.session, study, options, instruments(), actor=f"staff:{token.user_id}",
                               via="api", extra={"token": token.id})
    except OptionError as exc:
        return jsonify(error="Bad Request", message=str(exc)), 400
    token.last_used_at = utcnow()
    db.session.commit()  # a short write of its own, before the long read of the stream
    return _stream(download)


def _token_page(created: str | None = None, error: str | None = None, status: int = 200) -> Any:
    if current_user.role == "admin":
        studies = list(db.session.scalars(select(Study).order_by(Study.code)))
    else:
        studies = sorted(current_user.studies, key=lambda s: s.code)
    response = render_template("exports/tokens.html", study=None, studies=studies, created=created,
                               default_days=DEFAULT_DAYS, max_days=MAX_DAYS, now=utcnow(),
                               tokens=user_tokens(db.session, current_user), error=error, form=request.form)
    return response, status, {"Cache-Control": "no-store"}


@bp.get("/account/tokens")
@roles_required("coordinator", "clinician")
def tokens() -> Any:
    """The user's API tokens, with a form to create one."""
    return _token_page()


@bp.post("/account/tokens")
@roles_required("coordinator", "clinician")
@recent_auth_required
def create() -> Any:
    """Create a token and show it once.

    Unlike other forms this answers the POST with a page instead of a redirect: the secret must
    not travel through a cookie or a URL to survive a redirect. The page is never cached.
    """
    codes = request.form.getlist("study")
    studies = list(db.session.scalars(select(Study).where(Study.code.in_(codes)))) if codes else []
    if len(studies) != len(set(codes)) or any(not can_access(current_user, s) for s in studies):
        return _token_page(error=_("Choose among your own studies."), status=400)
    days_text = (request.form.get("days") or str(DEFAULT_DAYS)).strip()
    if not days_text.isdigit():
        return _token_page(error=_("Give the token's lifetime in whole days (1 to %(max)s).", max=MAX_DAYS),
                           status=400)
    try:
        _token, secret = create_token(db.session, current_user, request.form.get("name", ""), studies,
                                      days=int(days_text))
    except TokenError as exc:
        db.session.rollback()
        return _token_page(error=str(exc), status=400)
    db.session.commit()
    return _token_page(created=secret, status=201)


@bp.post("/account/tokens/<int:token_id>/revoke")
@roles_required("coordinator", "clinician")
def revoke(token_id: int) -> Any:
    """Revoke one of the user's tokens (someone else's token is "no such token", nothing more)."""
    try:
        token = revoke_token(db.session, current_user, token_id)
    except TokenError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("Token '%(name)s' revoked.", name=token.name), "info")
    return redirect(url_for("exports.tokens"))
