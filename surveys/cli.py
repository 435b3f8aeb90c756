"""Command-line entry points of the collection side (`flask --app app ...`): db, demo, users,
patients, alerts (notify, escalate), and the groups other modules own (backups, reminders, audit)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from surveys.domain.accounts import ENROLL, AccountError, create_user
from surveys.domain.models import ERASURE_REASONS, ROLES, WITHDRAWAL_REASONS, Patient, Study
from surveys.domain.operators import as_option, cli_operator
from surveys.domain.patients import DIAGNOSES, EnrollmentError, enroll_patient
from surveys.domain.sessions_import import SessionImportError, import_sessions
from surveys.infra import migrate
from surveys.infra.db import db, utcnow

db_cli = AppGroup("db", help="Database schema.")
users_cli = AppGroup("users", help="Staff accounts.")
patients_cli = AppGroup("patients", help="Patients and their personal links.")
studies_cli = AppGroup("studies", help="Studies and their settings.")
sessions_cli = AppGroup("sessions", help="Treatment sessions (the schedule's anchors).")


def _study(code: str) -> Study:
    study = db.session.scalar(select(Study).where(Study.code == code))
    if study is None:
        raise click.ClickException(f"No study with code {code}.")
    return study


def _iso_day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD.") from exc


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Bring the database schema up to date (Alembic)."""
    migrate.upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"Database at revision {revision}.")


@click.command("demo")
@with_appcontext
@click.option("--patients", "n_patients", default=200, show_default=True, type=click.IntRange(0, 100_000))
@click.option("--seed", default=2026, show_default=True, type=int)
@click.option("--allow-postgresql", is_flag=True,
              help="Load the demo into the PostgreSQL database DATABASE_URL names (refused without it: "
                   "the demo's logins are published).")
@click.option("--reset-walkthrough", is_flag=True,
              help="Make the three demo patients (DEMO-NEW, DEMO-SESSION, DEMO-FOLLOWUP) new again.")
def demo_command(n_patients: int, seed: int, allow_postgresql: bool, reset_walkthrough: bool) -> None:
    """Schema up to date, the DEMO study, demo logins and a synthetic cohort (idempotent).

    Refused when DATABASE_URL points at PostgreSQL (unless --allow-postgresql) and when the database
    holds any study or staff account that is not the demo's. --reset-walkthrough first deletes the
    three walkthrough patients with their answers, so they can be walked through again; the rest of
    the cohort is kept. Links are printed at BASE_URL, which follows HOST/PORT when unset
    (`make run PORT=5103`).
    """
    from sqlalchemy.engine import make_url

    from surveys.demo import load_demo
    from surveys.demo.loader import DemoRefused, check_demo_only
    from surveys.demo.loader import reset_walkthrough as reset
    from surveys.infra.library import instruments

    url = current_app.config["DATABASE_URL"]
    if make_url(url).get_backend_name() != "sqlite" and not allow_postgresql:
        raise click.ClickException(
            "DATABASE_URL points at a PostgreSQL database: the demo and its published logins are not "
            "loaded there unless you pass --allow-postgresql (meant for a throw-away database).")
    migrate.upgrade(url)
    try:
        if reset_walkthrough:
            check_demo_only(db.session)  # never delete patients of a database that is not the demo
            removed = reset(db.session)
            db.session.commit()
            click.echo(f"demo: {removed} walkthrough patient(s) reset.", err=True)
        summary = load_demo(db.session, n_patients=n_patients, seed=seed, library=instruments(),
                            secret=current_app.config["SECRET_KEY"], base_url=current_app.config["BASE_URL"],
                            progress=lambda text: click.echo(text, err=True))
    except DemoRefused as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(summary)


