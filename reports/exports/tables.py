"""Row generators of the CSV exports, streamed from the database (server-side cursors).

Answers and scores are read with `yield_per` (a server-side cursor on PostgreSQL, SQLite's
own incremental cursor), so memory holds one batch of rows, not the export. Per-patient facts
(code, first session, background) are read first into a small dict: its size grows with the
number of patients, never with the number of answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import chain, groupby
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, String, and_, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from instruments import Instrument
from reports.exports.codebook import ExportContext, Variable, scores_variables, wide_variables
from reports.exports.csv_cells import TextCells, dialect_of, text_cell
from reports.exports.deidentify import age_band, days_between
from reports.exports.options import session_timepoints
from surveys.domain.models import (
    Answer,
    ConsentRecord,
    ConsentVersion,
    Patient,
    Response,
    Score,
    TreatmentSession,
)
from surveys.domain.participation import DISCARD_DATA, data_analysable
from surveys.domain.patients import local_day_start

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
    status: str = "active"
    status_on: date | None = None
    withdrawal_reason: str | None = None
    erasure_reason: str | None = None


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


class LocalDays:
    """The local calendar day, in a study's IANA zone, of stored UTC timestamps (text on SQLite,
    datetimes elsewhere); remembers the last one, as a response's rows repeat it.

    Every day an export counts (days since the first session, enrollment day, wide rows' order)
    is a local day: the first session is a local calendar day, so the response's day must be too.
    """

    def __init__(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)
        self._last: tuple[Any, date | None] = (None, None)

    def __call__(self, value: str | datetime | None) -> date | None:
        if value is None:
            return None
        if value == self._last[0]:
            return self._last[1]
        stamp = datetime.fromisoformat(value[:19]) if isinstance(value, str) else value
        day = (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).astimezone(self.zone).date()
        self._last = (value, day)
        return day


class iso_utc(FunctionElement[str]):
    """A UTC timestamp column rendered by the database as ISO 8601 text to the second."""

    type = String()
    inherit_cache = True


@compiles(iso_utc, "sqlite")
def _iso_utc_sqlite(element: iso_utc, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m-%dT%H:%M:%SZ', {compiler.process(element.clauses, **kw)})"


@compiles(iso_utc, "postgresql")
def _iso_utc_postgresql(element: iso_utc, compiler: Any, **kw: Any) -> str:
    return f"""to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


def raw_column(column: Any) -> Any:
    """A timestamp column selected as stored (see `utc_text`), without per-row parsing."""
    return type_coerce(column, String())


def raw_batches(session: Session, stmt: Select[Any]) -> Iterator[list[tuple[Any, ...]]]:
    """The plain DBAPI tuples of a statement, fetched in batches from a server-side cursor.

    SQLAlchemy compiles the statement, binds its parameters and opens the cursor; the rows are
    then taken from the DBAPI cursor itself, skipping a Row object per row (about a third of
    the export's time). Only for columns that need no result processing: integers, text and
    `raw_column` timestamps.
    """
    result = session.connection().execute(stmt.execution_options(stream_results=True, max_row_buffer=BATCH))
    try:
        # SQLAlchemy reads one row ahead when it opens a streaming result: take it through its API
        # (fetchmany(1) is served from that look-ahead), then read on from the cursor.
        first = result.fetchmany(1)
        if not first:
            return
        yield [tuple(first[0])]
        while batch := result.cursor.fetchmany(BATCH):
            yield batch
    finally:
        result.close()


def patient_scope(ctx: ExportContext) -> list[ColumnElement[bool]]:
    """WHERE clauses on `Patient` selecting the patients whose data an export holds: the study's (or its
    one data subject's), less those whose data are withheld from analysis or erased
    (`data_analysable`), except in the data subject's own access archive. Every reader of a
    patient's answers, scores, sessions, alerts, stages or consents goes through it."""
    where: list[ColumnElement[bool]] = [Patient.study_id == ctx.study.id]
    if ctx.patient_id is not None:
        where.append(Patient.id == ctx.patient_id)
    if not ctx.subject_access:
        where.append(data_analysable())
    return where


def patient_facts(session: Session, ctx: ExportContext) -> dict[int, PatientFacts]:
    """Every patient of the study with the date of their first treatment session (once done: a
    session only planned ahead is no first session yet) and their local day of enrollment.

    A patient whose data are withheld from analysis (consent withdrawn, data not to be kept) keeps
    their code, enrollment and participation, like an erased patient's tombstone; their background
    facts and first session are left empty, except in the data subject's own access archive.
    """
    rows = session.execute(
        select(Patient.id, Patient.code, TreatmentSession.date, Patient.sex, Patient.birth_year,
               Patient.diagnosis, Patient.prior_treatments, Patient.enrolled_at, Patient.status,
               Patient.status_on, Patient.withdrawal_reason, Patient.erasure_reason)
        .outerjoin(TreatmentSession, and_(TreatmentSession.patient_id == Patient.id,
                                          TreatmentSession.number == 1, TreatmentSession.planned.is_(False)))
        .where(Patient.study_id == ctx.study.id,
               *([Patient.id == ctx.patient_id] if ctx.patient_id is not None else []))
        .order_by(Patient.id)
    )
    local_day = LocalDays(ctx.study.timezone)
    facts = {}
    for pid, code, first, sex, birth, diagnosis, prior, enrolled, status, status_on, reason, erasure in rows:
        if status == "withdrawn" and reason == DISCARD_DATA and not ctx.subject_access:
            first, sex, birth, diagnosis, prior = None, None, None, None, []
        facts[pid] = PatientFacts(code, first, sex, birth, diagnosis, list(prior or []), local_day(enrolled),
                                  status, status_on, reason, erasure)
    return facts


def participation_cells(info: PatientFacts, ctx: ExportContext) -> list[Any]:
    """The participation columns of a patient (status, its date or day, the withdrawal reason), in the
    order `codebook._participation_variables` declares them."""
    when = (days_between(info.first_session, info.status_on) if ctx.deidentified
            else info.status_on.isoformat() if info.status_on else None)
    return [info.status, when, info.withdrawal_reason]


def latest_consents(session: Session, ctx: ExportContext) -> dict[int, tuple[str, date, str]]:
    """Each patient's newest consent: patient id -> (version label, local day given, method)."""
    rows = session.execute(
        select(ConsentRecord.patient_id, ConsentVersion.version, ConsentRecord.consented_on,
               ConsentRecord.method)
        .join(ConsentVersion, ConsentVersion.id == ConsentRecord.version_id)
        .join(Patient, Patient.id == ConsentRecord.patient_id)
        .where(*patient_scope(ctx))
        .order_by(ConsentRecord.patient_id, ConsentRecord.version_id)
    )
    return {pid: (version, on, method) for pid, version, on, method in rows}  # the newest wins


def response_filter(stmt: Select[Any], ctx: ExportContext) -> Select[Any]:
    """Restrict a statement over Response to the export's patients (`patient_scope`), submitted
    responses and the export's filters (dates: local days of the study's time zone)."""
    opts = ctx.options
    stmt = stmt.join(Patient, Patient.id == Response.patient_id).where(
        *patient_scope(ctx),
        Response.status == "submitted",
        Response.instrument_id.in_([i.id for i in ctx.instruments]),
    )
    if opts.timepoints:
        stmt = stmt.where(Response.timepoint.in_(session_timepoints(opts.timepoints)))
    # `from` and `to` are local days of the study: from the start of the one to the end of the other.
    if opts.date_from:
        stmt = stmt.where(Response.submitted_at >= local_day_start(ctx.study, opts.date_from))
    if opts.date_to:
        end = local_day_start(ctx.study, opts.date_to + timedelta(days=1))
        stmt = stmt.where(Response.submitted_at < end)
    return stmt


def patient_labeller(ctx: ExportContext, facts: dict[int, PatientFacts]) -> Callable[[int], str]:
    """How patients are named in an export: their code, or the export's pseudonym (the same in every file)."""
    if ctx.deidentified:
        return ctx.pseudonyms
    return lambda pid: facts[pid].code


Labels = dict[tuple[str, str], dict[tuple[str, int], str]]


def _labels(instruments: Iterable[Instrument], lang: str) -> Labels:
    """Answer labels by (instrument, version): a response is labelled by the version it was answered in."""
    return {(inst.id, inst.version): {(item.id, o.code): o.labels.get(lang, str(o.code))
                                      for item in inst.items for o in item.options}
            for inst in instruments}


def answer_labels(ctx: ExportContext) -> Labels:
    """The answer labels of every version the export covers, in the export's language."""
    return _labels(ctx.all_versions(), ctx.options.lang)


def long_lines(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[str]]:
    """long.csv: one line per answer, a list of lines per database batch.

    The biggest file by far (a million lines for 10,000 patients), so its lines are written here
    with f-strings rather than by the `csv` module, twice as fast (bench/export.py): text cells
    come from `TextCells` (quoted, formula starts defused, each distinct value quoted once),
    numbers are bare and a missing value is an empty cell, the same bytes `csv_chunks` writes
    (the tests compare them).
    """
    facts = patient_facts(session, ctx)
    patient = patient_labeller(ctx, facts)
    local_day = LocalDays(ctx.study.timezone)
    dialect = dialect_of(ctx.options.excel, ctx.options.excel_locale)
    cells = TextCells(dialect.spreadsheet)
    spreadsheet = dialect.spreadsheet
    labels = {inst: {key: cells[label] for key, label in by_item.items()}
              for inst, by_item in _labels(ctx.all_versions(), ctx.options.lang).items()}
    identified = not ctx.deidentified
    # The answer time as ISO 8601: on SQLite, sliced from the stored text (cheaper than strftime
    # per row in SQL); elsewhere the database formats it (see `utc_text`).
    sliced = session.get_bind().dialect.name == "sqlite"
    answered_at = raw_column(Answer.answered_at) if sliced else iso_utc(Answer.answered_at)
    # Responses and their answers are read side by side, both in the order of the unique indexes
    # (patient; patient, timepoint, instrument; response, item), which SQLite walks without
    # sorting: an answer row then carries five columns, not eleven (the fetch is half the time).
    order = (Response.patient_id, Response.timepoint, Response.instrument_id)
    responses = chain.from_iterable(raw_batches(session, response_filter(
        select(Response.id, Response.patient_id, Response.timepoint, Response.instrument_id,
               Response.instrument_version, Response.protocol_version, Response.language,
               raw_column(Response.submitted_at), Response.mode, Response.window_extended,
               Response.score_status), ctx,
    ).order_by(*order)))
    answers = response_filter(
        select(Answer.response_id, Answer.item_id, Answer.code, Answer.text, answered_at)
        .select_from(Response).join(Answer, Answer.response_id == Response.id), ctx,
    ).order_by(*order, Answer.item_id)
    d = dialect.delimiter
    last_rid, prefix, item_labels = None, "", {}
    for batch in raw_batches(session, answers):
        lines: list[str] = []
        add = lines.append
        for rid, item, code, text, answered in batch:
            if rid != last_rid:
                last_rid = rid
                for response in responses:  # skips the responses without answers
                    if response[0] == rid:
                        break
                _, pid, timepoint, inst, version, protocol, lang, submitted, mode, extended, status = response
                days = days_between(facts[pid].first_session, local_day(submitted))
                prefix = (f"{cells[patient(pid)]}{d}{cells[timepoint]}{d}{'' if days is None else days}{d}"
                          f"{cells[inst]}{d}{cells[version]}{d}{cells[protocol]}{d}{cells[lang]}{d}"
                          f"{cells[mode]}{d}{1 if extended else 0}{d}"
                          f"{'' if status is None else cells[status]}{d}")
                item_labels = labels.get((inst, version), {})
            if code is None and not identified:
                continue  # free text is left out of de-identified exports
            label = item_labels.get((item, code), "")
            coded = f"{prefix}{cells[item]}{d}{'' if code is None else code}{d}{label}"
            if identified:
                written = "" if text is None else text_cell(text, spreadsheet)
                stamp = f"{answered[:10]}T{answered[11:19]}Z" if sliced else answered
                add(f'{coded}{d}{written}{d}"{stamp}"')
            else:
                add(coded)
        count.rows += len(lines)
        yield lines


def scores_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """scores.csv: one row per response, its scales in the columns of its instrument."""
    facts = patient_facts(session, ctx)
    patient = patient_labeller(ctx, facts)
    variables = scores_variables(ctx)
    columns = {v.name: i for i, v in enumerate(variables)}
    categorical = _integer_columns(variables)
    width = len(columns)
    local_day = LocalDays(ctx.study.timezone)
    stmt = response_filter(
        select(Response.id, Response.patient_id, Response.timepoint, Response.instrument_id,
               Response.instrument_version, Response.protocol_version, Response.language,
               raw_column(Response.submitted_at), Response.mode, Response.score_status, Response.flags,
               Score.scale, Score.value, Score.band,
               Score.scoring_version)
        .outerjoin(Score, Score.response_id == Response.id),
        ctx,
    ).order_by(Response.patient_id, Response.submitted_at, Response.id, Score.scale)
    result = session.connection().execute(stmt.execution_options(yield_per=BATCH))
    rows = chain.from_iterable(result.partitions())
    for _rid, group in groupby(rows, key=lambda r: r[0]):
        first = next(group)
        _, pid, timepoint, inst, version, protocol, lang, submitted, mode, status, flags, *_score = first
        row: list[Any] = [None] * width
        row[:11] = [patient(pid), timepoint, days_between(facts[pid].first_session, local_day(submitted)),
                    inst, version, protocol, lang, mode, status, None, ";".join(flags or []) or None]
        if not ctx.deidentified:
            row[columns["submitted_at"]] = utc_text(submitted)
            day = local_day(submitted)
            row[columns["submitted_local_date"]] = day.isoformat() if day else None
        for *_, scale, value, band, scoring_version in (first, *group):
            if scale is None:
                continue
            row[columns["scoring_version"]] = scoring_version
            index = columns.get(f"{inst}_{scale}_score")
            if index is not None:
                row[index] = int(value) if index in categorical and value is not None else value
            band_index = columns.get(f"{inst}_{scale}_band")
            if band_index is not None:
                row[band_index] = band
        count.rows += 1
        yield row


def _integer_columns(variables: list[Variable]) -> set[int]:
    """Positions of the integer columns: a categorical score (a stage) is written as its code, 3 not 3.0."""
    return {i for i, v in enumerate(variables) if v.type == "integer"}


class _WideBlock:
    """The wide rows of a block of patients, filled cell by cell, with each row's first submission day."""

    def __init__(self, width: int, local_day: LocalDays) -> None:
        self.width = width
        self.local_day = local_day
        self.cells: dict[tuple[int, str], list[Any]] = {}
        self.first_day: dict[tuple[int, str], date | None] = {}

    def row(self, pid: int, timepoint: str, submitted: Any) -> list[Any]:
        """The row of a patient and timepoint, created on first use."""
        key, day = (pid, timepoint), self.local_day(submitted)
        if key not in self.cells:
            self.cells[key] = [None] * self.width
            self.first_day[key] = day
        elif day is not None and (self.first_day[key] is None or day < self.first_day[key]):
            self.first_day[key] = day
        return self.cells[key]

    def in_order(self) -> Iterator[tuple[tuple[int, str], list[Any], date | None]]:
        """Rows by patient, then by the day their timepoint was first submitted."""
        for key in sorted(self.cells, key=lambda k: (k[0], self.first_day[k] or date.min, k[1])):
            yield key, self.cells[key], self.first_day[key]


def wide_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """wide.csv: one row per patient and timepoint, item and score columns per instrument."""
    facts = patient_facts(session, ctx)
    patient = patient_labeller(ctx, facts)
    variables = wide_variables(ctx)
    columns = {v.name: i for i, v in enumerate(variables)}
    categorical = _integer_columns(variables)
    labels = _labels(ctx.all_versions(), ctx.options.lang) if ctx.options.values == "labels" else None
    ids = list(facts)
    local_day = LocalDays(ctx.study.timezone)
    for start in range(0, len(ids), PATIENT_BATCH):
        block = ids[start:start + PATIENT_BATCH]
        rows = _WideBlock(len(variables), local_day)
        answers = response_filter(
            select(Response.patient_id, Response.timepoint, raw_column(Response.submitted_at),
                   Response.instrument_id, Response.instrument_version, Response.score_status, Response.flags,
                   Response.mode, Response.protocol_version, Answer.item_id, Answer.code, Answer.text)
            .outerjoin(Answer, Answer.response_id == Response.id), ctx,
        ).where(Response.patient_id.in_(block)).order_by(Response.patient_id, Response.submitted_at)
        for (pid, timepoint, submitted, inst, version, status, flags, mode, protocol, item, code,
             text) in session.execute(answers):
            row = rows.row(pid, timepoint, submitted)
            row[columns[f"{inst}_status"]] = status
            row[columns[f"{inst}_mode"]] = mode
            row[columns[f"{inst}_protocol_version"]] = protocol
            row[columns[f"{inst}_flags"]] = ";".join(flags or []) or None
            index = columns.get(f"{inst}_{item}")
            if index is None:
                continue  # no answer (outer join), or a text item left out of a de-identified export
            if code is None:
                row[index] = text
            else:
                row[index] = labels.get((inst, version), {}).get((item, code)) if labels is not None else code
        scores = response_filter(
            select(Response.patient_id, Response.timepoint, raw_column(Response.submitted_at),
                   Response.instrument_id, Score.scale, Score.value, Score.band)
            .join(Score, Score.response_id == Response.id), ctx,
        ).where(Response.patient_id.in_(block))
        for pid, timepoint, submitted, inst, scale, value, band in session.execute(scores):
            row = rows.row(pid, timepoint, submitted)
            if (index := columns.get(f"{inst}_{scale}_score")) is not None:
                row[index] = int(value) if index in categorical and value is not None else value
            if (index := columns.get(f"{inst}_{scale}_band")) is not None:
                row[index] = band
        for (pid, timepoint), row, day in rows.in_order():
            info = facts[pid]
            row[0:3] = [patient(pid), timepoint, days_between(info.first_session, day)]
            row[columns["sex"]] = info.sex
            row[columns["diagnosis"]] = info.diagnosis
            if ctx.deidentified:
                row[columns["age_band"]] = age_band(info.birth_year, info.enrolled_on)
            else:
                row[columns["birth_year"]] = info.birth_year
            start = columns["participation"]
            row[start:start + 3] = participation_cells(info, ctx)
            count.rows += 1
            yield row


def long_rows(session: Session, ctx: ExportContext, count: RowCount) -> Iterator[list[Any]]:
    """long.csv as rows of values (for .sav, .dta and .xlsx): the cells `long_lines` writes, in its order."""
    facts = patient_facts(session, ctx)
    patient = patient_labeller(ctx, facts)
    local_day = LocalDays(ctx.study.timezone)
    labels = _labels(ctx.all_versions(), ctx.options.lang)  # keyed by (instrument, version)
    identified = not ctx.deidentified
    order = (Response.patient_id, Response.timepoint, Response.instrument_id)
    stmt = response_filter(
        select(Response.patient_id, Response.timepoint, Response.instrument_id, Response.instrument_version,
               Response.protocol_version, Response.language, raw_column(Response.submitted_at), Response.mode,
               Response.window_extended,
               Response.score_status, Answer.item_id, Answer.code, Answer.text, iso_utc(Answer.answered_at))
        .join(Answer, Answer.response_id == Response.id), ctx,
    ).order_by(*order, Answer.item_id)
    for batch in raw_batches(session, stmt):
        for (pid, timepoint, inst, version, protocol, lang, submitted, mode, extended, status, item, code,
             text, answered) in batch:
            if code is None and not identified:
                continue
            row = [patient(pid), timepoint, days_between(facts[pid].first_session, local_day(submitted)),
                   inst, version, protocol, lang, mode, 1 if extended else 0, status, item, code,
                   labels.get((inst, version), {}).get((item, code))]
            if identified:
                row += [text, answered]
            count.rows += 1
            yield row
