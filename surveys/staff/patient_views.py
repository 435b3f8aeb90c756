"""Staff pages about patients: the list, enrollment, details, sessions, links, worklist.

Personal links are stored only as a hash, so a link can be shown exactly once: right after it
is issued. A patient may hold several live links: the printed handout (QR code and short code,
replaced together by a new handout) and e-mailed links (each new, expiring after 14 days,
leaving the printed one working). Each link can be revoked on its own.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from surveys.domain import consent
from surveys.domain.accounts import ENROLL, actor, may
from surveys.domain.audit import record
from surveys.domain.clinician_stage import (
    STAGE_INSTRUMENT,
    StageRow,
    major_stage,
    major_stage_labels,
    record_clinician_stage,
    stage_choices,
    stage_label,
    stages_by_timepoint,
)
from surveys.domain.flow import patient_windows, response_states
from surveys.domain.links import (
    LINK_DAYS,
    format_short_code,
    issue_handout,
    issue_link,
    link_state,
    patient_url,
    qr_svg,
    revoke_links,
)
from surveys.domain.links import (
    revoke_link as revoke_one_link,
)
from surveys.domain.models import Alert, Patient, PatientLink, Study, TabletSession
from surveys.domain.participation import (
    COLLECTION_KINDS,
    awaiting_erasure,
    collection_refusal,
    reason_choices,
    reason_label,
    status_label,
)
from surveys.domain.patients import (
    EnrollmentError,
    baseline_window,
    enroll_patient,
    enrollment_problems,
    extend_window,
    record_session,
    study_protocol,
)
from surveys.domain.pregnancy_check import asks_check, check_from_answers
from surveys.domain.protocol_history import earlier_answers, protocol_versions
from surveys.infra.db import db
from surveys.infra.formatting import local_date
from surveys.infra.library import instruments
from surveys.infra.mail import MailError, send_mail
from surveys.staff.access import roles_required, study_or_404
from surveys.staff.blueprint import bp
from surveys.staff.forms import (
    ActionForm,
    ClinicianStageForm,
    ConsentForm,
    EnrollForm,
    ExtendWindowForm,
    PatientForm,
    SessionForm,
    WithdrawForm,
    mark_problems,
)
from surveys.staff.worklist import WORK_STATES, build_worklist, worklist_counts

READERS = ("coordinator", "clinician")
SCALE_NAMES = {"norwood": _l("Norwood-Hamilton"), "sinclair": _l("Sinclair")}
WORKLIST_ROWS = 300  # the most urgent first; filters narrow the rest
PATIENT_RECORD_RULE = "/studies/<code>/patients/<patient_code>"


def link_mail(patient: Patient, study: Study, url: str) -> tuple[str, str]:
    """Subject and body of the e-mail carrying a new personal link, in the patient's language
    (whatever the language of the staff member who sends it)."""
    with force_locale(patient.language):
        subject = _("Your questionnaires")
        body = "\n\n".join([
            _("Hello,"),
            _("Your clinic (%(study)s) asks you to fill in your questionnaires. Your personal link is:",
              study=study.name),
            url,
            _("It works for %(days)s days; the QR code on the sheet from your clinic keeps working. "
              "Keep it to yourself.", days=LINK_DAYS),
        ])
    return subject, body + "\n"


def _patient_or_404(study: Study, patient_code: str) -> Patient:
    patient = db.session.scalar(
        select(Patient).where(Patient.study_id == study.id, Patient.code == patient_code)
    )
    if patient is None:
        abort(404)
    if patient.status == "erased" and request.method != "GET":
        # A tombstone takes no new data: no session, link, contact detail or status change.
        abort(409, description=_("The data of patient %(code)s were erased: nothing can be recorded for "
                                 "them any more.", code=patient.code))
    return patient


def _record_endpoint() -> str | None:
    """The endpoint of the patient record page (owned by the reports side), if it exists."""
    return next((r.endpoint for r in current_app.url_map.iter_rules() if r.rule == PATIENT_RECORD_RULE), None)


def _handout(study: Study, patient: Patient, token: str, status: int = 201,
             short_code: str | None = None) -> Any:
    """The printable handout with a new link, its QR code and short code, answered to the POST that
    issued them.

    Not a redirect: the token must not travel through a cookie or a URL to survive one. The
    page is never cached, and reloading it asks the browser to re-send the form (a new link).
    """
    base = current_app.config["BASE_URL"]
    url = patient_url(base, token)
    with force_locale(patient.language):  # the patient's paper: the patient's language
        title = _("Personal link of %(code)s", code=patient.code)
        qr = base64.b64encode(qr_svg(url, title=title).encode()).decode("ascii")
        sheet = Markup(render_template(  # noqa: S704  (our own template, autoescaped)
            "staff/_handout_sheet.html", study=study, patient=patient, url=url, qr=qr, lang=patient.language,
            short_code=format_short_code(short_code) if short_code else None,
            code_page=f"{base.rstrip('/')}/code"))
    page = render_template("staff/handout.html", study=study, patient=patient, url=url, sheet=sheet)
    return page, status, {"Cache-Control": "no-store"}


PATIENTS_PER_PAGE = 100


@bp.get("/studies/<code>/patients")
@roles_required(*READERS)
def patients(code: str) -> Any:
    """The study's patients, a page at a time, with their sessions, open alerts and link state, and
    above them the patients whose consent was withdrawn without keeping their data, awaiting erasure.

    `q` finds patients whose code contains it; `page` counts from 1 (a bad value shows page 1).
    """
    study = study_or_404(code)
    search = (request.args.get("q") or "").strip()[:32]
    where = [Patient.study_id == study.id]
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(Patient.code.ilike(f"%{escaped}%", escape="\\"))
    total = db.session.scalar(select(func.count(Patient.id)).where(*where)) or 0
    pages = max(1, -(-total // PATIENTS_PER_PAGE))
    page = request.args.get("page", "1")
    page = min(int(page), pages) if page.isdigit() and int(page) >= 1 else 1
    rows = list(db.session.scalars(
        select(Patient).where(*where).order_by(Patient.code)
        .limit(PATIENTS_PER_PAGE).offset((page - 1) * PATIENTS_PER_PAGE)
        .options(selectinload(Patient.sessions))
    ))
    ids = [patient.id for patient in rows]
    open_alerts = dict(db.session.execute(
        select(Alert.patient_id, func.count(Alert.id))
        .where(Alert.patient_id.in_(ids), Alert.state != "resolved").group_by(Alert.patient_id)
    ).all())
    live = set(db.session.scalars(
        select(PatientLink.patient_id)
        .where(PatientLink.patient_id.in_(ids), PatientLink.revoked_at.is_(None))
    ))
    first = (page - 1) * PATIENTS_PER_PAGE + 1 if total else 0
    return render_template(
        "staff/patients.html", study=study, patients=rows, open_alerts=open_alerts, live=live,
        awaiting_erasure=awaiting_erasure(db.session, study),
        record_endpoint=_record_endpoint(), can_enroll=may(current_user, ENROLL), search=search,
        page=page, pages=pages, total=total, first=first, last=first + len(rows) - 1 if rows else 0,
    )


def _enroll_form(study: Study) -> EnrollForm:
    """The enrollment form with the consent methods and the study's consent versions (newest first)."""
    return _consent_choices(study, EnrollForm())


