"""The study's protocol page: the current version (every role of the study reads it) and protocol
amendments (coordinators and admins): edit the JSON or upload a file, check it (the difference against
the current version and its impact on patients, as tables), then apply it with a reason. The apply form
carries the exact text that was checked and the fingerprint of the protocol it was checked against, so
what is applied is what was shown; when the study's protocol changed meanwhile it is refused (409) and
the difference is shown again against the new current version."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from surveys.domain.accounts import actor
from surveys.domain.amendments import (
    AmendmentCheck,
    AmendmentConflict,
    AmendmentError,
    apply_amendment,
    check_amendment,
    protocol_text,
    read_protocol_json,
)
from surveys.domain.models import Study
from surveys.domain.patients import study_protocol
from surveys.infra.db import db
from surveys.infra.library import instruments
from surveys.staff.access import roles_required, study_or_404
from surveys.staff.blueprint import bp
from surveys.staff.forms import ProtocolApplyForm, ProtocolCheckForm

PROTOCOL_RULE = "/studies/<code>/protocol"


def _render(study: Study, *, text: str | None = None, checked: AmendmentCheck | None = None,
            problem: str | None = None, reason: str = "", status: int = 200) -> Any:
    text = protocol_text(study.protocol) if text is None else text
    apply_form = None
    if checked is not None:
        apply_form = ProtocolApplyForm(formdata=None, protocol_text=text, base=checked.base, reason=reason)
    return render_template(
        "staff/protocol.html", study=study, protocol=study_protocol(study),
        current_text=protocol_text(study.protocol),
        editable=current_user.role in ("admin", "coordinator"), checked=checked, problem=problem,
        check_form=ProtocolCheckForm(formdata=None, protocol_text=text), apply_form=apply_form,
        library=instruments(),
    ), status


def _recheck(study: Study, text: str) -> AmendmentCheck | None:
    """The amendment checked again against the study's protocol now (None when it no longer passes)."""
    try:
        return check_amendment(db.session, study, read_protocol_json(text), instruments())
    except AmendmentError:
        return None


@bp.get(PROTOCOL_RULE)
@roles_required("coordinator", "clinician")
def study_protocol_page(code: str) -> Any:
    """The study's current protocol; coordinators and admins propose an amendment here."""
    return _render(study_or_404(code))


@bp.post(PROTOCOL_RULE + "/check")
@roles_required("coordinator")
def study_protocol_check(code: str) -> Any:
    """Check a new protocol version (edited text or uploaded file) and show the difference; stores nothing."""
    study = study_or_404(code)
    form = ProtocolCheckForm()
    if not form.validate_on_submit():
        return _render(study, problem=_("The form could not be read (it may have expired): check again."),
                       status=400)
    upload = form.protocol_file.data
    text = form.protocol_text.data or ""
    try:
        if upload is not None and getattr(upload, "filename", ""):
            raw = upload.read()
            data = read_protocol_json(raw)
            text = raw.decode("utf-8-sig")
        else:
            data = read_protocol_json(text)
        checked = check_amendment(db.session, study, data, instruments())
    except AmendmentError as exc:
        db.session.rollback()
        return _render(study, text=text, problem=str(exc), status=400)
    return _render(study, text=text, checked=checked)


@bp.post(PROTOCOL_RULE + "/apply")
@roles_required("coordinator")
def study_protocol_apply(code: str) -> Any:
    """Apply a checked amendment with its reason (audited); then show the timeline and its history."""
    study = study_or_404(code)
    form = ProtocolApplyForm()
    text, reason = form.protocol_text.data or "", form.reason.data or ""
    if not form.validate_on_submit():
        return _render(study, text=text, checked=_recheck(study, text), reason=reason, status=400,
                       problem=_("The form could not be read (it may have expired): check again."))
    try:
        checked = apply_amendment(db.session, study, read_protocol_json(text), instruments(), reason=reason,
                                  actor=actor(current_user), expected_base=form.base.data or "")
    except AmendmentError as exc:
        db.session.rollback()
        status = 409 if isinstance(exc, AmendmentConflict) else 400
        return _render(study, text=text, checked=_recheck(study, text), reason=reason, problem=str(exc),
                       status=status)
    db.session.commit()
    flash(_("Amendment applied: the study now follows protocol version %(version)s.",
            version=checked.protocol.version))
    return redirect(url_for("staff.timeline", code=study.code), 303)
