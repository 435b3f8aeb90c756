"""Staff pages about a patient's participation: withdrawal with a date and a reason, undoing a
withdrawal recorded by mistake (coordinators and admins), and the right to erasure (admins, who type
their password again)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from surveys.domain.accounts import ENROLL, actor, verify_password
from surveys.domain.audit import record
from surveys.domain.erasure import (
    ErasureError,
    erase_patient,
    erasure_reason_choices,
    suggested_erasure_reason,
)
from surveys.domain.models import Patient, Study
from surveys.domain.participation import (
    ParticipationError,
    data_withheld,
    reinstate_patient,
    withdraw_patient,
    withdrawal_problems,
)
from surveys.infra.db import begin_writing, db
from surveys.infra.formatting import local_date
from surveys.infra.security import limiter
from surveys.staff.access import roles_required, study_or_404
from surveys.staff.blueprint import bp
from surveys.staff.forms import EraseForm, mark_problems
from surveys.staff.patient_views import _manage_page, _patient_or_404, withdrawal_form

PATIENT_RULE = "/studies/<code>/patients/<patient_code>"


@bp.post(f"{PATIENT_RULE}/withdraw")
@roles_required(*ENROLL)
def withdraw(code: str, patient_code: str) -> Any:
    """Withdraw a patient from a date, for a reason: nothing more is asked, reminders stop.

    Consent withdrawn without keeping the data withholds them from exports and dashboards at once;
    an admin is then led to the erasure form, anyone else is told an admin must erase them.
    """
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    form = withdrawal_form(formdata=request.form)
    form_valid = form.validate()
    # The domain's checks run beside the form's, so every problem shows at once; a field the form
    # refused is left to the form's message.
    problems = withdrawal_problems(db.session, patient, on=None if form.on.errors else form.on.data,
                                   reason=None if form.reason.errors else form.reason.data,
                                   note=form.note.data or "")
    mark_problems(form, problems, fallback=form.reason)  # 'patient' (not active) is shown with the reason
    if not form_valid or problems:
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
            code=patient.code, date=local_date(patient.status_on)))
    if data_withheld(patient):
        flash(_("The data already collected are withheld from exports and dashboards from now on; they "
                "are deleted only when an administrator erases them."), "error")
        if current_user.role == "admin":
            return redirect(url_for("staff.erase_form", code=study.code, patient_code=patient.code), 303)
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


def _erase_form(formdata: Any = None, patient: Patient | None = None) -> EraseForm:
    """The erasure form; for a patient who withdrew consent without keeping the data, its reason chosen."""
    if formdata is not None:
        form = EraseForm(formdata=formdata)
    else:
        reason = suggested_erasure_reason(patient) if patient is not None else None
        form = EraseForm(formdata=None, reason=reason or "")
    form.reason.choices = [("", _("Choose a reason")), *erasure_reason_choices()]
    return form


def _erase_page(study: Study, patient: Patient, form: EraseForm, status: int = 200) -> Any:
    return render_template("staff/erase.html", study=study, patient=patient, form=form), status


@bp.get(f"{PATIENT_RULE}/erase")
@roles_required()  # administrators only
def erase_form(code: str, patient_code: str) -> Any:
    """Right to erasure: what will be deleted and kept, the reason, and the admin's password again."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    return _erase_page(study, patient, _erase_form(patient=patient))


@bp.post(f"{PATIENT_RULE}/erase")
@roles_required()  # administrators only
@limiter.limit("10 per hour", key_func=lambda: f"erase:{current_user.get_id()}")
def erase(code: str, patient_code: str) -> Any:
    """Erase a patient's answers, scores, alerts, sessions, links and contact details; keep a tombstone."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    form = _erase_form(formdata=request.form)
    if not form.validate():
        return _erase_page(study, patient, form, 400)
    if form.confirm_code.data.strip() != patient.code:
        form.confirm_code.errors = [*form.confirm_code.errors, _("This is not the patient's code.")]
        return _erase_page(study, patient, form, 400)
    password_ok = verify_password(current_user, form.password.data)
    begin_writing(db.session)  # after the slow hash, the writes below need a fresh transaction (SQLite)
    if not password_ok:
        record(db.session, actor(current_user), "reauth.failure", entity="staff_user",
               entity_id=current_user.id, study_id=study.id,
               details={"for": "patient.erase", "patient": patient.code})
        db.session.commit()
        form.password.errors = [*form.password.errors, _("The password is not right.")]
        return _erase_page(study, patient, form, 401)
    try:
        report = erase_patient(db.session, patient, reason=form.reason.data, actor=actor(current_user))
    except ErasureError as exc:
        db.session.rollback()
        form.reason.errors = [*form.reason.errors, str(exc)]
        return _erase_page(study, patient, form, 400)
    db.session.commit()
    flash(_("The data of patient %(code)s were erased (%(rows)s rows); a tombstone and an audit entry "
            "remain.", code=report.patient_code, rows=sum(report.deleted.values())))
    return redirect(url_for("staff.manage", code=study.code, patient_code=patient.code), 303)