def _consent_form(study: Study, **kwargs: Any) -> ConsentForm:
    return _consent_choices(study, ConsentForm(**kwargs))


def _record_consent(form: Any, patient: Patient) -> consent.RecordedConsent:
    """Record the consent a ConsentForm (or EnrollForm) gives for a patient; raises ConsentError."""
    return consent.record_consent(db.session, patient, method=form.consent_method.data,
                                  consented_on=form.consent_on.data,
                                  version=form.consent_version.data or None, actor=actor(current_user))


def _consent_choices(study: Study, form: Any) -> Any:
    """Fill a form's consent method and version choices (the study's versions, newest first)."""
    labels = consent.method_labels()
    form.consent_method.choices = [("", _("Not recorded now")),
                                   *[(m, labels[m]) for m in consent.STAFF_METHODS]]
    labels = [(v.version, v.version) for v in consent.versions(db.session, study.id)]
    # Nothing chosen by default: a version is given only when staff pick one (else the current one).
    form.consent_version.choices = [("", _("The current version")), *labels] if labels else []
    return form


@bp.post("/studies/<code>/patients/<patient_code>/consent")
@roles_required(*ENROLL)
def record_consent(code: str, patient_code: str) -> Any:
    """Record a patient's consent after enrollment (a re-consent, or one not recorded then); audited."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    form = _consent_form(study)
    problem = stored = None
    if not form.validate_on_submit() or not form.consent_method.data:
        problem = _("Choose how consent was obtained and give its date.")
    else:
        try:
            stored = _record_consent(form, patient)
        except consent.ConsentError as exc:
            db.session.rollback()
            problem = str(exc)
    if problem:
        flash(_("No consent was recorded: %(problem)s", problem=problem), "error")
        return _manage_page(study, patient, 400, consent_form=form)
    db.session.commit()
    if stored is not None and stored.replaced_method is not None and stored.replaced_on is not None:
        flash(_("Consent recorded for %(code)s; it replaces the earlier record for version %(version)s "
                "(%(method)s, %(date)s).", code=patient.code, version=stored.record.version.version,
                method=consent.method_labels()[stored.replaced_method], date=local_date(stored.replaced_on)))
    else:
        flash(_("Consent recorded for %(code)s.", code=patient.code))
    return redirect(url_for("staff.manage", code=study.code, patient_code=patient.code), 303)


@bp.route("/studies/<code>/enroll", methods=["GET", "POST"])
@roles_required(*ENROLL)
def enroll(code: str) -> Any:
    """Enroll a patient; the personal link is shown once on the handout that follows."""
    study = study_or_404(code)
    form = _enroll_form(study)
    if not form.is_submitted():
        return render_template("staff/enroll.html", study=study, form=form)
    form_valid = form.validate()
    # The domain's checks run beside the form's, so every problem shows at once; a field the form
    # refused is left to the form's message.
    given = {name: getattr(form, name).data if not getattr(form, name).errors else None
             for name in ("code", "sex", "birth_year", "diagnosis", "email", "language", "enrolled_on",
                          "prior_treatments")}
    problems = enrollment_problems(
        db.session, study, given["code"], sex=given["sex"] or None, birth_year=given["birth_year"],
        diagnosis=given["diagnosis"] or None, email=given["email"], language=given["language"],
        enrolled_on=given["enrolled_on"], prior_treatments=(given["prior_treatments"] or "").splitlines())
    mark_problems(form, problems)
    if not form_valid or problems:
        flash(_("Nobody was enrolled: please correct the fields marked below."), "error")
        return render_template("staff/enroll.html", study=study, form=form), 400
    try:
        with_consent = consent.consent_given(form.consent_method.data, form.consent_on.data,
                                             form.consent_version.data)
        patient, token = enroll_patient(
            db.session, study, form.code.data, actor=actor(current_user),
            sex=form.sex.data or None, birth_year=form.birth_year.data, diagnosis=form.diagnosis.data or None,
            prior_treatments=(form.prior_treatments.data or "").splitlines(), email=form.email.data,
            language=form.language.data, enrolled_on=form.enrolled_on.data,
        )
        if with_consent:
            _record_consent(form, patient)
    except EnrollmentError as exc:
        db.session.rollback()
        flash(_("Nobody was enrolled: %(problem)s", problem=exc), "error")
        return render_template("staff/enroll.html", study=study, form=form), 400
    short_code = issue_link(db.session, patient, kind="code")
    db.session.commit()
    flash(_("Patient %(code)s enrolled.", code=patient.code))
    return _handout(study, patient, token, short_code=short_code)


def _windows(study: Study, patient: Patient) -> list[Any]:
    """The patient's questionnaire windows now, completed ones included."""
    return patient_windows(patient, study_protocol(study), response_states(db.session, patient))


