"""Collecting answers in the clinic: "answer in clinic" on a tablet, paper questionnaires
transcribed by staff, and questionnaires staff read out to the patient (interview).

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
from surveys.domain import consent
from surveys.domain.accounts import actor
from surveys.domain.flow import entry_of, find_window, patient_windows, response_states
from surveys.domain.models import Patient, Study
from surveys.domain.notices import deliver_owed, take_owed
from surveys.domain.paper import StaffEntryError, enter_interview, enter_paper
from surveys.domain.participation import collection_refusal
from surveys.domain.patients import study_protocol, study_today
from surveys.domain.schedule import ANSWERABLE
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
    refusal = collection_refusal(patient, "tablet")
    if refusal is not None:
        from surveys.staff.patient_views import _manage_page

        flash(refusal, "error")
        return _manage_page(study, patient, 409)
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


#: What staff record for a patient, and the windows each may fill: a paper form for a window open
#: now or closed (filled in on time, transcribed late), never one that has not opened; an
#: interview (questions read out, answers recorded as given) for a window answerable now.
ENTRY_STATES = {"paper": ("open", "due", "overdue", "closed", "completed"), "interview": tuple(ANSWERABLE)}


def _entry_parts(study: Study, patient: Patient, kind: str) -> list[tuple[Any, Any, bool]]:
    """(window, protocol entry, already answered) for every part that staff could fill."""
    states = response_states(db.session, patient)
    windows = patient_windows(patient, study_protocol(study), states)
    return [(w, e, (w.timepoint, e.instrument) in states) for w in windows if w.state in ENTRY_STATES[kind]
            for e in w.instruments]


@bp.get("/studies/<code>/patients/<patient_code>/paper", defaults={"kind": "paper"})
@bp.get("/studies/<code>/patients/<patient_code>/interview", defaults={"kind": "interview"})
@roles_required(*CLINIC_STAFF)
def entry_list(code: str, patient_code: str, kind: str) -> Any:
    """The questionnaires of a patient that a paper form, or an interview, can fill in."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    refusal = collection_refusal(patient, kind)
    if refusal is not None:
        return _refused(study, patient, kind, refusal)
    return render_template("staff/paper_list.html", study=study, patient=patient, kind=kind,
                           parts=_entry_parts(study, patient, kind), library=instruments(),
                           consent_missing=consent.gate(study, consent.consent_valid(db.session, patient)))


def _refused(study: Study, patient: Patient, kind: str, refusal: str) -> Any:
    """The list page of a patient whose participation allows no entry of `kind`, saying why (409)."""
    return render_template("staff/paper_list.html", study=study, patient=patient, kind=kind, parts=[],
                           library=instruments(), consent_missing=False, refusal=refusal), 409


def _entry_window(study: Study, patient: Patient, kind: str, timepoint: str,
                  instrument_id: str) -> tuple[Any, Any, Any] | None:
    """(window, protocol entry, instrument) to fill in; None when the questionnaire exists but its
    window is not open to this kind of entry now (the patient's participation is checked before).
    Aborts 404 for a timepoint or instrument the patient's protocol does not have."""
    states = response_states(db.session, patient)
    window = find_window(patient_windows(patient, study_protocol(study), states), timepoint)
    entry = entry_of(window, instrument_id) if window is not None else None
    instrument = instruments().get(instrument_id)
    if window is None or entry is None or instrument is None:
        abort(404)
    if window.state not in ENTRY_STATES[kind]:
        return None  # a real questionnaire, not open to this kind of entry now (a stale link)
    return window, entry, instrument


def _entry_items(instrument: Any, section: str | None, lang: str) -> list[Any]:
    return [item for item in instrument.items_in_order(lang) if section is None or item.section == section]


def answer_problem(error: AnswerError, instrument: Any, lang: str) -> str:
    """The instrument's refusal of an answer, for staff, in their language: the question as worded
    in `lang` (the language the form is shown in) and what is wrong with its answer."""
    item = next((i for i in instrument.items if i.id == error.item), None)
    question = (item.texts.get(lang) or item.texts.get("en")) if item is not None else error.item
    if error.problem == "not_a_choice" or error.problem == "not_a_code":
        return _("question “%(question)s”: the answer is not one of its choices.", question=question)
    if error.problem == "answered_when_skipped":
        return _("question “%(question)s” is answered although the answers before it skip it; leave it "
                 "empty or correct the earlier answer.", question=question)
    if error.problem == "text_too_long":
        return _("question “%(question)s”: the text is longer than %(n)s characters.", question=question,
                 n=error.limit)
    if error.problem == "unknown_item" and question:
        return _("“%(item)s” is not a question of this questionnaire.", item=question)
    return _("the answers do not fit this questionnaire.")


def _deliver_after_reply(notice_ids: list[int]) -> None:
    """E-mail the on-call notices an entry's red flags made owed, once the reply has gone out;
    whatever goes wrong is logged and left to `alerts notify` (the outbox keeps what is owed)."""
    if notice_ids:
        base_url = current_app.config["BASE_URL"]
        after_reply(lambda: deliver_owed(db.session, base_url, notice_ids), f"alert notices {notice_ids}")


