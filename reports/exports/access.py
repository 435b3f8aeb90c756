"""A data subject's right of access (GDPR art. 15): one zip with everything held about one patient.

The archive holds `summary.html` (readable, in the patient's language: their record, participation,
treatment sessions, links, every questionnaire with its questions and answers, scores, safety
alerts with what the clinic did, reminders sent, and the audit trail's events about them),
`answers.csv` and `scores.csv` (the study's long.csv and scores.csv, identified, for this patient
only) and `questionnaire_responses.fhir.json` (a FHIR R4 Bundle of their QuestionnaireResponses).
Built from the same row generators as the study exports, restricted to one patient id, so nothing
of another patient can enter it. Used by `flask --app app patients access` and the admin button.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import click
from babel import Locale
from flask import render_template
from flask.cli import with_appcontext
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from instruments import Instrument, versions_of
from instruments.conditions import referenced_items
from reports.exports.codebook import ExportContext
from reports.exports.fhir import bundle_chunks
from reports.exports.files import csv_file
from reports.exports.options import ExportOptions, study_instruments
from reports.exports.tables import RowCount
from surveys.domain import consent
from surveys.domain.alerts import CHANNEL_LABELS, OUTCOME_LABELS, RESULT_LABELS
from surveys.domain.audit import record_after_reads
from surveys.domain.models import (
    Alert,
    AuditEvent,
    Patient,
    PatientLink,
    ReminderSent,
    Response,
    Study,
)
from surveys.domain.operators import as_option, cli_operator
from surveys.domain.protocol_history import protocol_versions
from surveys.domain.reminders import REMINDER_KIND_LABELS
from surveys.domain.responses import answered_in
from surveys.infra.db import db, utcnow

FILES = ("summary.html", "answers.csv", "scores.csv", "questionnaire_responses.fhir.json")


@dataclass(frozen=True, slots=True)
class AnswerLine:
    """One answer as the patient reads it: the question and the answer's label (or their text)."""

    item_id: str
    question: str
    answer: str
    code: int | None


def _answer_lines(response: Response, inst: Instrument | None, lang: str) -> list[AnswerLine]:
    lines = []
    for answer in sorted(response.answers, key=lambda a: a.id):
        item = inst.item(answer.item_id) if inst is not None and inst.has_item(answer.item_id) else None
        question = answer.item_id
        if item is not None:
            question = item.texts.get(lang) or next(iter(item.texts.values()), answer.item_id)
        if answer.code is None:
            shown = answer.text or ""
        else:
            option = next((o for o in item.options if o.code == answer.code), None) if item else None
            label = option.labels.get(lang) or next(iter(option.labels.values()), "") if option else ""
            shown = f"{label} ({answer.code})" if label else str(answer.code)
        lines.append(AnswerLine(answer.item_id, question, shown, answer.code))
    return lines


def _reason_text(inst: Instrument | None, rule_id: str, lang: str) -> str:
    """An alert rule said as the patient was asked it: the first question it reads (in questionnaire
    order), or the score it reads by its title; the rule id when the definition does not know it."""
    rule = next((r for r in inst.alert_rules if r["id"] == rule_id), None) if inst is not None else None
    if inst is None or rule is None:
        return rule_id
    read = referenced_items(rule["when"])
    item = next((i for i in inst.items if i.id in read), None)
    if item is not None:
        return item.texts.get(lang) or item.texts.get("en") or rule_id
    score = _first_score(rule["when"])
    return inst.score_title(score, lang) if score else rule_id


def _first_score(condition: Mapping[str, Any]) -> str | None:
    if "score" in condition:
        return str(condition["score"])
    parts = [*condition.get("all", ()), *condition.get("any", ())]
    if "not" in condition:
        parts.append(condition["not"])
    return next((found for part in parts if (found := _first_score(part))), None)


def _alert_reasons(alert: Alert, library: Mapping[str, Instrument], lang: str) -> list[str]:
    """The reasons an alert was raised, in the patient's words and language, each once."""
    response = alert.response
    inst = answered_in(library, response.instrument_id, response.instrument_version) if response else None
    return list(dict.fromkeys(_reason_text(inst, str(reason), lang) for reason in alert.reasons))


def _events(session: Session, patient: Patient) -> list[AuditEvent]:
    """The audit trail's events about the patient (their record, or naming their code in the study)."""
    found = []
    rows = session.scalars(select(AuditEvent).where(AuditEvent.study_id == patient.study_id)
                           .order_by(AuditEvent.id).execution_options(yield_per=1000))
    for event in rows:
        own = event.entity == "patient" and event.entity_id == str(patient.id)
        if own or (isinstance(event.details, dict) and event.details.get("patient") == patient.code):
            found.append(event)
    return found


