"""Row generators of the CSV exports, streamed from the database (server-side cursors).

Answers and scores are read with `yield_per` (a server-side cursor on PostgreSQL, SQLite's
own incremental cursor), so memory holds one batch of rows, not the export. Per-patient facts
(code, first session, background) are read first into a small dict: its size grows with the
number of patients, never with the number of answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import Select, String, and_, select, type_coerce
from sqlalchemy.orm import Session

from instruments import Instrument
from reports.codebook import ExportContext, long_variables, scores_variables, wide_variables
from reports.deidentify import Pseudonyms, age_band, days_between
from reports.export_options import session_timepoints
from surveys.models import Answer, Patient, Response, Score, TreatmentSession

BATCH = 5000  # rows per database fetch
PATIENT_BATCH = 500  # patients per wide.csv block


@dataclass
class PatientFacts:
    """What the exports need about a patient, read once per export."""

    code: str
    first_session: date | None
    sex: str | None
    birth_year: int | None
    diagnosis: str | None
    prior_treatments: list[Any]
    enrolled_on: date


class RowCount:
    """Counts the rows an export wrote (known only when the stream ends)."""

    def __init__(self) -> None:
        self.rows = 0


def utc_text(value: str | datetime | None) -> str | None:
    """A stored timestamp as ISO 8601 UTC to the second, e.g. 2026-03-01T08:15:02Z.

    On SQLite the value is selected as stored text (SQLAlchemy's format 'YYYY-MM-DD HH:MM:SS.ffffff'):
    slicing it is several times faster than parsing a datetime per answer.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return f"{value[:10]}T{value[11:19]}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_day(value: str | datetime | None) -> date | None:
    """The UTC date of a stored timestamp (text on SQLite, naive UTC datetime elsewhere)."""
    if value is None:
        return None
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value.date()


def _raw(column: Any) -> Any:
    return type_coerce(column, String())


def patient_facts(session: Session, ctx: ExportContext) -> dict[int, PatientFacts]:
    """Every patient of the study with the date of their first treatment session."""
    rows = session.execute(
        select(Patient.id, Patient.code, TreatmentSession.date, Patient.sex, Patient.birth_year,
               Patient.diagnosis, Patient.prior_treatments, Patient.enrolled_at)
        .outerjoin(TreatmentSession, and_(TreatmentSession.patient_id == Patient.id,
                                          TreatmentSession.number == 1))
        .where(Patient.study_id == ctx.study.id)
        .order_by(Patient.id)
    )
    return {pid: PatientFacts(code, first, sex, birth, diagnosis, list(prior or []), enrolled.date())
            for pid, code, first, sex, birth, diagnosis, prior, enrolled in rows}


def _filtered(stmt: Select[Any], ctx: ExportContext) -> Select[Any]:
    """Restrict a statement over Response to the study, submitted responses and the export's filters."""
    opts = ctx.options
    stmt = stmt.join(Patient, Patient.id == Response.patient_id).where(
        Patient.study_id == ctx.study.id,
        Response.status == "submitted",
        Response.instrument_id.in_([i.id for i in ctx.instruments]),
    )
    if opts.timepoints:
        stmt = stmt.where(Response.timepoint.in_(session_timepoints(opts.timepoints)))
    if opts.date_from:
        stmt = stmt.where(Response.submitted_at >= datetime.combine(opts.date_from, time(), UTC))
    if opts.date_to:
        end = datetime.combine(opts.date_to + timedelta(days=1), time(), UTC)
        stmt = stmt.where(Response.submitted_at < end)
    return stmt


def _patient_label(ctx: ExportContext, facts: dict[int, PatientFacts]) -> Any:
    if ctx.deidentified:
        return Pseudonyms()
    return lambda pid: facts[pid].code


def _labels(instruments: Iterable[Instrument], lang: str) -> dict[str, dict[tuple[str, int], str]]:
    return {inst.id: {(item.id, o.code): o.labels.get(lang, str(o.code))
                      for item in inst.items for o in item.options}
            for inst in instruments}


def long_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """long.csv: one row per answer."""
    facts = patient_facts(session, ctx)
    patient = _patient_label(ctx, facts)
    labels = _labels(ctx.instruments, ctx.options.lang)
    identified = not ctx.deidentified
    stmt = _filtered(
        select(Response.id, Response.patient_id, Response.timepoint, Response.instrument_id,
               Response.instrument_version, Response.language, _raw(Response.submitted_at),
               Answer.item_id, Answer.code, Answer.text, _raw(Answer.answered_at))
        .join(Answer, Answer.response_id == Response.id),
        ctx,
    ).order_by(Response.patient_id, Response.submitted_at, Response.id, Answer.item_id)
    last_rid, prefix, item_labels = None, [], {}
    rows = session.execute(stmt.execution_options(yield_per=BATCH))
    for rid, pid, timepoint, inst, version, lang, submitted, item, code, text, answered in rows:
        if rid != last_rid:
            last_rid = rid
            days = days_between(facts[pid].first_session, utc_day(submitted))
            prefix = [patient(pid), timepoint, days, inst, version, lang]
            item_labels = labels.get(inst, {})
        if code is None:
            if not identified:
                continue  # free text is left out of de-identified exports
            out = [*prefix, item, None, None, text, utc_text(answered)]
        elif identified:
            out = [*prefix, item, code, item_labels.get((item, code)), None, utc_text(answered)]
        else:
            out = [*prefix, item, code, item_labels.get((item, code))]
        count.rows += 1
        yield out


def scores_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """scores.csv: one row per response, its scales in the columns of its instrument."""
    facts = patient_facts(session, ctx)
    patient = _patient_label(ctx, facts)
    columns = {v.name: i for i, v in enumerate(scores_variables(ctx))}
    width = len(columns)
    stmt = _filtered(
        select(Response.id, Response.patient_id, Response.timepoint, Response.instrument_id,
               Response.instrument_version, Response.language, _raw(Response.submitted_at),
               Response.score_status, Response.flags, Score.scale, Score.value, Score.band,
               Score.scoring_version)
        .outerjoin(Score, Score.response_id == Response.id),
        ctx,
    ).order_by(Response.patient_id, Response.submitted_at, Response.id, Score.scale)
    rows = session.execute(stmt.execution_options(yield_per=BATCH))
    for _rid, group in groupby(rows, key=lambda r: r[0]):
        first = next(group)
        _, pid, timepoint, inst, version, lang, submitted, status, flags, *_score = first
        row: list[Any] = [None] * width
        row[:9] = [patient(pid), timepoint, days_between(facts[pid].first_session, utc_day(submitted)),
                   inst, version, lang, status, None, ";".join(flags or [])]
        if not ctx.deidentified:
            row[columns["submitted_at"]] = utc_text(submitted)
        for *_, scale, value, band, scoring_version in (first, *group):
            if scale is None:
                continue
            row[7] = scoring_version
            index = columns.get(f"{inst}_{scale}_score")
            if index is not None:
                row[index] = value
            band_index = columns.get(f"{inst}_{scale}_band")
            if band_index is not None:
                row[band_index] = band
        count.rows += 1
        yield row


def wide_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """wide.csv: one row per patient and timepoint, item and score columns per instrument."""
    facts = patient_facts(session, ctx)
    patient = _patient_label(ctx, facts)
    variables = wide_variables(ctx)
    columns = {v.name: i for i, v in enumerate(variables)}
    labels = _labels(ctx.instruments, ctx.options.lang) if ctx.options.values == "labels" else None
    ids = list(facts)
    for start in range(0, len(ids), PATIENT_BATCH):
        block = ids[start:start + PATIENT_BATCH]
        cells: dict[tuple[int, str], list[Any]] = {}
        first_day: dict[tuple[int, str], date] = {}

        def row_of(pid: int, timepoint: str, submitted: Any) -> list[Any]:
            key = (pid, timepoint)
            day = utc_day(submitted)
            if key not in cells:
                cells[key] = [None] * len(variables)
                first_day[key] = day
            elif day is not None and day < first_day[key]:
                first_day[key] = day
            return cells[key]

        answers = _filtered(
            select(Response.patient_id, Response.timepoint, _raw(Response.submitted_at), Response.instrument_id,
                   Response.score_status, Response.flags, Answer.item_id, Answer.code, Answer.text)
            .outerjoin(Answer, Answer.response_id == Response.id), ctx,
        ).where(Response.patient_id.in_(block)).order_by(Response.patient_id, Response.submitted_at)
        for pid, timepoint, submitted, inst, status, flags, item, code, text in session.execute(answers):
            row = row_of(pid, timepoint, submitted)
            row[columns[f"{inst}_status"]] = status
            row[columns[f"{inst}_flags"]] = ";".join(flags or [])
            index = columns.get(f"{inst}_{item}")
            if index is None:
                continue  # no answer (outer join), or a text item left out of a de-identified export
            if code is None:
                row[index] = text
            else:
                row[index] = labels[inst].get((item, code)) if labels is not None else code
        scores = _filtered(
            select(Response.patient_id, Response.timepoint, _raw(Response.submitted_at), Response.instrument_id,
                   Score.scale, Score.value, Score.band)
            .join(Score, Score.response_id == Response.id), ctx,
        ).where(Response.patient_id.in_(block))
        for pid, timepoint, submitted, inst, scale, value, band in session.execute(scores):
            row = row_of(pid, timepoint, submitted)
            if (index := columns.get(f"{inst}_{scale}_score")) is not None:
                row[index] = value
            if (index := columns.get(f"{inst}_{scale}_band")) is not None:
                row[index] = band
        for key in sorted(cells, key=lambda k: (k[0], first_day[k] or date.min, k[1])):
            pid, timepoint = key
            info = facts[pid]
            row = cells[key]
            row[0:3] = [patient(pid), timepoint, days_between(info.first_session, first_day[key])]
            row[columns["sex"]] = info.sex
            row[columns["diagnosis"]] = info.diagnosis
            if ctx.deidentified:
                row[columns["age_band"]] = age_band(info.birth_year, info.enrolled_on)
            else:
                row[columns["birth_year"]] = info.birth_year
                row[columns["prior_treatments"]] = ";".join(info.prior_treatments) or None
            count.rows += 1
            yield row


def header(variables: Iterable[Any]) -> list[str]:
    """Column names of a list of variables."""
    return [v.name for v in variables]


def long_header(ctx: ExportContext) -> list[str]:
    """Column names of long.csv."""
    return header(long_variables(ctx))
