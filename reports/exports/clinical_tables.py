"""Row generators of the clinical tables: patients, treatment sessions, prior treatments, alerts,
clinicians' stages.

Each yields plain values in the columns `reports.exports.codebook` declares for its file, in
the order of the file's primary key, and names patients as every other file of the export does
(`patient_labeller`), so the files join on `patient`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from instruments.scoring import round_half_up
from reports.exports.codebook import ExportContext, stage_instrument
from reports.exports.deidentify import age_band, days_between
from reports.exports.options import session_timepoints
from reports.exports.tables import (
    LocalDays,
    RowCount,
    latest_consents,
    participation_cells,
    patient_facts,
    patient_labeller,
    patient_scope,
    response_filter,
    utc_text,
)
from surveys.domain.clinician_stage import major_stage
from surveys.domain.formulations import folded, formulation_matcher, study_formulations
from surveys.domain.models import (
    Alert,
    AlertContactAttempt,
    AlertNotice,
    AlertResolution,
    ClinicianStage,
    Patient,
    Response,
    TreatmentSession,
)


def patients_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """patients.csv: every patient of the study, with background facts, their newest consent, their
    participation and, for an erased patient, the erasure's reason. A patient whose data are withheld
    or erased keeps a row: code, enrollment and participation (a tombstone: with its erasure reason)."""
    facts = patient_facts(session, ctx)
    consents = latest_consents(session, ctx)
    patient = patient_labeller(ctx, facts)
    for pid, info in facts.items():
        if ctx.deidentified:
            row = [patient(pid), info.sex, age_band(info.birth_year, info.enrolled_on), info.diagnosis]
        else:
            row = [patient(pid), info.sex, info.birth_year, info.diagnosis, info.enrolled_on.isoformat()]
        row.append(len(info.prior_treatments))
        version, on, method = consents.get(pid, (None, None, None))
        row += [version, days_between(info.first_session, on) if ctx.deidentified else on and on.isoformat(),
                method, *participation_cells(info, ctx), info.erasure_reason]
        count.rows += 1
        yield row


def sessions_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """sessions.csv: one row per treatment session, formulation mapped onto the study's list.

    What staff typed ("agents") is matched against the study's formulations ignoring case,
    accents and spaces, so "Vitamins+Hyaluronic acid" and "vitamins + hyaluronic acid" are one
    group; text that matches none gets an empty `formulation` (never a group of its own).
    Sessions only planned ahead (issue 18) are not treatments given yet: they are left out.
    """
    facts = patient_facts(session, ctx)
    patient = patient_labeller(ctx, facts)
    known = formulation_matcher(study_formulations(ctx.study))
    rows = session.execute(
        select(TreatmentSession.patient_id, TreatmentSession.number, TreatmentSession.date,
               TreatmentSession.agents, TreatmentSession.notes)
        .join(Patient, Patient.id == TreatmentSession.patient_id)
        .where(*patient_scope(ctx), TreatmentSession.planned.is_(False))
        .order_by(TreatmentSession.patient_id, TreatmentSession.number))
    for pid, number, day, agents, notes in rows:
        formulation = known.get(folded(agents)) if agents else None
        days = days_between(facts[pid].first_session, day)
        if ctx.deidentified:
            row = [patient(pid), number, days, formulation]
        else:
            row = [patient(pid), number, day.isoformat(), days, formulation, agents or None, notes or None]
        count.rows += 1
        yield row


def prior_treatments_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """prior_treatments.csv: one row per prior treatment typed by staff (identified exports only)."""
    if ctx.deidentified:
        return
    facts = patient_facts(session, ctx)
    patient = patient_labeller(ctx, facts)
    for pid, info in facts.items():
        for number, treatment in enumerate(info.prior_treatments, start=1):
            count.rows += 1
            yield [patient(pid), number, str(treatment)]


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    """Hours from start to end, rounded half up to 0.01 (as SPSS, Stata and spreadsheets round)."""
    if start is None or end is None:
        return None
    return round_half_up((end - start).total_seconds() / 3600, 2)


def alerts_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """alerts.csv: one row per alert raised by a submitted response of the export's instruments.

    The export's timepoint, instrument and date filters apply to the response that raised it, and
    protocol_version is the version that response was started under. The lifecycle columns (issue 13)
    come from the alert itself (state, first contact, current resolution time), the count of its contact
    attempts and of its reopened resolutions, and the resolution in force (the latest one, when the
    alert is resolved): outcome, CTCAE grade, relatedness, seriousness and, in identified exports only,
    its note.
    """
    facts = patient_facts(session, ctx)
    patient = patient_labeller(ctx, facts)
    first_notice = (select(func.min(AlertNotice.sent_at)).where(AlertNotice.alert_id == Alert.id)
                    .correlate(Alert).scalar_subquery())
    attempts = (select(func.count(AlertContactAttempt.id)).where(AlertContactAttempt.alert_id == Alert.id)
                .correlate(Alert).scalar_subquery())
    reopened = (select(func.count(AlertResolution.reopened_at)).where(AlertResolution.alert_id == Alert.id)
                .correlate(Alert).scalar_subquery())
    in_force = (select(func.max(AlertResolution.id)).where(AlertResolution.alert_id == Alert.id)
                .correlate(Alert).scalar_subquery())
    local_day = LocalDays(ctx.study.timezone)
    stmt = response_filter(
        select(Alert.patient_id, Response.timepoint, Response.instrument_id, Response.protocol_version,
               Alert.level, Alert.reasons,
               Alert.state, attempts, Alert.created_at, first_notice, Alert.first_contact_at,
               Alert.resolved_at, reopened, AlertResolution.outcome, AlertResolution.ctcae_grade,
               AlertResolution.relatedness, AlertResolution.serious, AlertResolution.note)
        .select_from(Response).join(Alert, Alert.response_id == Response.id)
        .outerjoin(AlertResolution, and_(AlertResolution.id == in_force, Alert.state == "resolved")), ctx,
    ).order_by(Alert.patient_id, Response.timepoint, Response.instrument_id)
    for (pid, timepoint, inst, protocol, level, reasons, state, tries, raised, notified, contacted, resolved,
         reopen_count, outcome, grade, related, serious, note) in session.execute(stmt):
        days = days_between(facts[pid].first_session, local_day(raised))
        row = [patient(pid), timepoint, days, inst, protocol, level, ";".join(reasons or []) or None,
               state, tries, _hours(raised, contacted), _hours(raised, resolved), outcome, grade, related,
               None if serious is None else int(serious), reopen_count]
        if not ctx.deidentified:
            row += [utc_text(raised), utc_text(notified), utc_text(contacted), utc_text(resolved),
                    note or None]
        count.rows += 1
        yield row


def clinician_stages_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """clinician_stages.csv: the clinician's own hair-loss stage per patient and timepoint (the export's
    timepoint filter applies; its instrument and date filters, which select responses, do not)."""
    facts = patient_facts(session, ctx)
    patient = patient_labeller(ctx, facts)
    stage = ClinicianStage
    stmt = (select(stage.patient_id, stage.timepoint, stage.scale, stage.code, stage.instrument_version,
                   stage.recorded_at)
            .join(Patient, Patient.id == ClinicianStage.patient_id)
            .where(*patient_scope(ctx))
            .order_by(ClinicianStage.patient_id, ClinicianStage.timepoint))
    if ctx.options.timepoints:
        stmt = stmt.where(ClinicianStage.timepoint.in_(session_timepoints(ctx.options.timepoints)))
    instrument = stage_instrument(ctx)
    for pid, timepoint, scale, code, version, recorded_at in session.execute(stmt):
        norwood = code if scale == "norwood" else None
        row = [patient(pid), timepoint, scale, norwood, major_stage(instrument, "norwood", norwood),
               code if scale == "sinclair" else None, version]
        if not ctx.deidentified:
            row.append(utc_text(recorded_at))
        count.rows += 1
        yield row
