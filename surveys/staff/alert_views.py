"""Staff pages of the safety alerts: the queue, contact attempts, resolution and reopening.

Every staff member of the study reads the queue (with the patient's contact details); coordinators
and clinicians record contact attempts; clinicians (and admins) resolve and reopen. Each step is
one POST that calls one service, commits once and redirects back to the alert's card.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import false as sql_false
from sqlalchemy import select, update

from surveys.domain.accounts import CONTACT, RESOLVE, may
from surveys.domain.alerts import (
    CHANNEL_LABELS,
    GRADE_LABELS,
    OUTCOME_LABELS,
    RELATEDNESS_LABELS,
    RESULT_LABELS,
    STATE_LABELS,
    AlertError,
    alert_evidence,
    alert_queue,
    open_alert_count,
    record_contact_attempt,
    reopen_alert,
    resolve_alert,
    study_alert,
)
from surveys.domain.models import Alert, Study
from surveys.domain.protocol_history import protocol_versions
from surveys.domain.responses import answered_in
from surveys.domain.triage import follow_up, session_days
from surveys.infra.db import db
from surveys.infra.formatting import local_datetime
from surveys.infra.i18n import current_lang
from surveys.infra.library import instruments
from surveys.staff.access import roles_required, study_or_404
from surveys.staff.blueprint import bp
from surveys.staff.forms import ContactAttemptForm, ReopenForm, ResolveForm

READERS = ("coordinator", "clinician")
PATIENT_RECORD_RULE = "/studies/<code>/patients/<patient_code>"


def _record_endpoint() -> str | None:
    """The endpoint of the patient record page (owned by the reports side), if it exists."""
    return next((r.endpoint for r in current_app.url_map.iter_rules() if r.rule == PATIENT_RECORD_RULE), None)


def _zone(study: Study) -> ZoneInfo:
    try:
        return ZoneInfo(study.timezone)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _alerts_page(study: Study, status: int = 200, forms: dict[str, Any] | None = None,
                 failed: int | None = None) -> Any:
    show_all = request.args.get("show") == "all"
    queue = alert_queue(db.session, study, include_resolved=show_all)
    if failed is not None and all(alert.id != failed for alert in queue):
        alert = study_alert(db.session, study, failed)
        queue = [alert, *queue] if alert is not None else queue
    library = instruments()
    lang = current_lang()  # evidence in the reader's language (the definitions hold en and fr)
    rows = []
    days = session_days(db.session, queue)
    for alert in queue:  # each response read with the definition version it was answered in
        instrument = answered_in(library, alert.response.instrument_id, alert.response.instrument_version)
        rows.append((alert, instrument, alert_evidence(alert, instrument, lang),
                     follow_up(alert, instrument, days.get(alert.response_id), _zone(study))))

    def local(moment: datetime | None) -> str:
        return local_datetime(moment, study) if moment else ""

    history = protocol_versions(db.session, study)
    blank = {"attempt": ContactAttemptForm(formdata=None), "resolve": ResolveForm(formdata=None),
             "reopen": ReopenForm(formdata=None)}
    return render_template(
        "staff/alerts.html", study=study, rows=rows, show_all=show_all,
        counts=open_alert_count(db.session, study),
        forms=blank, failed_forms=forms or {}, failed=failed, can_contact=may(current_user, CONTACT),
        can_resolve=may(current_user, RESOLVE), record_endpoint=_record_endpoint(), lang=lang, local=local,
        zone=study.timezone, states=STATE_LABELS, channels=CHANNEL_LABELS, results=RESULT_LABELS,
        outcomes=OUTCOME_LABELS, grades=GRADE_LABELS, relatedness=RELATEDNESS_LABELS,
        # named by the protocol version answered under: an amendment may have removed the timepoint
        timepoint_label=lambda response: history.label(response.timepoint, lang, response.protocol_version),
    ), status


@bp.get("/studies/<code>/alerts")
@roles_required(*READERS)
def alerts(code: str) -> Any:
    """The safety alert queue: unresolved alerts by level, state and waiting time, with the answers,
    the contact attempts and the patient's contact details."""
    return _alerts_page(study_or_404(code))


