"""Staff pages about a study over its life: its settings, its consent texts and its list of formulations
(read by every role, changed by coordinators and admins, each change audited with the old and the new
value)."""

from __future__ import annotations

from typing import Any

from babel.lists import format_list
from flask import flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from surveys.domain import consent
from surveys.domain.accounts import actor
from surveys.domain.formulations import (
    MAX_FORMULATIONS,
    FormulationError,
    study_formulations,
    update_formulations,
)
from surveys.domain.models import Study
from surveys.domain.study_settings import (
    SETTINGS,
    SettingsError,
    check_settings,
    current_settings,
    known_timezones,
    update_settings,
)
from surveys.infra.db import db
from surveys.staff.access import roles_required, study_or_404
from surveys.staff.blueprint import bp
from surveys.staff.forms import ConsentVersionForm, StudySettingsForm, mark_problems

SETTINGS_RULE = "/studies/<code>/settings"


def _settings_form(study: Study, formdata: Any = None) -> StudySettingsForm:
    form = StudySettingsForm(formdata=formdata, data=current_settings(study))
    choices = sorted(known_timezones())
    if study.timezone not in known_timezones():  # stored before zones were checked: shown, not replaced
        choices.insert(0, study.timezone)
    form.timezone.choices = [(name, name) for name in choices]
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
    form_valid = form.validate()
    # The domain checks run even when the form refused a field, so every problem shows at once;
    # a field the form refused (its value unread) is left to the form's message.
    values = {name: request.form.get(name, "") if getattr(form, name).errors else getattr(form, name).data
              for name in SETTINGS}
    try:
        check_settings(study, values)
        problems: dict[str, str] = {}
    except SettingsError as exc:
        problems = exc.problems
    mark_problems(form, problems)
    if not form_valid or problems:
        flash(_("Nothing was changed: please correct the settings marked below."), "error")
        return _render(study, form, 400)
    changes = update_settings(db.session, study, values, actor=actor(current_user))
    db.session.commit()
    if changes:
        labels = [_("“%(label)s”", label=getattr(form, c.name).label.text) for c in changes]
        flash(_("Settings saved: %(names)s.", names=format_list(labels, locale=str(get_locale() or "en"))))
    else:
        flash(_("Nothing to save: every setting was already as given."))
    return redirect(url_for("staff.study_settings", code=study.code), 303)


FORMULATIONS_RULE = "/studies/<code>/formulations"
BLANK_ROWS = 3  # empty rows offered for new formulations


def _formulation_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's rows: each entry as text fields (aliases one per line), then blank rows."""
    rows = [{"id": e.get("id", ""), "en": e.get("label", {}).get("en", ""),
             "fr": e.get("label", {}).get("fr", ""), "aliases": "\n".join(e.get("aliases", ()))}
            for e in entries]
    return rows + [{"id": "", "en": "", "fr": "", "aliases": ""}] * BLANK_ROWS


def _render_formulations(study: Study, rows: list[dict[str, Any]], problems: list[str] | None = None,
                         status: int = 200) -> Any:
    editable = current_user.role in ("admin", "coordinator")
    return render_template("staff/study_formulations.html", study=study, rows=rows, problems=problems or [],
                           editable=editable, entries=study_formulations(study)), status


def _submitted_formulations(form: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The entries a posted page asks for (removed and blank rows left out), and its rows as typed.

    Raises FormulationError when the row count is not a number the page could have sent.
    """
    try:
        count = int(form.get("rows", ""))
    except ValueError:
        raise FormulationError([_("The form is incomplete: reload the page and try again.")]) from None
    if not 0 <= count <= MAX_FORMULATIONS + BLANK_ROWS:
        raise FormulationError([_("At most %(n)s formulations.", n=MAX_FORMULATIONS)])
    entries, rows = [], []
    for n in range(count):
        row = {key: form.get(f"{key}-{n}", "").strip() for key in ("id", "en", "fr", "aliases")}
        if form.get(f"remove-{n}") or not any(row.values()):
            continue
        rows.append(row)
        entries.append({"id": row["id"], "label": {"en": row["en"], "fr": row["fr"]},
                        "aliases": row["aliases"].splitlines()})
    return entries, rows


@bp.get(FORMULATIONS_RULE)
@roles_required("coordinator", "clinician")
def study_formulations_page(code: str) -> Any:
    """The study's formulations: a form for coordinators and admins, a read-only list for clinicians."""
    study = study_or_404(code)
    return _render_formulations(study, _formulation_rows(study_formulations(study)))


@bp.post(FORMULATIONS_RULE)
@roles_required("coordinator")
def study_formulations_save(code: str) -> Any:
    """Store the whole list (all or nothing: 400 with every fault, nothing stored), audited; then redirect."""
    study = study_or_404(code)
    rows: list[dict[str, Any]] = []
    try:
        entries, rows = _submitted_formulations(request.form)
        changed = update_formulations(db.session, study, entries, actor=actor(current_user))
    except FormulationError as exc:
        db.session.rollback()
        flash(_("Nothing was changed: please correct the list."), "error")
        return _render_formulations(study, rows + _formulation_rows([]), exc.problems, 400)
    db.session.commit()
    flash(_("Formulations saved.") if changed else _("Nothing to save: the list was already as given."))
    return redirect(url_for("staff.study_formulations_page", code=study.code), 303)


CONSENT_RULE = "/studies/<code>/consent"


def _render_consent(study: Study, form: ConsentVersionForm, status: int = 200) -> Any:
    editable = current_user.role in ("admin", "coordinator")
    return render_template("staff/consent_versions.html", study=study, form=form, editable=editable,
                           versions=consent.versions(db.session, study.id)), status


@bp.get(CONSENT_RULE)
@roles_required("coordinator", "clinician")
def consent_versions(code: str) -> Any:
    """The study's consent texts, newest first; coordinators and admins add a new version here."""
    study = study_or_404(code)
    return _render_consent(study, ConsentVersionForm(formdata=None))


@bp.post(CONSENT_RULE)
@roles_required("coordinator")
def consent_version_add(code: str) -> Any:
    """Add a consent version with its English and French text (audited); then redirect."""
    study = study_or_404(code)
    form = ConsentVersionForm()
    form_valid = form.validate_on_submit()
    version = (form.version.data or "").strip()
    if not form.version.errors and version in {v.version for v in consent.versions(db.session, study.id)}:
        # Beside the form's own refusals, so every problem shows at once (add_version refuses it too).
        form.version.errors = [*form.version.errors, _("Version %(version)s already exists in this study.",
                                                       version=version)]
        form_valid = False
    if not form_valid:
        flash(_("Nothing was added: please correct the fields marked below."), "error")
        return _render_consent(study, form, 400)
    try:
        added = consent.add_version(db.session, study, form.version.data, form.text_en.data,
                                    form.text_fr.data, requires_reconsent=form.requires_reconsent.data,
                                    actor=actor(current_user))
    except consent.ConsentError as exc:
        db.session.rollback()
        flash(_("Nothing was added: %(problem)s", problem=exc), "error")
        return _render_consent(study, form, 400)
    db.session.commit()
    flash(_("Consent version %(version)s added.", version=added.version))
    return redirect(url_for("staff.consent_versions", code=study.code), 303)