def _filled_on(text: str, patient: Patient) -> tuple[date | None, str | None]:
    """A paper form's "filled in on" day, or the problem with it (translated)."""
    try:
        filled_on = date.fromisoformat(text)
    except ValueError:
        return None, _("Give the date the patient filled the form in (YYYY-MM-DD).")
    if patient.status != "active" and patient.status_on is not None and filled_on > patient.status_on:
        return None, _("The patient had left the study on %(date)s: a form filled in after that is not "
                       "transcribed.", date=local_date(patient.status_on))
    return filled_on, None


def _answers(items: list[Any], values: dict[str, str]) -> tuple[dict[str, object], str | None]:
    """The form's answers as codes (or text), or the problem with them (translated)."""
    answers: dict[str, object] = {}
    for item in items:
        raw = values[item.id]
        if not raw:
            continue
        if item.is_text:
            answers[item.id] = normalise_line_breaks(raw)
        elif raw.lstrip("-").isdigit():
            answers[item.id] = int(raw)
        else:
            return answers, _("An answer is not one of the choices. Nothing was stored.")
    return answers, None


@bp.route("/studies/<code>/patients/<patient_code>/paper/<timepoint>/<instrument_id>",
          methods=["GET", "POST"], defaults={"kind": "paper"})
@bp.route("/studies/<code>/patients/<patient_code>/interview/<timepoint>/<instrument_id>",
          methods=["GET", "POST"], defaults={"kind": "interview"})
@roles_required(*CLINIC_STAFF)
def entry(code: str, patient_code: str, kind: str, timepoint: str, instrument_id: str) -> Any:
    """Record one questionnaire for a patient on one page: a paper form transcribed (with the date
    the patient filled it in), or an interview (staff read the questions out, now).

    Validated like the patient's own answers; red flags raise alerts as usual (the on-call address
    is notified after the commit and the reply); recorded as paper entry or staff interview by
    this staff member.
    """
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    refusal = collection_refusal(patient, kind)
    if refusal is not None:  # erased, withdrawn or completed: the real reason, not a window or consent
        return _refused(study, patient, kind, refusal)
    found = _entry_window(study, patient, kind, timepoint, instrument_id)
    back = url_for("staff.entry_list", code=study.code, patient_code=patient.code, kind=kind)
    if found is None:
        flash(_("This questionnaire cannot be entered now: its window is not open to this kind of entry. "
                "Nothing was stored."), "error")
        return redirect(back)
    if consent.gate(study, consent.consent_valid(db.session, patient)):
        flash(_("Patient %(code)s has no consent for the study's current required version: record it on "
                "their page first. Nothing was stored.", code=patient.code), "error")
        return redirect(back)
    window, part, instrument = found
    if (timepoint, instrument_id) in response_states(db.session, patient):
        flash(_("This patient already has answers to this questionnaire: nothing to record."), "error")
        return redirect(back)
    lang = request.values.get("lang") or patient.language
    lang = lang if lang in LANGUAGES else "en"
    items = _entry_items(instrument, part.section, lang)
    form = ActionForm()
    problem, values, filled = None, {}, ""
    if request.method == "POST":
        values = {item.id: (request.form.get(item.id) or "").strip() for item in items}
        filled = (request.form.get("filled_on") or "").strip()
        own = {"csrf_token", "lang"} | ({"filled_on"} if kind == "paper" else set())
        filled_on, problem = _filled_on(filled, patient) if kind == "paper" else (None, None)
        if set(request.form) - {item.id for item in items} - own:
            problem = _("The form holds fields that do not belong to this questionnaire. Nothing was stored.")
        answers, wrong = _answers(items, values)
        problem = problem or wrong
        if problem is None and not form.validate_on_submit():
            problem = _("The form expired; please enter it again.")
        if problem is None:
            who = {"language": lang, "staff": current_user, "actor": actor(current_user)}
            try:
                if kind == "paper":
                    enter_paper(db.session, patient, window, part, instrument, answers, filled_on=filled_on,
                                **who)
                else:
                    enter_interview(db.session, patient, window, part, instrument, answers, **who)
            except StaffEntryError as exc:
                db.session.rollback()
                problem = _("Nothing was stored: %(problem)s", problem=str(exc))
            except AnswerError as exc:
                db.session.rollback()
                problem = _("Nothing was stored: %(problem)s", problem=answer_problem(exc, instrument, lang))
        if problem is None:
            owed = take_owed(db.session)  # the alert notices this entry made owed
            db.session.commit()
            _deliver_after_reply(owed)  # after the commit and the reply
            flash(_("The paper questionnaire was stored as a paper entry by you.") if kind == "paper"
                  else _("The answers were stored as a staff interview by you."))
            return redirect(back)
        flash(problem, "error")
    page = render_template("staff/paper.html", study=study, patient=patient, window=window, kind=kind,
                           instrument=instrument, items=items, lang=lang, form=form, values=values,
                           filled=filled, today=study_today(study).isoformat(), label=window.label(lang))
    return page, (400 if problem else 200)
