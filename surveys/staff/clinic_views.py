"""Collecting answers in the clinic: "answer in clinic" on a tablet, and paper questionnaires
transcribed by staff.

Routes on the staff blueprint (`surveys.staff.blueprint.bp`); imported by `app.py` beside the
other staff route modules.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from sqlalchemy import select

from instruments import AnswerError
from surveys.domain.accounts import actor
from surveys.domain.flow import entry_of, find_window, patient_windows, response_states
from surveys.domain.models import Patient, Study
from surveys.domain.notices import deliver_owed, take_owed
from surveys.domain.paper import PaperEntryError, enter_paper
from surveys.domain.patients import study_protocol, study_today
from surveys.domain.tablet import end_patient_tablets, start_tablet
from surveys.infra.after_reply import after_reply
from surveys.infra.db import db
from surveys.infra.formatting import local_date
from surveys.infra.i18n import LANGUAGES
from surveys.infra.library import instruments
from surveys.infra.text_fields import normalise_line_breaks
from surveys.staff.access import roles_required, study_or_404
from surveys.staff.blueprint import bp
from surveys.staff.forms import ActionForm

#: Who may start collection in the clinic: the staff who see the patient (admins always may).
CLINIC_STAFF = ("coordinator", "clinician")


def _patient_or_404(study: Study, patient_code: str) -> Patient:
    patient = db.session.scalar(
        select(Patient).where(Patient.study_id == study.id, Patient.code == patient_code)
    )
    if patient is None:
        abort(404)
    return patient


@bp.post("/studies/<code>/patients/<patient_code>/tablet")
@roles_required(*CLINIC_STAFF)
def start_tablet_session(code: str, patient_code: str) -> Any:
    """Turn this device into the patient's clinic tablet: their due questionnaires, without their
    personal link (which keeps working). The staff member is logged out here first, so the patient
    holding the tablet can reach nothing else."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    back = url_for("staff.manage", code=study.code, patient_code=patient.code)
    if not ActionForm().validate_on_submit():
        return redirect(back)
    if patient.status != "active":
        flash(_("Patient %(code)s is not active: nothing to answer.", code=patient.code), "error")
        return redirect(back)
    token = start_tablet(db.session, patient, current_user, actor=actor(current_user))
    db.session.commit()
    logout_user()
    session.clear()
    current_app.logger.info("tablet session started for a patient of %s", study.code)
    return redirect(url_for("patient.home", token=token), 303)