@users_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--study", "studies", multiple=True, help="Study code (repeatable).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@as_option
def users_create(email: str, role: str, studies: tuple[str, ...], password_stdin: bool,
                 as_email: str | None) -> None:
    """Create a staff account."""
    from surveys.domain.audit import record

    who = cli_operator(as_email, roles=())  # administrators only, as on the web
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    found = {s.code: s for s in db.session.scalars(select(Study).where(Study.code.in_(studies)))}
    missing = [code for code in studies if code not in found]
    if missing:
        raise click.ClickException(f"No study with code {', '.join(missing)}.")
    try:
        user = create_user(db.session, email, password, role, found.values())
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    record(db.session, who, "user.create", entity="staff_user", entity_id=user.id,
           details={"email": user.email, "role": role, "studies": sorted(found)})
    db.session.commit()
    click.echo(f"Created {role} {user.email}.")


@patients_cli.command("enroll")
@click.argument("study_code")
@click.argument("patient_codes", nargs=-1, required=True)
@click.option("--sex", type=click.Choice(["female", "male", "other"]))
@click.option("--birth-year", type=int)
@click.option("--diagnosis", type=click.Choice(DIAGNOSES))
@click.option("--prior-treatment", "prior", multiple=True)
@click.option("--email")
@click.option("--language", type=click.Choice(["en", "fr"]), default="en", show_default=True)
@click.option("--enrolled-on", callback=_iso_day, metavar="YYYY-MM-DD",
              help="Back-date the enrollment (a local day of the study; not in the future).")
@click.option("--consent-method", type=click.Choice(["paper", "verbal", "electronic"]),
              help="How consent was obtained (then --consent-date is required).")
@click.option("--consent-date", callback=_iso_day, metavar="YYYY-MM-DD",
              help="The local day consent was given (not in the future).")
@click.option("--consent-version", metavar="LABEL", help="The consent version (default: the current one).")
@as_option
def patients_enroll(study_code: str, patient_codes: tuple[str, ...], sex: str | None, birth_year: int | None,
                    diagnosis: str | None, prior: tuple[str, ...], email: str | None, language: str,
                    enrolled_on: date | None, consent_method: str | None, consent_date: date | None,
                    consent_version: str | None, as_email: str | None) -> None:
    """Enroll patients and print each one's personal link (CODE<TAB>URL, a line each).

    With --enrolled-on, patients already in treatment are enrolled on that local day; record their
    earlier sessions with `sessions record` or `sessions import` (a missing baseline stays missing).
    With --consent-method and --consent-date, each patient's consent is recorded (audited).
    Nobody is enrolled when one code, or the consent, is refused.
    """
    from surveys.domain.consent import consent_given, record_consent
    from surveys.domain.links import patient_url

    who = cli_operator(as_email, roles=ENROLL)
    study = _study(study_code)
    lines = []
    try:
        with_consent = consent_given(consent_method, consent_date, consent_version)
        for code in patient_codes:
            patient, token = enroll_patient(
                db.session, study, code, actor=who, sex=sex, birth_year=birth_year,
                diagnosis=diagnosis, prior_treatments=prior, email=email, language=language,
                enrolled_on=enrolled_on,
            )
            if with_consent:
                record_consent(db.session, patient, method=consent_method or "", consented_on=consent_date,
                               version=consent_version, actor=who)
            lines.append(f"{code}\t{patient_url(current_app.config['BASE_URL'], token)}")
    except EnrollmentError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc} Nobody was enrolled.") from exc
    db.session.commit()
    click.echo("\n".join(lines))


