"""Clinician dashboards: the study dashboard (page + JSON for redraws), the patient page, plotly.js."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    abort,
    current_app,
    get_template_attribute,
    jsonify,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from reports.dashboards.cohort_filters import AGE_BANDS, Filters, filter_options
from surveys.domain.audit import record
from surveys.domain.models import Study
from surveys.domain.patients import DIAGNOSES, study_protocol
from surveys.domain.protocol_history import protocol_versions
from surveys.infra.db import db, utcnow
from surveys.infra.i18n import current_lang
from surveys.infra.library import instruments
from surveys.staff.access import study_or_404

if TYPE_CHECKING:
    from reports.dashboards.dashboard import Dashboard

# pandas, scipy and plotly load on the first dashboard or patient page, not with the app: the
# patient-facing workers, the CLI and the exports never need them (about 150 MB per process).
bp = Blueprint(
    "reports",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/reports",
)

PLOTLY_JS = Path(find_spec("plotly").origin).parent / "package_data" / "plotly.min.js"  # type: ignore[arg-type]
PLOTLY_VERSION = version("plotly")
YEAR = 365 * 24 * 3600
MANAGE_ENDPOINTS = ("staff.patient_manage", "staff.manage")
AGE_BAND_LABELS = {
    "under_30": _l("under 30"),
    "30_39": "30-39",
    "40_49": "40-49",
    "50_59": "50-59",
    "60_plus": _l("60 and over"),
}


class FilterError(ValueError):
    """A filter value the dashboard cannot use."""


def _date(args: MultiDict[str, str], name: str, label: str) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FilterError(_("%(field)s must be a date like 2026-01-31.", field=label)) from None


def parse_filters(args: MultiDict[str, str], options: dict[str, list[str]]) -> Filters:
    """Filters from the query string; unknown values are refused with a message (FilterError)."""
    chosen: dict[str, Any] = {}
    for name, allowed in (
        ("sex", options["sex"]),
        ("age_band", list(AGE_BANDS)),
        ("diagnosis", list(DIAGNOSES)),
        ("agents", options["agents"]),
    ):
        value = (args.get(name) or "").strip()
        if not value:
            continue
        if value not in allowed:
            raise FilterError(_("Unknown value for %(field)s.", field=name.replace("_", " ")))
        chosen[name] = value
    chosen["enrolled_from"] = _date(args, "enrolled_from", _("Enrolled from"))
    chosen["enrolled_to"] = _date(args, "enrolled_to", _("Enrolled until"))
    if chosen["enrolled_from"] and chosen["enrolled_to"] and chosen["enrolled_from"] > chosen["enrolled_to"]:
        raise FilterError(_("The enrollment period ends before it starts."))
    return Filters(**chosen)


def _dashboard_for(study: Study) -> tuple[Dashboard | None, Filters, dict[str, list[str]], str | None]:
    options = filter_options(db.session, study.id)
    try:
        filters = replace(parse_filters(request.args, options), zone=study.timezone)  # local enrollment days
    except FilterError as exc:
        return None, Filters(), options, str(exc)
    from reports.dashboards.dashboard import build_dashboard

    dashboard = build_dashboard(db.session, study.id, study_protocol(study), instruments(), filters, utcnow(),
                                current_lang(), study.timezone, protocol_versions(db.session, study))
    return dashboard, filters, options, None


@bp.get("/studies/<code>/dashboard")
@login_required
def dashboard(code: str) -> Any:
    """The study dashboard: recruitment, completion, outcomes, responders, side effects, alerts."""
    study = study_or_404(code)
    data, filters, options, error = _dashboard_for(study)
    body = render_template(
        "reports/dashboard.html",
        study=study,
        dash=data,
        filters=filters,
        options=options,
        error=error,
        age_labels=AGE_BAND_LABELS,
        args=request.args,
        plotly_version=PLOTLY_VERSION,
        json_url=url_for("reports.dashboard_json", code=study.code),
    )
    return body, 400 if error else 200


@bp.get("/studies/<code>/dashboard.json")
@login_required
def dashboard_json(code: str) -> Any:
    """The dashboard's figures and text alternatives for the current filters (for redraws)."""
    study = study_or_404(code)
    data, filters, _options, error = _dashboard_for(study)
    if error or data is None:
        return jsonify(error="Bad Request", message=error), 400
    return jsonify(
        figures=data.figures,
        summary=render_template("reports/_summary.html", dash=data),
        alts=_alternatives(data),
        filters={k: str(v) for k, v in filters.active().items()},
        patients=None if data.suppressed else data.recruitment["enrolled"],
        suppressed=data.suppressed,
    )


def _alternatives(data: Dashboard) -> dict[str, str]:
    """The text alternative (table) of each figure, rendered with the page's own macros."""

    def macro(name: str) -> Any:
        return get_template_attribute("reports/_tables.html", name)

    alts = {
        "completion": macro("completion_table")(data, data.all_labels),
        "responders": macro("responder_table")(data, data.responder_labels),
        "side-effects": macro("side_effect_table")(data, data.symptom_labels),
        "alerts": macro("alert_table")(data),
        "resolution": macro("resolution_table")(data),
    }
    alts.update({f"outcome-{o['key']}": macro("outcome_table")(o, data.all_labels) for o in data.outcomes})
    return {key: str(value) for key, value in alts.items()}


@bp.get("/studies/<code>/patients/<patient_code>")
@login_required
def patient(code: str, patient_code: str) -> Any:
    """One patient: timeline, trajectories against bands, side effects, alerts and answers."""
    from reports.dashboards.patient_record import find_patient, load_record

    study = study_or_404(code)
    found = find_patient(db.session, study, patient_code)
    if found is None:
        abort(404)
    data = load_record(
        db.session, study, found, study_protocol(study), instruments(), utcnow(), current_lang()
    )
    record(
        db.session,
        f"staff:{current_user.id}",
        "patient.view",
        entity="patient",
        entity_id=found.id,
        study_id=study.id,
    )
    db.session.commit()
    # The staff helper's management page, if installed (its endpoint name differs between versions).
    manage = next((e for e in MANAGE_ENDPOINTS if e in current_app.view_functions), None)
    body = render_template(
        "reports/patient.html", study=study, rec=data, manage=manage, plotly_version=PLOTLY_VERSION
    )
    return body


@bp.get("/reports/plotly-<version>.min.js")
@login_required
def static_plotly(version: str) -> Any:
    """plotly.js from the installed plotly package (no CDN); versioned URL, cached for a year."""
    if version != PLOTLY_VERSION:
        abort(404)
    response = send_file(PLOTLY_JS, mimetype="text/javascript", max_age=YEAR, conditional=True)
    response.headers["Cache-Control"] = f"private, max-age={YEAR}, immutable"
    return response