def withdrawal_form(formdata: Any = None) -> WithdrawForm:
    """The withdrawal form with its translated reasons (the form posts to participation_views)."""
    form = WithdrawForm(formdata=formdata) if formdata is not None else WithdrawForm(formdata=None)
    form.reason.choices = [("", _("Choose a reason")), *reason_choices()]
    return form


def _manage_page(study: Study, patient: Patient, status: int = 200, **forms: Any) -> Any:
    details = forms.get("details") or PatientForm(obj=patient, formdata=None)
    done = [s.number for s in patient.sessions if not s.planned]
    planned = [s.number for s in patient.sessions if s.planned]
    next_number = min(planned) if planned else max(done, default=0) + 1
    session_form = forms.get("session_form") or SessionForm(formdata=None, number=next_number)
    links = sorted(patient.links, key=lambda link: link.created_at, reverse=True)
    withdraw_form = forms.get("withdraw_form") or withdrawal_form(formdata=None)
    windows = _windows(study, patient)
    extensions = {e.timepoint: e for e in patient.window_extensions}
    extend_form = forms.get("extend_form") or ExtendWindowForm(formdata=None)
    lang = str(get_locale() or "en")
    extend_form.timepoint.choices = [(w.timepoint, w.label(lang)) for w in windows
                                     if w.state not in ("completed", "upcoming", "not_scheduled")]
    tablet_open = db.session.scalar(
        select(TabletSession.id)
        .where(TabletSession.patient_id == patient.id, TabletSession.ended_at.is_(None))
    )
    stage_form, stages, stage_instrument = _stage_section(patient, windows, lang, forms.get("stage_form"))
    checked = [s for s in patient.sessions if s.pregnancy_checked_at is not None]
    last_check = max(checked, key=lambda s: s.pregnancy_checked_at) if checked else None
    consent_form = forms.get("consent_form") or _consent_form(study, formdata=None)
    history = protocol_versions(db.session, study)
    earlier = earlier_answers(db.session, history, patient.id, lang)
    labels = {**{a.timepoint: a.label for a in earlier}, **{w.timepoint: w.label(lang) for w in windows}}
    return render_template("staff/manage.html", study=study, patient=patient, details=details,
                           consents=consent.patient_consents(db.session, patient.id),
                           consent_valid=consent.consent_valid(db.session, patient),
                           consent_form=consent_form, consent_labels=consent.method_labels(),
                           session_form=session_form, links=links, action=ActionForm(),
                           asks_pregnancy=asks_check(patient.sex), last_check=last_check,
                           stage_form=stage_form, stages=stages,
                           timepoint_labels=labels, earlier=earlier,
                           instrument_titles={k: i.title.get(lang) or i.title.get("en", k)
                                              for k, i in instruments().items()},
                           stage_text=lambda scale, code: stage_text(stage_instrument, scale, code, lang),
                           withdraw_form=withdraw_form, reason_label=reason_label, status_label=status_label,
                           tablet_open=tablet_open,
                           clinic_refusals={k: collection_refusal(patient, k) for k in COLLECTION_KINDS},
                           windows=windows, extensions=extensions, extend_form=extend_form, lang=lang,
                           can_edit=may(current_user, ENROLL) and patient.status != "erased",
                           record_endpoint=_record_endpoint()), status