@patients_cli.command("withdraw")
@click.argument("study_code")
@click.argument("patient_code")
@click.option("--on", "on", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Local date (study time zone) the patient left the study, YYYY-MM-DD.")
@click.option("--reason", required=True, type=click.Choice(WITHDRAWAL_REASONS))
@click.option("--note", default="", help="Why (required for --reason other).")
@as_option
def patients_withdraw(study_code: str, patient_code: str, on: datetime, reason: str, note: str,
                      as_email: str | None) -> None:
    """Withdraw a patient from a date for a reason: nothing more is asked, reminders stop."""
    from surveys.domain.participation import DISCARD_DATA, ParticipationError, withdraw_patient

    who = cli_operator(as_email, roles=ENROLL)
    patient = _patient_of(study_code, patient_code)
    try:
        withdraw_patient(db.session, patient, on=on.date(), reason=reason, note=note, actor=who)
    except ParticipationError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc} Nothing was changed.") from exc
    db.session.commit()
    click.echo(f"{patient_code} withdrawn from {on.date().isoformat()} ({reason}).")
    if reason == DISCARD_DATA:
        click.echo("The data already collected are withheld from exports and dashboards until erased: flask "
                   f"--app app patients erase {study_code} {patient_code} --yes --reason consent_withdrawn")


@patients_cli.command("complete")
@click.option("--study", "study_code", help="Only this study (default: every study).")
@as_option
def patients_complete(study_code: str | None, as_email: str | None) -> None:
    """Mark completed every active patient whose last questionnaire window has closed.

    Meant for cron (daily); idempotent and safe to re-run. Prints one line per patient marked,
    with the local date of the last open day of their last window.
    """
    from surveys.domain.participation import complete_finished

    who = cli_operator(as_email)
    study = None
    if study_code:
        study = db.session.scalar(select(Study).where(Study.code == study_code))
        if study is None:
            raise click.ClickException(f"No study with code {study_code}.")
    done = complete_finished(db.session, study=study, actor=who)
    db.session.commit()
    for patient in done:
        click.echo(f"{patient.study.code}\t{patient.code}\tcompleted {patient.status_on}")
    click.echo(f"{len(done)} patient(s) marked completed.", err=True)


@patients_cli.command("erase")
@click.argument("study_code")
@click.argument("patient_code")
@click.option("--reason", type=click.Choice(ERASURE_REASONS),
              help="Default: consent_withdrawn for a patient withdrawn with consent_withdrawn_discard_data, "
                   "else data_subject_request.")
@click.option("--yes", is_flag=True, help="Confirm: this cannot be undone.")
@as_option
def patients_erase(study_code: str, patient_code: str, reason: str | None, yes: bool,
                   as_email: str | None) -> None:
    """Right to erasure: delete a patient's answers, scores, alerts, sessions, links and contact details.

    Keeps a tombstone (code, enrollment and erasure dates, reason) and an audit entry. Backups
    taken before keep the data until they expire. Refuses to run without --yes, and for an
    account named with --as that is not an administrator (as the web does).
    """
    from surveys.domain.erasure import (
        DEFAULT_ERASURE_REASON,
        ErasureError,
        erase_patient,
        suggested_erasure_reason,
    )

    if not yes:
        raise click.UsageError("Erasure cannot be undone: add --yes to confirm.")
    who = cli_operator(as_email, roles=())  # administrators only, as on the web
    patient = _patient_of(study_code, patient_code)
    reason = reason or suggested_erasure_reason(patient) or DEFAULT_ERASURE_REASON
    try:
        report = erase_patient(db.session, patient, reason=reason, actor=who)
    except ErasureError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    rows = ", ".join(f"{table} {count}" for table, count in sorted(report.deleted.items())) or "none"
    click.echo(f"Erased {patient_code} in {study_code} (rows deleted: {rows}); a tombstone remains.")


def _patient_of(study_code: str, patient_code: str) -> Patient:
    patient = db.session.scalar(select(Patient).join(Study).where(Study.code == study_code,
                                                                 Patient.code == patient_code))
    if patient is None:
        raise click.ClickException(f"No patient {patient_code} in a study with code {study_code}.")
    return patient


F = TypeVar("F", bound=Callable[..., object])


def _setting_option(name: str, help_text: str, **kwargs: object) -> Callable[[F], F]:
    return click.option("--" + name.replace("_", "-"), name, default=None, help=help_text, **kwargs)


