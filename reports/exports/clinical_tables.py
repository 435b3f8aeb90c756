"""Row generators of the clinical tables: patients, treatment sessions, prior treatments, alerts.

Each yields plain values in the columns `reports.exports.codebook` declares for its file, in
the order of the file's primary key, and names patients as every other file of the export does
(`patient_labeller`), so the files join on `patient`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reports.exports.codebook import ExportContext
from reports.exports.deidentify import age_band, days_between
from reports.exports.tables import (
    RowCount,
    patient_facts,
    patient_labeller,
    response_filter,
    utc_day,
    utc_text,
)
from surveys.domain.models import (
    Alert,
    AlertNotice,
    AlertResolution,
    Patient,
    Response,
    Study,
    TreatmentSession,
)


def patients_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """patients.csv: every patient of the study, with background facts."""
    facts = patient_facts(session, ctx)
    patient = patient_labeller(ctx, facts)
    for pid, info in facts.items():
        if ctx.deidentified:
            row = [patient(pid), info.sex, age_band(info.birth_year, info.enrolled_on), info.diagnosis]
        else:
            row = [patient(pid), info.sex, info.birth_year, info.diagnosis, info.enrolled_on.isoformat()]
        row.append(len(info.prior_treatments))
        count.rows += 1
        yield row


def _folded(text: str) -> str:
    """Text compared without case, accents or spaces: 'Vitamines+HA ' ~ 'vitamines + ha'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", "", bare)


def formulation_matcher(study: Study) -> dict[str, str]:
    """Folded id and labels (every language) of each formulation in the study's list -> its id."""
    known: dict[str, str] = {}
    for entry in study.protocol.get("formulations", []):
        for name in (entry["id"], *entry.get("label", {}).values(), *entry.get("aliases", ())):
            known[_folded(name)] = entry["id"]
    return known


def sessions_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """sessions.csv: one row per treatment session, formulation mapped onto the study's list.

    What staff typed ("agents") is matched against the study's formulations ignoring case,
    accents and spaces, so "Vitamins+Hyaluronic acid" and "vitamins + hyaluronic acid" are one
    group; text that matches none gets an empty `formulation` (never a group of its own).
    Sessions only planned ahead (issue 18) are not treatments given yet: they are left out.
    """
    facts = patient_facts(session, ctx)
    patient = patient_labeller(ctx, facts)
    known = formulation_matcher(ctx.study)
    rows = session.execute(
        select(TreatmentSession.patient_id, TreatmentSession.number, TreatmentSession.date,
               TreatmentSession.agents, TreatmentSession.notes)
        .join(Patient, Patient.id == TreatmentSession.patient_id)
        .where(Patient.study_id == ctx.study.id, TreatmentSession.planned.is_(False),
               *([Patient.id == ctx.patient_id] if ctx.patient_id is not None else []))
        .order_by(TreatmentSession.patient_id, TreatmentSession.number))
    for pid, number, day, agents, notes in rows:
        formulation = known.get(_folded(agents or "")) if agents else None
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
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / 3600, 2)


# The alert lifecycle (issue 13): "notified" is the first on-call notice sent, "acknowledged" the
# resolution in force and "action" its note (columns kept under their former names for now).
_FIRST_NOTICE_SENT = (select(func.min(AlertNotice.sent_at)).where(AlertNotice.alert_id == Alert.id)
                      .correlate(Alert).scalar_subquery())
_RESOLUTION_NOTE = (select(AlertResolution.note).where(AlertResolution.alert_id == Alert.id,
                                                       Alert.state == "resolved")
                    .order_by(AlertResolution.id.desc()).limit(1).correlate(Alert).scalar_subquery())


def alerts_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """alerts.csv: one row per alert raised by a submitted response of the export's instruments.

    The export's timepoint, instrument and date filters apply to the response that raised it.
    """

    facts = patient_facts(session, ctx)
    patient = patient_labeller(ctx, facts)
    stmt = response_filter(
        select(Alert.patient_id, Response.timepoint, Response.instrument_id, Alert.level, Alert.reasons,
               Alert.created_at, _FIRST_NOTICE_SENT, Alert.resolved_at, _RESOLUTION_NOTE)
        .select_from(Response).join(Alert, Alert.response_id == Response.id), ctx,
    ).order_by(Alert.patient_id, Response.timepoint, Response.instrument_id)
    for pid, timepoint, inst, level, reasons, raised, notified, acknowledged, action in session.execute(stmt):
        days = days_between(facts[pid].first_session, utc_day(raised))
        row = [patient(pid), timepoint, days, inst, level, ";".join(reasons or []) or None,
               _hours(raised, acknowledged)]
        if not ctx.deidentified:
            row += [utc_text(raised), utc_text(notified), utc_text(acknowledged), action or None]
        count.rows += 1
        yield row