def stage_text(instrument: Any, scale: str, code: int, lang: str) -> str:
    """A stage named with its scale and, when the instrument derives one, its major stage:
    "Norwood-Hamilton: Stage III vertex – ... (major stage III)"."""
    text = f"{SCALE_NAMES[scale]}: {stage_label(instrument, scale, code, lang)}"
    major = major_stage(instrument, scale, code)
    if major is not None:
        label = major_stage_labels(instrument, scale).get(major, major)
        text += " " + _("(major stage %(stage)s)", stage=label)
    return text


def _stage_section(patient: Patient, windows: list[Any], lang: str,
                   form: ClinicianStageForm | None) -> tuple[ClinicianStageForm, list[StageRow], Any]:
    """The clinician's stage form (timepoints opened so far, the instrument's stages) and the rows of
    self-rated and clinician stages per timepoint."""
    instrument = instruments().get(STAGE_INSTRUMENT)
    form = form or ClinicianStageForm(formdata=None)
    form.timepoint.choices = [(w.timepoint, w.label(lang)) for w in windows
                              if w.opens_at is not None and w.state not in ("upcoming", "not_scheduled")]
    form.stage.choices = [("", _("Choose a stage"))] + [
        (stage.key, f"{SCALE_NAMES[stage.scale]}: {stage.label}")
        for stage in (stage_choices(instrument, lang) if instrument else [])
    ]
    rows = stages_by_timepoint(db.session, patient, [w.timepoint for w in windows])
    return form, rows, instrument