@studies_cli.command("set")
@click.argument("study_code")
@_setting_option("name", "The study's name.")
@_setting_option("contact", "Clinic contact shown to patients (free text; '' empties it).")
@_setting_option("clinic_phone", "The clinic's telephone ('' empties it).")
@_setting_option("oncall_email", "On-call e-mail for level 2-3 alerts (cannot be emptied once set).")
@_setting_option("backup_oncall_email", "Backup on-call e-mail ('' empties it).")
@_setting_option("emergency_number", "The emergency number shown to patients, e.g. 15 or 112.")
@_setting_option("emergency_country", "ISO 3166 two-letter country of the emergency number, e.g. FR.")
@_setting_option("timezone", "IANA time zone of the study, e.g. Europe/Paris.")
@_setting_option("default_language", "Default patient language.", type=click.Choice(["en", "fr"]))
@_setting_option("show_scores_to_patients", "Whether patients see their own scores.", type=click.BOOL)
@_setting_option("reminder_start_hour", "First local hour reminders may be sent (0-23).", type=int)
@_setting_option("reminder_end_hour", "Local hour reminders stop (1-24, not included).", type=int)
@_setting_option("renotify_level3_minutes", "Minutes before an uncontacted level-3 alert is re-notified.",
                 type=int)
@_setting_option("clinic_day_end_hour", "Local hour that ends the clinic's day (1-24).", type=int)
@_setting_option("consent_required", "No questionnaire opens without a valid consent record.",
                 type=click.BOOL)
@_setting_option("consent_on_phone", "Patients accept the consent text on their device before answering.",
                 type=click.BOOL)
@as_option
def studies_set(study_code: str, as_email: str | None, **options: object) -> None:
    """Change a study's settings, validated like the settings page; audited with old and new values.

    Only the options given change. Exits non-zero with the reasons, changing nothing, when any
    value is refused. Prints one line per changed setting (old -> new).
    """
    from surveys.domain.study_settings import SettingsError, update_settings

    who = cli_operator(as_email, roles=("coordinator",))  # as the settings page
    study = db.session.scalar(select(Study).where(Study.code == study_code))
    if study is None:
        raise click.ClickException(f"No study with code {study_code}.")
    values = {name: value for name, value in options.items() if value is not None}
    if not values:
        raise click.UsageError("Give at least one setting to change (see --help).")
    try:
        changes = update_settings(db.session, study, values, actor=who)
    except SettingsError as exc:
        db.session.rollback()
        reasons = "\n".join(f"  --{name.replace('_', '-')}: {text}" for name, text in exc.problems.items())
        raise click.ClickException(f"Nothing was changed:\n{reasons}") from exc
    db.session.commit()
    if not changes:
        click.echo("Nothing changed: every setting was already as given.")
    for change in changes:
        click.echo(f"{change.name}: {change.old!r} -> {change.new!r}")


@studies_cli.command("consent-add")
@click.argument("study_code")
@click.argument("version")
@click.option("--en", "text_en", type=click.File("r", encoding="utf-8"), required=True,
              help="File holding the consent text in English.")
@click.option("--fr", "text_fr", type=click.File("r", encoding="utf-8"), required=True,
              help="File holding the consent text in French.")
@click.option("--reconsent", is_flag=True,
              help="Patients consented to an earlier version must consent again.")
@as_option
def studies_consent_add(study_code: str, version: str, text_en: TextIO, text_fr: TextIO, reconsent: bool,
                        as_email: str | None) -> None:
    """Add a consent version (English and French text, read from files) to a study; it becomes current.

    Audited like the page's. Exits non-zero, adding nothing, when the label is taken or a text is empty.
    """
    from surveys.domain.consent import ConsentError, add_version

    who = cli_operator(as_email, roles=("coordinator",))  # as the consent page
    study = _study(study_code)
    try:
        add_version(db.session, study, version, text_en.read(), text_fr.read(), requires_reconsent=reconsent,
                    actor=who)
    except ConsentError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc} Nothing was added.") from exc
    db.session.commit()
    click.echo(f"Consent version {version.strip()} added to {study.code}"
               + (" (patients will be asked to consent again)." if reconsent else "."))


