"""Staff pages about a patient's participation: withdrawal with a date and a reason, and undoing a
withdrawal recorded by mistake (coordinators and admins)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from surveys.domain.accounts import ENROLL, actor
from surveys.domain.participation import ParticipationError, reinstate_patient, withdraw_patient
from surveys.infra.db import db
from surveys.staff.access import roles_required, study_or_404
from surveys.staff.blueprint import bp
from surveys.staff.patient_views import _manage_page, _patient_or_404, withdrawal_form

PATIENT_RULE = "/studies/<code>/patients/<patient_code>"


@bp.post(f"{PATIENT_RULE}/withdraw")
@roles_required(*ENROLL)
def withdraw(code: str, patient_code: str) -> Any:
    """Withdraw a patient from a date, for a reason: nothing more is asked, reminders stop."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    form = withdrawal_form(formdata=request.form)
    if not form.validate():
        flash(_("The patient was not withdrawn: please correct the marked fields."), "error")
        return _manage_page(study, patient, 400, withdraw_form=form)
    try:
        withdraw_patient(db.session, patient, on=form.on.data, reason=form.reason.data,
                         note=form.note.data or "", actor=actor(current_user))
    except ParticipationError as exc:
        db.session.rollback()
        form.reason.errors = [*form.reason.errors, str(exc)]
        flash(_("The patient was not withdrawn: %(reason)s", reason=str(exc)), "error")
        return _manage_page(study, patient, 400, withdraw_form=form)
    db.session.commit()
    flash(_("Patient %(code)s withdrawn from %(date)s: nothing more will be asked.",
            code=patient.code, date=patient.status_on.isoformat() if patient.status_on else ""))
    return redirect(url_for("staff.manage", code=study.code, patient_code=patient.code), 303)


@bp.post(f"{PATIENT_RULE}/reinstate")
@roles_required(*ENROLL)
def reinstate(code: str, patient_code: str) -> Any:
    """Undo a withdrawal recorded by mistake; the patient's windows follow the schedule again."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    try:
        reinstate_patient(db.session, patient, actor=actor(current_user))
    except ParticipationError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("staff.manage", code=study.code, patient_code=patient.code), 303)
    db.session.commit()
    flash(_("Patient %(code)s takes part in the study again.", code=patient.code))
    return redirect(url_for("staff.manage", code=study.code, patient_code=patient.code), 303)
