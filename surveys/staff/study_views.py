"""Staff pages about a study over its life: its settings (read by every role, changed by
coordinators and admins, each change audited with the old and the new value)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from surveys.domain.accounts import actor
from surveys.domain.models import Study
from surveys.domain.study_settings import (
    SETTINGS,
    SettingsError,
    current_settings,
    known_timezones,
    update_settings,
)
from surveys.infra.db import db
from surveys.staff.access import roles_required, study_or_404
from surveys.staff.blueprint import bp
from surveys.staff.forms import StudySettingsForm

SETTINGS_RULE = "/studies/<code>/settings"


def _settings_form(study: Study, formdata: Any = None) -> StudySettingsForm:
    form = StudySettingsForm(formdata=formdata, data=current_settings(study))
    form.timezone.choices = [(name, name) for name in sorted(known_timezones())]
    return form


def _render(study: Study, form: StudySettingsForm, status: int = 200) -> Any:
    editable = current_user.role in ("admin", "coordinator")
    return render_template("staff/study_settings.html", study=study, form=form, editable=editable), status


@bp.get(SETTINGS_RULE)
@roles_required("coordinator", "clinician")
def study_settings(code: str) -> Any:
    """The study's settings: a form for coordinators and admins, a read-only view for clinicians."""
    study = study_or_404(code)
    return _render(study, _settings_form(study))


@bp.post(SETTINGS_RULE)
@roles_required("coordinator")
def study_settings_save(code: str) -> Any:
    """Store the changed settings (all or nothing), audited with old and new values; then redirect."""
    study = study_or_404(code)
    form = _settings_form(study, formdata=request.form)
    if not form.validate():
        return _render(study, form, 400)
    values = {name: getattr(form, name).data for name in SETTINGS}
    try:
        changes = update_settings(db.session, study, values, actor=actor(current_user))
    except SettingsError as exc:
        db.session.rollback()
        for name, problem in exc.problems.items():
            getattr(form, name).errors = [*getattr(form, name).errors, problem]
        flash(_("Nothing was changed: please correct the settings marked below."), "error")
        return _render(study, form, 400)
    db.session.commit()
    if changes:
        flash(_("Settings saved: %(names)s.", names=", ".join(c.name.replace("_", " ") for c in changes)))
    else:
        flash(_("Nothing to save: every setting was already as given."))
    return redirect(url_for("staff.study_settings", code=study.code), 303)