@studies_cli.command("amend")
@click.argument("study_code")
@click.argument("protocol_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason", default="", help="Why the protocol is amended (required unless --dry-run).")
@click.option("--dry-run", is_flag=True, help="Check and show the difference; store nothing.")
@as_option
def studies_amend(study_code: str, protocol_file: Path, reason: str, dry_run: bool,
                  as_email: str | None) -> None:
    """Amend a study's protocol with a new version read from a JSON file (a protocol amendment).

    Prints the difference against the current version and its impact on patients. With --dry-run
    nothing is stored; otherwise the amendment is applied with --reason and audited. Exits
    non-zero, storing nothing, when the file is refused.
    """
    from surveys.domain.amendments import AmendmentError, apply_amendment, check_amendment, read_protocol_json
    from surveys.infra.library import instruments

    who = None if dry_run else cli_operator(as_email, roles=("coordinator",))  # as the Protocol page
    study = _study(study_code)
    try:
        data = read_protocol_json(protocol_file.read_bytes())
        if dry_run:
            checked = check_amendment(db.session, study, data, instruments())
        else:
            if not reason.strip():
                raise click.UsageError("Give the reason for the amendment with --reason (or use --dry-run).")
            checked = apply_amendment(db.session, study, data, instruments(), reason=reason, actor=who or "")
    except AmendmentError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc} Nothing was stored.") from exc
    for line in _amendment_lines(checked):
        click.echo(line)
    for warning in checked.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if dry_run:
        db.session.rollback()
        click.echo("Nothing was stored (--dry-run).")
        return
    db.session.commit()
    click.echo(f"Amendment applied: {study.code} now follows protocol version {checked.protocol.version}.")


def _amendment_lines(checked: Any) -> list[str]:
    """The difference and the impact of a checked amendment, as lines for the terminal."""
    from surveys.domain.amendments import offset_text

    diff, impact = checked.difference, checked.impact

    def window(tp: Any) -> str:
        offsets = ", ".join(f"{name} {offset_text(getattr(tp, name))}" for name in ("opens", "due", "overdue",
                                                                                   "closes"))
        asked = ", ".join(e.instrument + (f"/{e.section}" if e.section else "") for e in tp.instruments)
        return f"{tp.id} ({tp.label.get('en', '')}): from {tp.anchor}, {offsets}; {asked}"

    def value(item: Any) -> str:
        return offset_text(item) if isinstance(item, timedelta) else str(item)

    lines = [f"Protocol {checked.protocol.id}: {diff.old_version} -> {diff.new_version}"]
    lines += [f"  + {window(tp)}" for tp in diff.added]
    lines += [f"  - {window(tp)}" for tp in diff.removed]
    for change in diff.changed:
        parts = [f"{f.name} {value(f.old)} -> {value(f.new)}" for f in change.fields]
        for key, label in (("instruments_added", "instruments added"),
                           ("instruments_removed", "instruments removed"),
                           ("instruments_changed", "asked under other conditions")):
            if getattr(change, key):
                parts.append(f"{label}: {', '.join(getattr(change, key))}")
        lines.append(f"  ~ {change.id}: {'; '.join(parts)}")
    lines += [f"  study {f.name}: {value(f.old)} -> {value(f.new)}" for f in diff.study_fields]
    lines.append(
        f"Patients: {impact.patients} concerned; {impact.open_now} get a window open now, "
        f"{impact.to_come} one still to come; {impact.closes_now} lose something they could answer now; "
        f"windows move for {impact.moved}; {len(impact.reactivated)} completed patient(s) become active again"
        + (f" ({', '.join(impact.reactivated)})" if impact.reactivated else "") + ".")
    for kind, words in (("open_now", "get a window open now"), ("to_come", "get a window still to come"),
                        ("moved", "have a window whose dates move"),
                        ("closes_now", "lose something they could answer now"),
                        ("kept", "keep responses under the old version")):
        if impact.who.get(kind):
            lines.append(f"  {words}: {', '.join(impact.who[kind])}")
    if impact.kept_responses or impact.extensions_dropped:
        lines.append(f"Kept under version {diff.old_version}: {impact.kept_responses} response(s) of "
                     f"{impact.kept_patients} patient(s) at removed timepoints or instruments "
                     f"({impact.in_progress_dropped} still in progress, no longer asked); "
                     f"{impact.extensions_dropped} window extension(s) at removed timepoints no longer "
                     "apply.")
    return lines