@bp.post("/studies/<code>/patients/<patient_code>/stage")
@roles_required(*READERS)
def record_stage(code: str, patient_code: str) -> Any:
    """Record the clinician's own hair-loss stage of the patient at a timepoint (audited)."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    form = ClinicianStageForm()
    windows = _windows(study, patient)
    _stage_section(patient, windows, str(get_locale() or "en"), form)
    instrument = instruments().get(STAGE_INSTRUMENT)
    if instrument is None or not form.validate_on_submit():
        flash(_("The stage was not recorded: please correct the marked fields."), "error")
        return _manage_page(study, patient, 400, stage_form=form)
    try:
        record_clinician_stage(db.session, patient, instrument, timepoint=form.timepoint.data,
                               key=form.stage.data, actor=actor(current_user))
    except EnrollmentError as exc:
        db.session.rollback()
        db.session.refresh(patient)
        flash(_("The stage was not recorded: %(problem)s", problem=exc), "error")
        return _manage_page(study, patient, 400, stage_form=form)
    db.session.commit()
    flash(_("The clinician's stage at %(timepoint)s was recorded.", timepoint=form.timepoint.data))
    return redirect(url_for("staff.manage", code=study.code, patient_code=patient.code) + "#stages")


@bp.get("/studies/<code>/patients/<patient_code>/manage")
@roles_required(*READERS)
def manage(code: str, patient_code: str) -> Any:
    """A patient's details, treatment sessions and link state."""
    study = study_or_404(code)
    return _manage_page(study, _patient_or_404(study, patient_code))


@bp.post("/studies/<code>/patients/<patient_code>/manage")
@roles_required(*ENROLL)
def update_patient(code: str, patient_code: str) -> Any:
    """Change a patient's e-mail or language; old and new values go to the audit trail (withdrawal has
    its own form, with a date and a reason: `surveys.staff.participation_views`)."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    form = PatientForm()
    email = (form.email.data or "").strip() or None
    valid = form.validate_on_submit()
    if valid and email is not None and not _looks_like_email(email):
        form.email.errors = [*form.email.errors, _("The e-mail address does not look valid.")]
        valid = False
    if not valid:
        flash(_("Nothing was changed: please correct the marked fields."), "error")
        return _manage_page(study, patient, 400, details=form)
    old = {"email": patient.email, "language": patient.language}
    new = {"email": email, "language": form.language.data}
    if old != new:
        patient.email, patient.language = new["email"], new["language"]
        changed = [k for k in old if old[k] != new[k] and k != "email"]
        details: dict[str, Any] = {"patient": patient.code, "old": {k: old[k] for k in changed},
                                   "new": {k: new[k] for k in changed}}
        if old["email"] != new["email"]:
            # The trail is immutable and outlives an erasure: it says that the address changed, never
            # the address itself (contact details stay erasable).
            details["email"] = "added" if not old["email"] else "removed" if not new["email"] else "changed"
        record(db.session, actor(current_user), "patient.update", entity="patient", entity_id=patient.id,
               study_id=study.id, details=details)
        db.session.commit()
        flash(_("Patient details saved."))
    return redirect(url_for("staff.manage", code=study.code, patient_code=patient.code))


def _looks_like_email(value: str) -> bool:
    local, _, domain = value.partition("@")
    return bool(local) and "." in domain and len(value) <= 254 and not any(c.isspace() for c in value)


@bp.post("/studies/<code>/patients/<patient_code>/sessions")
@roles_required(*ENROLL)
def add_session(code: str, patient_code: str) -> Any:
    """Record (or correct) a treatment session; the patient's questionnaire windows follow it."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    form = SessionForm()
    if not form.validate_on_submit():
        flash(_("The session was not recorded: please correct the marked fields."), "error")
        return _manage_page(study, patient, 400, session_form=form)
    try:
        check = check_from_answers(*(None if not f.data else f.data == "yes"
                                     for f in (form.pregnant, form.breastfeeding, form.trying_to_conceive)))
        treatment = record_session(db.session, patient, actor=actor(current_user), number=form.number.data,
                                   day=form.day.data, agents=(form.agents.data or "").strip(),
                                   notes=(form.notes.data or "").strip(), planned=form.planned.data,
                                   pregnancy_check=check)
    except (EnrollmentError, ValueError) as exc:
        db.session.rollback()
        db.session.refresh(patient)
        flash(_("The session was not recorded: %(problem)s", problem=exc), "error")
        return _manage_page(study, patient, 400, session_form=form)
    db.session.commit()
    if treatment.planned:
        flash(_("Session %(number)s planned for %(date)s; the baseline window follows it.",
                number=treatment.number, date=local_date(treatment.date)))
    else:
        flash(_("Session %(number)s on %(date)s recorded; the schedule follows it.",
                number=treatment.number, date=local_date(treatment.date)))
    warning = baseline_warning(study, patient)
    if warning:
        flash(warning, "warning")
    return redirect(url_for("staff.manage", code=study.code, patient_code=patient.code))


