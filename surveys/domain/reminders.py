"""E-mail reminders to patients: `flask --app app reminders send`, safe to run from cron.

A reminder goes out when a window opens ('open') and when it becomes overdue ('overdue'), to
patients who gave an address. Each (patient, timepoint, kind) is claimed in `reminder_sent`
before the e-mail is handed over: a re-run, or two runs at once, never send it twice (a crash
between claim and send loses that one reminder rather than repeating it). A refused e-mail
releases its claim, so the next run tries again.

Reminders go out only inside the study's sending hours (`Study.reminder_start_hour` to
`reminder_end_hour`, local time in `Study.timezone`, end excluded): one owed at night is not
claimed, so the first run after the start hour sends it (cron hourly: 09:00 local at the latest).

Each reminder carries a fresh link of its own (kind "reminder", expiring after LINK_DAYS days),
issued in the same transaction as the claim, so the link works when the e-mail arrives; it
leaves the printed QR code working. A refused e-mail revokes its link with the claim. The
e-mail carries no health information.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from surveys.domain import flow as flow
from surveys.domain.links import LINK_DAYS, hash_token, issue_link, patient_url
from surveys.domain.models import Patient, PatientLink, ReminderSent, Study
from surveys.domain.schedule import Window, last_open_day
from surveys.infra.db import db, utcnow
from surveys.infra.mail import MailError, send_mail

reminders_cli = AppGroup("reminders", help="E-mail reminders to patients.")


@dataclass(frozen=True, slots=True)
class DueReminder:
    """One reminder that should go out: to whom, for which window, which kind."""

    patient: Patient
    window: Window
    kind: str


@dataclass
class ReminderReport:
    """What a run did."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    waiting: int = 0  # owed, but outside the study's sending hours: sent by a later run
    errors: list[str] = field(default_factory=list)


#: What a reminder e-mail was about (`ReminderSent.kind`), in the reader's language.
REMINDER_KIND_LABELS = {"open": _l("questionnaire open"), "overdue": _l("questionnaire overdue")}


def reminder_kind(window: Window) -> str | None:
    """'overdue' for an overdue window, 'open' for an open or due one, else None."""
    if window.state == "overdue":
        return "overdue"
    if window.state in ("open", "due"):
        return "open"
    return None


def in_sending_hours(study: Study, now: datetime) -> bool:
    """True when `now` (an aware UTC instant) is inside the study's local sending hours [start, end)."""
    local = now.astimezone(ZoneInfo(study.timezone))
    return study.reminder_start_hour <= local.hour < study.reminder_end_hour


def due_reminders(session: Session, now: datetime | None = None) -> list[DueReminder]:
    """Reminders owed now and not yet sent, for active patients with an e-mail address
    (at any hour: `send_reminders` holds back those outside their study's sending hours)."""
    now = now or utcnow()
    patients = session.scalars(
        select(Patient).join(Study).where(Patient.email.is_not(None), Patient.status == "active")
        .order_by(Patient.id)
    ).all()
    if not patients:
        return []
    already = set(session.execute(
        select(ReminderSent.patient_id, ReminderSent.timepoint, ReminderSent.kind)
        .where(ReminderSent.patient_id.in_([p.id for p in patients]))
    ).tuples())
    owed = []
    for patient in patients:
        states = flow.response_states(session, patient)
        for window in flow.patient_windows(patient, flow.protocol_of(patient.study), states, now):
            kind = reminder_kind(window)
            if kind is not None and (patient.id, window.timepoint, kind) not in already:
                owed.append(DueReminder(patient=patient, window=window, kind=kind))
    return owed


def reminder_message(patient: Patient, window: Window, kind: str, url: str | None = None) -> tuple[str, str]:
    """Subject and body of a reminder, in the patient's language, with its own link (`url`, which
    works for LINK_DAYS days) when given; no health information."""
    with force_locale(patient.language):
        if kind == "overdue":
            subject = _("Reminder: a questionnaire is still waiting for you")
            first = _("A questionnaire from your clinic is still waiting for your answers. "
                      "Please answer as soon as you can.")
        else:
            subject = _("A questionnaire is waiting for you")
            first = _("A questionnaire from your clinic is ready. It takes a few minutes.")
        lines = [_("Hello,"), "", first]
        if window.closes_at is not None:
            # the last local day it can be answered, in the study's zone (never the first closed day)
            last_day = last_open_day(window.closes_at, ZoneInfo(patient.study.timezone))
            lines.append(_("It is open until %(date)s.", date=format_date(last_day, "long")))
        if url:
            lines += ["", _("Open your questionnaires with this personal link (it works for %(days)s days; "
                            "the QR code your clinic gave you keeps working):", days=LINK_DAYS), "", url]
        else:
            lines += ["", _("Please open it with the personal link or the QR code your clinic gave you.")]
        contact = patient.study.contact.strip()
        if contact:
            lines += ["", _("If you have lost your link, please contact your clinic: %(contact)s",
                            contact=contact)]
        lines += ["", _("This is an automatic message; please do not reply.")]
    return subject, "\n".join(lines) + "\n"


def _claim(session: Session, reminder: DueReminder) -> tuple[ReminderSent, str] | None:
    """Claim a reminder and issue its link in one committed transaction; None if already claimed."""
    row = ReminderSent(
        patient_id=reminder.patient.id, timepoint=reminder.window.timepoint, kind=reminder.kind)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
            token = issue_link(session, reminder.patient, kind="reminder")
    except IntegrityError:  # another run claimed it first
        return None
    session.commit()
    return row, token


def send_reminders(session: Session, now: datetime | None = None) -> ReminderReport:
    """Claim and send every reminder owed now inside its study's sending hours; commits after each
    claim (call it from the CLI). `now` is an aware UTC instant (default: the clock)."""
    report = ReminderReport()
    now = now or utcnow()
    base_url = current_app.config["BASE_URL"]
    for reminder in due_reminders(session, now):
        if not in_sending_hours(reminder.patient.study, now):
            report.waiting += 1  # not claimed: the first run inside the sending hours sends it
            continue
        claimed = _claim(session, reminder)
        if claimed is None:
            report.skipped += 1
            continue
        row, token = claimed
        subject, body = reminder_message(reminder.patient, reminder.window, reminder.kind,
                                         patient_url(base_url, token))
        try:
            send_mail(reminder.patient.email or "", subject, body)
        except MailError as exc:
            session.execute(delete(ReminderSent).where(ReminderSent.id == row.id))
            session.execute(update(PatientLink).where(PatientLink.token_hash == hash_token(token))
                            .values(revoked_at=utcnow()))
            session.commit()
            report.failed += 1
            report.errors.append(f"patient {reminder.patient.code}: {exc}")
            continue
        report.sent += 1
    return report


@reminders_cli.command("send")
def send_command() -> None:
    """E-mail patients whose questionnaire opened or became overdue (never the same one twice)."""
    if not current_app.config.get("MAIL_SERVER"):
        click.echo("MAIL_SERVER is not set: reminders are written to the outbox folder.", err=True)
    report = send_reminders(db.session)
    for error in report.errors:
        click.echo(error, err=True)
    click.echo(f"{report.sent} reminder(s) sent, {report.failed} failed, {report.skipped} already sent, "
               f"{report.waiting} waiting for the study's sending hours.")
    if report.failed:
        raise SystemExit(1)