_SQLITE_WRITE_LOCK = update(Alert).where(sql_false()).values(id=Alert.id)


def _alert_or_404(study: Study, alert_id: int) -> Alert:
    """The alert, read afresh at the start of a transaction that will write it.

    The reads so far (the user, the study) are ended first: on SQLite a transaction begun with a read
    cannot write once a patient's answer has been committed meanwhile (it would fail at once, not
    wait), so it starts with SQLite's write lock; on PostgreSQL the alert's row is locked. Either way
    two staff members acting on one alert at once are serialised, and the second sees the first's
    change (e.g. "already resolved") instead of writing over it.
    """
    db.session.commit()
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        connection.execute(_SQLITE_WRITE_LOCK)
    alert = db.session.scalar(
        select(Alert).where(Alert.id == alert_id, Alert.study_id == study.id)
        .with_for_update(of=Alert).execution_options(populate_existing=True)
    )
    if alert is None:
        abort(404)
    return alert


def _done(study: Study, alert: Alert, message: str) -> Any:
    db.session.commit()
    flash(message)
    return redirect(url_for("staff.alerts", code=study.code, show=request.args.get("show") or None,
                            _anchor=f"alert-{alert.id}"), 303)


def _refused(study: Study, alert_id: int, form_name: str, form: Any, problem: str) -> Any:
    db.session.rollback()
    flash(_("Alert #%(id)s: nothing was recorded. %(problem)s", id=alert_id, problem=problem), "error")
    return _alerts_page(study, 400, forms={form_name: form}, failed=alert_id)


def _form_problem(form: Any) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


@bp.post("/studies/<code>/alerts/<int:alert_id>/attempts")
@roles_required(*CONTACT)
def contact_attempt(code: str, alert_id: int) -> Any:
    """Record an attempt to reach the patient (how, reached or not, when, a note)."""
    study = study_or_404(code)
    alert = _alert_or_404(study, alert_id)
    form = ContactAttemptForm()
    if not form.validate_on_submit():
        return _refused(study, alert_id, "attempt", form, _form_problem(form))
    at = None
    if form.attempted_at.data is not None:
        at = form.attempted_at.data.replace(tzinfo=_zone(study))
    try:
        record_contact_attempt(db.session, alert, current_user, channel=form.channel.data,
                               result=form.result.data, note=form.note.data or "", attempted_at=at)
    except AlertError as exc:
        return _refused(study, alert_id, "attempt", form, str(exc))
    return _done(study, alert, _("Contact attempt recorded on alert #%(id)s; it stays open until resolved.",
                                 id=alert.id))


@bp.post("/studies/<code>/alerts/<int:alert_id>/resolve")
@roles_required(*RESOLVE)
def resolve(code: str, alert_id: int) -> Any:
    """Resolve an alert: outcome, note, CTCAE-style grade, relatedness, seriousness."""
    study = study_or_404(code)
    alert = _alert_or_404(study, alert_id)
    form = ResolveForm()
    if not form.validate_on_submit():
        return _refused(study, alert_id, "resolve", form, _form_problem(form))
    try:
        resolve_alert(db.session, alert, current_user, outcome=form.outcome.data, note=form.note.data,
                      ctcae_grade=form.ctcae_grade.data, relatedness=form.relatedness.data,
                      serious={"yes": True, "no": False}.get(form.serious.data))
    except AlertError as exc:
        return _refused(study, alert_id, "resolve", form, str(exc))
    return _done(study, alert, _("Alert #%(id)s resolved.", id=alert.id))


@bp.post("/studies/<code>/alerts/<int:alert_id>/reopen")
@roles_required(*RESOLVE)
def reopen(code: str, alert_id: int) -> Any:
    """Reopen a resolved alert, with the reason."""
    study = study_or_404(code)
    alert = _alert_or_404(study, alert_id)
    form = ReopenForm()
    if not form.validate_on_submit():
        return _refused(study, alert_id, "reopen", form, _form_problem(form))
    try:
        reopen_alert(db.session, alert, current_user, form.reason.data)
    except AlertError as exc:
        return _refused(study, alert_id, "reopen", form, str(exc))
    return _done(study, alert, _("Alert #%(id)s reopened.", id=alert.id))