@sessions_cli.command("record")
@click.argument("study_code")
@click.argument("patient_code")
@click.option("--number", required=True, type=click.IntRange(1, 100), help="Session number (1, 2, ...).")
@click.option("--date", "day", required=True, callback=_iso_day, metavar="YYYY-MM-DD",
              help="The session's local calendar day in the study's time zone.")
@click.option("--agents", default="", help="Agents / formulation (at most 200 characters).")
@click.option("--notes", default="", help="Notes (at most 5000 characters).")
@click.option("--planned", is_flag=True, help="Planned ahead (today or later), not done yet.")
@click.option("--pregnant", type=click.Choice(["yes", "no"]),
              help="Pre-session pregnancy check (a 5-ARI session of a patient not recorded as male).")
@click.option("--breastfeeding", type=click.Choice(["yes", "no"]), help="Pre-session pregnancy check.")
@click.option("--trying-to-conceive", type=click.Choice(["yes", "no"]), help="Pre-session pregnancy check.")
@as_option
def sessions_record(study_code: str, patient_code: str, number: int, day: date, agents: str, notes: str,
                    planned: bool, pregnant: str | None, breastfeeding: str | None,
                    trying_to_conceive: str | None, as_email: str | None) -> None:
    """Record, correct or plan one treatment session of a patient; the windows follow it.

    A session whose agents hold dutasteride or finasteride, for a patient not recorded as male, needs the
    pre-session pregnancy check: `--pregnant no --breastfeeding no --trying-to-conceive no`; any
    "yes" refuses it. Prints what was stored, and a warning (on standard error) when the patient's
    baseline is still unanswered or missing. Exits non-zero with the reason, storing nothing, on bad
    input.
    """
    from surveys.domain.flow import patient_windows, response_states
    from surveys.domain.models import Patient
    from surveys.domain.patients import baseline_window, record_session, study_protocol
    from surveys.domain.pregnancy_check import check_from_answers

    who = cli_operator(as_email, roles=ENROLL)
    study = _study(study_code)
    patient = db.session.scalar(
        select(Patient).where(Patient.study_id == study.id, Patient.code == patient_code)
    )
    if patient is None:
        raise click.ClickException(f"No patient {patient_code} in {study.code}.")
    try:
        check = check_from_answers(*(None if a is None else a == "yes"
                                     for a in (pregnant, breastfeeding, trying_to_conceive)))
        treatment = record_session(db.session, patient, actor=who, number=number, day=day,
                                   agents=agents.strip(), notes=notes.strip(), planned=planned,
                                   pregnancy_check=check)
    except ValueError as exc:  # EnrollmentError, or a partial check
        db.session.rollback()
        raise click.ClickException(f"{exc} Nothing was stored.") from exc
    db.session.commit()
    state = "planned" if treatment.planned else "recorded"
    click.echo("\t".join((study.code, patient.code, f"session {treatment.number}",
                          treatment.date.isoformat(), state)))
    states = response_states(db.session, patient)
    baseline = baseline_window(patient_windows(patient, study_protocol(study), states))
    if baseline is not None and baseline.answerable:
        click.echo(f"Warning: {patient.code} has not answered the baseline ({baseline.timepoint}); it stays "
                   "open until the end of the first session's day. Offer the clinic tablet.", err=True)
    elif baseline is not None and baseline.state == "closed":
        click.echo(f"Warning: {patient.code} has no baseline ({baseline.timepoint}): shown as missing.",
                   err=True)