def summary_html(session: Session, patient: Patient, library: Mapping[str, Instrument]) -> str:
    """The readable summary, in the patient's language (HTML, autoescaped)."""
    lang = patient.language
    responses = list(session.scalars(
        select(Response).where(Response.patient_id == patient.id)
        .options(selectinload(Response.answers), selectinload(Response.scores))
        .order_by(Response.started_at, Response.id)))
    alerts = list(session.scalars(select(Alert).where(Alert.patient_id == patient.id).order_by(Alert.id)
                                  .options(selectinload(Alert.attempts), selectinload(Alert.resolutions),
                                           selectinload(Alert.response))))
    links = list(session.scalars(select(PatientLink).where(PatientLink.patient_id == patient.id)
                                 .order_by(PatientLink.created_at)))
    reminders = list(session.scalars(select(ReminderSent).where(ReminderSent.patient_id == patient.id)
                                     .order_by(ReminderSent.sent_at)))
    history = protocol_versions(session, patient.study)
    parts = []
    for r in responses:  # each response read with the definition version it was answered in
        definition = answered_in(library, r.instrument_id, r.instrument_version)
        parts.append((r, definition, _answer_lines(r, definition, lang)))
    with force_locale(lang):
        return render_template(
            "exports/access_summary.html", patient=patient, study=patient.study, parts=parts, alerts=alerts,
            links=links, reminders=reminders, events=_events(session, patient), lang=lang,
            generated=utcnow(), library=library, channels=CHANNEL_LABELS, results=RESULT_LABELS,
            language_name=Locale.parse(lang).languages.get(lang, lang),  # "français", in its own words
            outcomes=OUTCOME_LABELS, consents=consent.patient_consents(session, patient.id),
            consent_labels=consent.method_labels(), reminder_kinds=REMINDER_KIND_LABELS,
            reminder_timepoint=lambda r: history.label(r.timepoint, lang),
            alert_reasons=lambda a: _alert_reasons(a, library, lang),
            # each timepoint named by the protocol version it was answered under (amendments remove some)
            timepoint_label=lambda r: f"{history.label(r.timepoint, lang, r.protocol_version)} "
                                      f"({r.timepoint})",
        )


def access_archive(session: Session, patient: Patient, library: Mapping[str, Instrument], *,
                   actor: str, via: str) -> bytes:
    """The zip of everything held about `patient` (see the module docstring); audits the access.

    Out: the zip's bytes (a patient holds at most a few thousand answers). Records a
    `patient.access` event after the reads (`record_after_reads`: the session's read transaction is
    ended first; the event is flushed, the caller commits).
    """
    study = patient.study
    options = ExportOptions(format="long", lang=patient.language)
    covered = tuple(study_instruments(study, library))
    ctx = ExportContext(study=study, options=options, instruments=covered, patient_id=patient.id,
                        subject_access=True, versions={i.id: versions_of(library, i.id) for i in covered})
    counts = {name: RowCount() for name in ("answers", "scores", "fhir")}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("summary.html", summary_html(session, patient, library))
        archive.writestr("answers.csv", b"".join(csv_file("long.csv", session, ctx, counts["answers"])))
        archive.writestr("scores.csv", b"".join(csv_file("scores.csv", session, ctx, counts["scores"])))
        fhir_ctx = replace(ctx, options=replace(options, format="fhir"))
        archive.writestr("questionnaire_responses.fhir.json",
                         b"".join(bundle_chunks(session, fhir_ctx, counts["fhir"])))
    record_after_reads(session, actor, "patient.access", entity="patient", entity_id=patient.id,
                       study_id=study.id, details={"patient": patient.code, "via": via,
                                                   "answers": counts["answers"].rows,
                                                   "responses": counts["fhir"].rows})
    return buffer.getvalue()


def archive_name(patient: Patient, now: datetime | None = None) -> str:
    """The zip's file name: study, patient code and UTC date."""
    day = (now or utcnow()).strftime("%Y%m%d")
    return f"access-{patient.study.code}-{patient.code}-{day}.zip"


@click.command("access")
@click.argument("study_code")
@click.argument("patient_code")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Where to write the zip.")
@as_option
@with_appcontext
def access_command(study_code: str, patient_code: str, out: str, as_email: str | None) -> None:
    """Right of access: write one zip with everything held about a patient (summary, CSV, FHIR)."""
    from pathlib import Path

    from surveys.infra.library import instruments

    who = cli_operator(as_email, roles=())  # administrators only, as on the web
    patient = db.session.scalar(select(Patient).join(Study).where(Study.code == study_code,
                                                                 Patient.code == patient_code))
    if patient is None:
        raise click.ClickException(f"No patient {patient_code} in a study with code {study_code}.")
    data = access_archive(db.session, patient, instruments(), actor=who, via="cli")
    target = Path(out)
    # Personal data: created readable by its owner only (no window with wider permissions).
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    db.session.commit()
    click.echo(f"Wrote {target} ({len(data)} bytes).")


def register_cli(patients_group: Any) -> None:
    """Add `access` to the collection side's `patients` command group."""
    patients_group.add_command(access_command)