@bp.post("/studies/<code>/patients/<patient_code>/tablet/end")
@roles_required(*CLINIC_STAFF)
def end_tablet_session(code: str, patient_code: str) -> Any:
    """End the patient's clinic tablet session(s) from any staff device."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    if ActionForm().validate_on_submit():
        ended = end_patient_tablets(db.session, patient, "staff", actor=actor(current_user))
        db.session.commit()
        flash(_("The clinic tablet session was ended.") if ended else _("No tablet session was open."))
    return redirect(url_for("staff.manage", code=study.code, patient_code=patient.code))


#: Windows a paper questionnaire can be entered for: open now, or closed (filled in on time,
#: transcribed late); never one that has not opened.
PAPER_STATES = ("open", "due", "overdue", "closed", "completed")


def paper_allowed(patient: Patient) -> bool:
    """Whether paper forms may be transcribed for a patient: not once their data were erased or
    they withdrew consent asking that their data be discarded (issue 16's participation)."""
    return patient.status != "erased" and patient.withdrawal_reason != "consent_withdrawn_discard_data"


def _paper_parts(study: Study, patient: Patient) -> list[tuple[Any, Any, bool]]:
    """(window, protocol entry, already answered) for every part that paper could fill."""
    if not paper_allowed(patient):
        return []
    states = response_states(db.session, patient)
    windows = patient_windows(patient, study_protocol(study), states)
    return [(w, e, (w.timepoint, e.instrument) in states) for w in windows if w.state in PAPER_STATES
            for e in w.instruments]


@bp.get("/studies/<code>/patients/<patient_code>/paper")
@roles_required(*CLINIC_STAFF)
def paper_entry_list(code: str, patient_code: str) -> Any:
    """The questionnaires of a patient that a paper form can fill in."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    return render_template("staff/paper_list.html", study=study, patient=patient,
                           parts=_paper_parts(study, patient), library=instruments())


def _paper_window(study: Study, patient: Patient, timepoint: str,
                  instrument_id: str) -> tuple[Any, Any, Any]:
    states = response_states(db.session, patient)
    window = find_window(patient_windows(patient, study_protocol(study), states), timepoint)
    entry = entry_of(window, instrument_id) if window is not None else None
    instrument = instruments().get(instrument_id)
    if window is None or entry is None or instrument is None or window.state not in PAPER_STATES:
        abort(404)
    if not paper_allowed(patient):
        abort(404)
    return window, entry, instrument


def _paper_items(instrument: Any, section: str | None, lang: str) -> list[Any]:
    return [item for item in instrument.items_in_order(lang) if section is None or item.section == section]


def _deliver_after_reply(notice_ids: list[int]) -> None:
    """E-mail the on-call notices an entry's red flags made owed, once the reply has gone out;
    whatever goes wrong is logged and left to `alerts notify` (the outbox keeps what is owed)."""
    if notice_ids:
        base_url = current_app.config["BASE_URL"]
        after_reply(lambda: deliver_owed(db.session, base_url, notice_ids), f"alert notices {notice_ids}")


PAPER_RULE = "/studies/<code>/patients/<patient_code>/paper/<timepoint>/<instrument_id>"


@bp.route(PAPER_RULE, methods=["GET", "POST"])
@roles_required(*CLINIC_STAFF)
def paper_entry(code: str, patient_code: str, timepoint: str, instrument_id: str) -> Any:
    """Transcribe one paper questionnaire on one page, with the date the patient filled it in.

    Validated like the patient's own answers; red flags raise alerts as usual (the on-call address
    is notified after the commit); recorded as paper entry by this staff member.
    """
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    window, entry, instrument = _paper_window(study, patient, timepoint, instrument_id)
    answered = (timepoint, instrument_id) in response_states(db.session, patient)
    lang = request.values.get("lang") or patient.language
    lang = lang if lang in LANGUAGES else "en"
    items = _paper_items(instrument, entry.section, lang)
    form = ActionForm()
    problem, values, filled = None, {}, ""
    if answered:
        flash(_("This patient already has answers to this questionnaire: nothing to transcribe."), "error")
        return redirect(url_for("staff.paper_entry_list", code=study.code, patient_code=patient.code))
    if request.method == "POST":
        values = {item.id: (request.form.get(item.id) or "").strip() for item in items}
        filled = (request.form.get("filled_on") or "").strip()
        unknown = set(request.form) - {item.id for item in items} - {"csrf_token", "filled_on", "lang"}
        answers: dict[str, object] = {}
        try:
            filled_on = date.fromisoformat(filled)
        except ValueError:
            problem = _("Give the date the patient filled the form in (YYYY-MM-DD).")
        if unknown:
            problem = _("The form holds fields that do not belong to this questionnaire. Nothing was stored.")
        elif (problem is None and patient.status != "active" and patient.status_on is not None
              and filled_on > patient.status_on):
            problem = _("The patient had left the study on %(date)s: a form filled in after that is not "
                        "transcribed.", date=local_date(patient.status_on))
        for item in items:
            raw = values[item.id]
            if not raw:
                continue
            if item.is_text:
                answers[item.id] = normalise_line_breaks(raw)
            elif raw.lstrip("-").isdigit():
                answers[item.id] = int(raw)
            else:
                problem = problem or _("An answer is not one of the choices. Nothing was stored.")
        if problem is None and not form.validate_on_submit():
            problem = _("The form expired; please enter it again.")
        if problem is None:
            try:
                enter_paper(db.session, patient, window, entry, instrument, answers, filled_on=filled_on,
                            language=lang, staff=current_user, actor=actor(current_user))
            except (PaperEntryError, AnswerError) as exc:
                db.session.rollback()
                problem = _("Nothing was stored: %(problem)s", problem=str(exc))
        if problem is None:
            owed = take_owed(db.session)  # the alert notices this entry made owed
            db.session.commit()
            _deliver_after_reply(owed)  # after the commit and the reply
            flash(_("The paper questionnaire was stored as a paper entry by you."))
            return redirect(url_for("staff.paper_entry_list", code=study.code, patient_code=patient.code))
        flash(problem, "error")
    page = render_template("staff/paper.html", study=study, patient=patient, window=window,
                           instrument=instrument, items=items, lang=lang, form=form, values=values,
                           filled=filled,
                           today=study_today(study).isoformat(), label=window.label(lang))
    return page, (400 if problem else 200)
