"""Staff pages about patients: the list, enrollment, details, sessions, links, worklist.

Personal links are stored only as a hash, so a link can be shown exactly once: right after it
is issued. "Copy" and "send" in the worklist therefore both issue a new link, which replaces
(and kills) the previous one; the pages say so before anyone clicks.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from surveys.domain.accounts import ENROLL, actor, may
from surveys.domain.audit import record
from surveys.domain.links import issue_link, patient_url, qr_svg, revoke_links
from surveys.domain.models import Alert, Patient, PatientLink, Study
from surveys.domain.participation import reason_choices, reason_label, status_label
from surveys.domain.patients import EnrollmentError, enroll_patient, record_session, study_protocol
from surveys.infra.db import db
from surveys.infra.formatting import local_date
from surveys.infra.mail import MailError, send_mail
from surveys.staff.access import roles_required, study_or_404
from surveys.staff.blueprint import bp
from surveys.staff.forms import ActionForm, EnrollForm, PatientForm, SessionForm, WithdrawForm
from surveys.staff.worklist import WORK_STATES, build_worklist, worklist_counts

READERS = ("coordinator", "clinician")
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
            _("This link replaces any link you received before. Keep it to yourself."),
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


def _handout(study: Study, patient: Patient, token: str, status: int = 201) -> Any:
    """The printable handout with a new link and its QR code, answered to the POST that issued it.

    Not a redirect: the token must not travel through a cookie or a URL to survive one. The
    page is never cached, and reloading it asks the browser to re-send the form (a new link).
    """
    url = patient_url(current_app.config["BASE_URL"], token)
    with force_locale(patient.language):  # the patient's paper: the patient's language
        title = _("Personal link of %(code)s", code=patient.code)
        qr = base64.b64encode(qr_svg(url, title=title).encode()).decode("ascii")
        sheet = Markup(render_template(  # noqa: S704  (our own template, autoescaped)
            "staff/_handout_sheet.html", study=study, patient=patient, url=url, qr=qr, lang=patient.language))
    page = render_template("staff/handout.html", study=study, patient=patient, url=url, sheet=sheet)
    return page, status, {"Cache-Control": "no-store"}


PATIENTS_PER_PAGE = 100


@bp.get("/studies/<code>/patients")
@roles_required(*READERS)
def patients(code: str) -> Any:
    """The study's patients, a page at a time, with their sessions, open alerts and link state.

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
        record_endpoint=_record_endpoint(), can_enroll=may(current_user, ENROLL), search=search,
        page=page, pages=pages, total=total, first=first, last=first + len(rows) - 1 if rows else 0,
    )


@bp.route("/studies/<code>/enroll", methods=["GET", "POST"])
@roles_required(*ENROLL)
def enroll(code: str) -> Any:
    """Enroll a patient; the personal link is shown once on the handout that follows."""
    study = study_or_404(code)
    form = EnrollForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("staff/enroll.html", study=study, form=form), status
    try:
        patient, token = enroll_patient(
            db.session, study, form.code.data, actor=actor(current_user),
            sex=form.sex.data or None, birth_year=form.birth_year.data, diagnosis=form.diagnosis.data or None,
            prior_treatments=(form.prior_treatments.data or "").splitlines(), email=form.email.data,
            language=form.language.data,
        )
    except EnrollmentError as exc:
        db.session.rollback()
        flash(_("Nobody was enrolled: %(problem)s", problem=exc), "error")
        return render_template("staff/enroll.html", study=study, form=form), 400
    db.session.commit()
    flash(_("Patient %(code)s enrolled.", code=patient.code))
    return _handout(study, patient, token)


def withdrawal_form(formdata: Any = None) -> WithdrawForm:
    """The withdrawal form with its translated reasons (the form posts to participation_views)."""
    form = WithdrawForm(formdata=formdata) if formdata is not None else WithdrawForm(formdata=None)
    form.reason.choices = [("", _("Choose a reason")), *reason_choices()]
    return form


def _manage_page(study: Study, patient: Patient, status: int = 200, **forms: Any) -> Any:
    details = forms.get("details") or PatientForm(obj=patient, formdata=None)
    next_number = max((s.number for s in patient.sessions), default=0) + 1
    session_form = forms.get("session_form") or SessionForm(formdata=None, number=next_number)
    links = sorted(patient.links, key=lambda link: link.created_at, reverse=True)
    withdraw_form = forms.get("withdraw_form") or withdrawal_form(formdata=None)
    return render_template("staff/manage.html", study=study, patient=patient, details=details,
                           session_form=session_form, links=links, action=ActionForm(),
                           withdraw_form=withdraw_form, reason_label=reason_label, status_label=status_label,
                           can_edit=may(current_user, ENROLL) and patient.status != "erased",
                           record_endpoint=_record_endpoint()), status


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
        treatment = record_session(db.session, patient, actor=actor(current_user), number=form.number.data,
                                   day=form.day.data, agents=(form.agents.data or "").strip(),
                                   notes=(form.notes.data or "").strip())
    except EnrollmentError as exc:
        db.session.rollback()
        db.session.refresh(patient)
        flash(_("The session was not recorded: %(problem)s", problem=exc), "error")
        return _manage_page(study, patient, 400, session_form=form)
    db.session.commit()
    flash(_("Session %(number)s on %(date)s recorded; the schedule follows it.", number=treatment.number,
            date=local_date(treatment.date)))
    return redirect(url_for("staff.manage", code=study.code, patient_code=patient.code))


@bp.get("/studies/<code>/patients/<patient_code>/link")
@roles_required(*ENROLL)
def link(code: str, patient_code: str) -> Any:
    """The patient's link state, with the buttons to issue a new one or revoke it."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    links = sorted(patient.links, key=lambda item: item.created_at, reverse=True)
    return render_template("staff/link.html", study=study, patient=patient, links=links, form=ActionForm())


@bp.post("/studies/<code>/patients/<patient_code>/link")
@roles_required(*ENROLL)
def reissue_link(code: str, patient_code: str) -> Any:
    """Issue a new personal link (the old one stops working) and show it once."""
    study = study_or_404(code)
    patient = _patient_or_404(study, patient_code)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("staff.link", code=study.code, patient_code=patient.code))
    token = issue_link(db.session, patient)
    record(db.session, actor(current_user), "link.issue", entity="patient", entity_id=patient.id,
           study_id=study.id, details={"patient": patient.code})
    db.session.commit()
    return _handout(study, patient, token)


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
    """Issue a new link and e-mail it to the patient's reminder address."""
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
    token = issue_link(db.session, patient)
    record(db.session, actor(current_user), "link.email", entity="patient", entity_id=patient.id,
           study_id=study.id, details={"patient": patient.code})
    db.session.commit()
    subject, body = link_mail(patient, study, patient_url(current_app.config["BASE_URL"], token))
    try:
        send_mail(patient.email, subject, body)
    except MailError:
        flash(_("The new link could not be e-mailed (mail server unreachable). "
                "Give the patient this handout."),
              "error")
        return _handout(study, patient, token, status=200)
    flash(_("A new link was e-mailed to patient %(code)s; the previous link no longer works.",
            code=patient.code))
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