def baseline_warning(study: Study, patient: Patient) -> str | None:
    """A warning for staff when the patient's baseline is unanswered: still open, or missing."""
    baseline = baseline_window(_windows(study, patient))
    if baseline is None or baseline.state == "completed":
        return None
    label = baseline.label(str(get_locale() or "en"))
    if baseline.answerable:
        return _("Patient %(code)s has not answered the baseline questionnaires (%(label)s). They stay open "
                 "until the end of the first session's day: offer the clinic tablet (\"Answer in clinic\" "
                 "on this page) before the treatment.", code=patient.code, label=label)
    if baseline.state == "closed":
        return _("Patient %(code)s has no baseline (%(label)s): it is shown as missing. Staff can reopen "
                 "the window with a reason below if the patient can still answer about before the "
                 "treatment.", code=patient.code, label=label)
    return None


@bp.post("/studies/<code>/patients/<patient_code>/windows/extend")
@roles_required(*ENROLL)
def extend_patient_window(code: str, patient_code: str) -> Any:
    """Reopen or extend one of the patient's questionnaire windows to the end of a day, with a reason."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    form = ExtendWindowForm()
    form.timepoint.choices = [(w.timepoint, w.timepoint) for w in _windows(study, patient)]
    if not form.validate_on_submit():
        flash(_("The window was not extended: please correct the marked fields."), "error")
        return _manage_page(study, patient, 400, extend_form=form)
    try:
        extension = extend_window(db.session, patient, form.timepoint.data, form.closes_on.data,
                                  actor=actor(current_user), reason=form.reason.data)
    except EnrollmentError as exc:
        db.session.rollback()
        db.session.refresh(patient)
        flash(_("The window was not extended: %(problem)s", problem=str(exc)), "error")
        return _manage_page(study, patient, 400, extend_form=form)
    db.session.commit()
    flash(_("Window %(timepoint)s stays open until the end of %(day)s.", timepoint=extension.timepoint,
            day=local_date(extension.closes_on)))
    return redirect(url_for("staff.manage", code=study.code, patient_code=patient.code))


@bp.get("/studies/<code>/patients/<patient_code>/link")
@roles_required(*ENROLL)
def link(code: str, patient_code: str) -> Any:
    """The patient's link state, with the buttons to issue a new one or revoke it."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    links = sorted(patient.links, key=lambda item: item.created_at, reverse=True)
    return render_template("staff/link.html", study=study, patient=patient, links=links, form=ActionForm(),
                           states={item.id: link_state(item) for item in links}, link_days=LINK_DAYS)