@sessions_cli.command("import")
@click.argument("study_code")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@as_option
def sessions_import(study_code: str, csv_file: Path, as_email: str | None) -> None:
    """Import a clinic's treatment log (CSV: patient,number,date[,agents][,notes][,planned]
    [,pregnant,breastfeeding,trying_to_conceive]).

    A header line names the columns (any order; `,` or `;` separated; UTF-8). Dates are
    YYYY-MM-DD local days; `planned` is yes/no (blank: no). A 5-ARI session (dutasteride,
    finasteride) of a patient not recorded as male needs the pre-session pregnancy check in the last three
    columns (yes/no); any "yes" refuses the row. All or nothing: when a row is bad,
    every bad row is reported with its line number and nothing of the file is stored. Rows equal
    to what is stored already change nothing, so importing a file twice is harmless.
    """
    who = cli_operator(as_email, roles=ENROLL)
    study = _study(study_code)
    try:
        summary = import_sessions(db.session, study, csv_file.read_bytes(), actor=who)
    except SessionImportError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc}\nNothing of {csv_file.name} was stored.") from exc
    db.session.commit()
    click.echo(f"{summary.created} session(s) created, {summary.updated} updated, "
               f"{summary.unchanged} unchanged ({summary.rows} row(s) of {csv_file.name}).")


def register(app: Flask) -> None:
    """Attach the commands to the app's CLI."""
    from surveys.domain.reminders import reminders_cli
    from surveys.infra.backup import backup_command, restore_command
    from surveys.staff import cli as staff_cli

    for command in (db_cli, demo_command, users_cli, patients_cli, studies_cli, sessions_cli,
                    backup_command, restore_command):
        app.cli.add_command(command)
    app.cli.add_command(reminders_cli)  # flask reminders send
    app.cli.add_command(alerts_cli)  # flask alerts notify|escalate
    staff_cli.register(app)  # flask audit verify


alerts_cli = AppGroup("alerts", help="Safety alert notices to on-call: delivery and re-notification.")


def _when(value: str | None) -> datetime:
    """`--now` as an aware UTC time (ISO 8601; a naive value is taken as UTC); the clock when absent."""
    if not value:
        return utcnow()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 time: {value}") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@alerts_cli.command("notify")
def alerts_notify() -> None:
    """Send every owed alert notice once (safe from cron every minute and when runs overlap).

    Prints "N sent, M failed"; exits 1 when a notice could not be sent (it stays owed and the next
    run tries again).
    """
    from surveys.domain.notices import deliver_notices

    report = deliver_notices(db.session, current_app.config["BASE_URL"])
    click.echo(f"{report.sent} sent, {report.failed} failed")
    for error in report.errors:
        click.echo(error, err=True)
    if report.failed:
        raise SystemExit(1)


@alerts_cli.command("escalate")
@click.option("--now", "now_text", metavar="ISO-TIME", help="Evaluate at this UTC time instead of the clock "
              "(to replay a missed run or test a delay).")
def alerts_escalate(now_text: str | None) -> None:
    """Re-notify on-call and backup for open alerts nobody has tried to contact (level 3 after
    Study.renotify_level3_minutes, level 2 at the end of the clinic's day); once per step, safe when
    runs overlap. Prints "N reminders owed, S sent, F failed"; exits 1 when a reminder could not be sent.
    """
    from surveys.domain.escalation import owe_reminders
    from surveys.domain.notices import deliver_notices

    now = _when(now_text)
    owed = owe_reminders(db.session, now)
    db.session.commit()
    report = deliver_notices(db.session, current_app.config["BASE_URL"], owed, now=now)
    click.echo(f"{len(owed)} reminders owed, {report.sent} sent, {report.failed} failed")
    for error in report.errors:
        click.echo(error, err=True)
    if report.failed:
        raise SystemExit(1)