@bp.post("/studies/<code>/patients/<patient_code>/link")
@roles_required(*ENROLL)
def reissue_link(code: str, patient_code: str) -> Any:
    """Print a new handout: a new QR link and short code (the previous handout's stop working, an
    e-mailed link keeps working), shown once."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("staff.link", code=study.code, patient_code=patient.code))
    handout = issue_handout(db.session, patient)
    record(db.session, actor(current_user), "link.issue", entity="patient", entity_id=patient.id,
           study_id=study.id, details={"patient": patient.code, "kind": "handout"})
    db.session.commit()
    return _handout(study, patient, handout.token, short_code=handout.short_code)


@bp.post("/studies/<code>/patients/<patient_code>/link/<int:link_id>/revoke")
@roles_required(*ENROLL)
def revoke_single_link(code: str, patient_code: str, link_id: int) -> Any:
    """Revoke one of the patient's links (a lost sheet, an e-mail sent to the wrong address)."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    if ActionForm().validate_on_submit():
        if revoke_one_link(db.session, patient, link_id):
            record(db.session, actor(current_user), "link.revoke", entity="patient", entity_id=patient.id,
                   study_id=study.id, details={"patient": patient.code, "link": link_id, "revoked": 1})
            db.session.commit()
            flash(_("The link was revoked; the patient's other links keep working."))
        else:
            flash(_("That link was already revoked or is not this patient's."), "error")
    return redirect(url_for("staff.link", code=study.code, patient_code=patient.code))


@bp.post("/studies/<code>/patients/<patient_code>/link/revoke")
@roles_required(*ENROLL)
def revoke_link(code: str, patient_code: str) -> Any:
    """Revoke every live link of the patient (for a lost phone or a link sent to the wrong person)."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    if ActionForm().validate_on_submit():
        count = revoke_links(db.session, patient)
        record(db.session, actor(current_user), "link.revoke", entity="patient", entity_id=patient.id,
               study_id=study.id, details={"patient": patient.code, "revoked": count})
        db.session.commit()
        flash(ngettext("%(num)d link revoked. Issue a new link when the patient needs one.",
                       "%(num)d links revoked. Issue a new link when the patient needs one.", count))
    return redirect(url_for("staff.link", code=study.code, patient_code=patient.code))


@bp.post("/studies/<code>/patients/<patient_code>/link/email")
@roles_required(*ENROLL)
def email_link(code: str, patient_code: str) -> Any:
    """E-mail the patient a new link of their own (it expires after LINK_DAYS days; the printed
    handout keeps working)."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    back = request.form.get("back") == "worklist"
    target = (url_for("staff.worklist", code=study.code) if back
              else url_for("staff.link", code=study.code, patient_code=patient.code))
    if not ActionForm().validate_on_submit():
        return redirect(target)
    if not patient.email:
        flash(_("Patient %(code)s has no e-mail address; print a handout instead.", code=patient.code),
              "error")
        return redirect(target)
    token = issue_link(db.session, patient, kind="email")
    record(db.session, actor(current_user), "link.email", entity="patient", entity_id=patient.id,
           study_id=study.id, details={"patient": patient.code, "days": LINK_DAYS})
    db.session.commit()
    subject, body = link_mail(patient, study, patient_url(current_app.config["BASE_URL"], token))
    try:
        send_mail(patient.email, subject, body)
    except MailError:
        flash(_("The new link could not be e-mailed (mail server unreachable). "
                "Give the patient this handout."),
              "error")
        return _handout(study, patient, token, status=200)
    flash(_("A new link was e-mailed to patient %(code)s; it works for %(days)s days, and the printed "
            "QR code keeps working.", code=patient.code, days=LINK_DAYS))
    return redirect(target)


@bp.get("/studies/<code>/worklist")
@roles_required(*READERS)
def worklist(code: str) -> Any:
    """Who is due, overdue or has missed a questionnaire, per timepoint."""
    study = study_or_404(code)
    protocol = study_protocol(study)
    wanted = request.args.get("state", "")
    states = (wanted,) if wanted in WORK_STATES else ("overdue", "due", "open")
    kinds = [tp.id for tp in protocol.timepoints]
    kind = request.args.get("timepoint", "")
    kind = kind if kind in kinds else ""
    everything = build_worklist(db.session, study, timepoint=kind or None, protocol=protocol)
    counts = worklist_counts(everything)
    items = [item for item in everything if item.state in states]
    return render_template("staff/worklist.html", study=study, items=items[:WORKLIST_ROWS], total=len(items),
                           counts=counts, states=WORK_STATES,
                           state=wanted if wanted in WORK_STATES else "", timepoints=protocol.timepoints,
                           timepoint=kind, form=ActionForm(), can_send=may(current_user, ENROLL),
                           record_endpoint=_record_endpoint())
