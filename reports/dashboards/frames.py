"""SQL -> tidy pandas frames for one study's cohort, one function per frame.

Each frame is built by one SQL statement over the whole (filtered) cohort: no per-patient
queries, no per-patient Python loops. Aggregations the database does well (counts by session
and grade) happen in SQL; everything else returns long rows for pandas.
Timestamps come back as pandas UTC timestamps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, String, and_, case, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from reports.dashboards.cohort_filters import (
    AGE_BANDS,
    Filters,
    cohort_conditions,
    data_conditions,
    filter_options,
)
from surveys.domain.models import Alert, Patient, Response, Score, TreatmentSession, WindowExtension
from surveys.domain.participation import data_analysable

__all__ = ["AGE_BANDS", "Filters", "cohort_conditions", "data_conditions", "filter_options"]  # re-exported

#: The outcome scores the study dashboard follows over time: (instrument id, score name).
OUTCOMES: tuple[tuple[str, str], ...] = (
    ("who5", "percent"),
    ("rses", "total"),
    ("hair_status", "hair_severity"),
    ("hair_status", "hair_bother"),
    ("hair_status", "shedding"),
    ("hair_status", "thinning"),  # hair_status 2.0 (severity and relative shedding were 1.0's)
    ("hair_status", "shedding_amount"),
)
#: Scores used only to count responders (no baseline exists for them).
RESPONDER_SCORES: tuple[tuple[str, str], ...] = (("pgic", "pgic"), ("hair_change", "amount"))
SIDE_EFFECT_INSTRUMENT = "pirc"


def _frame(session: Session, statement: Any, columns: Sequence[str], *, plain: bool = True) -> pd.DataFrame:
    """Run a Core statement; `plain` columns (numbers, strings, raw timestamps) skip Row objects.

    Building a SQLAlchemy Row per record costs more than the query on large cohorts, so frames
    whose columns need no type conversion read the DBAPI cursor's tuples directly.
    """
    result = session.connection().execute(statement)
    try:
        rows = result.cursor.fetchall() if plain else result.all()
    finally:
        result.close()
    return pd.DataFrame.from_records(rows, columns=list(columns))


def _utc(series: pd.Series) -> pd.Series:
    """Naive-UTC strings (SQLite) or datetimes (PostgreSQL) -> pandas UTC timestamps."""
    if series.empty:
        return pd.Series(pd.DatetimeIndex([], tz="UTC"), index=series.index)
    if series.map(type).eq(str).all():
        return pd.to_datetime(series, utc=True, format="ISO8601", cache=False)
    return pd.to_datetime(series, utc=True, cache=False)


def _raw(column: Any) -> Any:
    """Read a timestamp column without per-row Python conversion; `_utc` converts in bulk."""
    return type_coerce(column, String)


def patient_frame(session: Session, study_id: int, filters: Filters) -> pd.DataFrame:
    """One row per patient: id, code, sex, birth_year, age (at enrollment), diagnosis, status, enrolled_at,
    analysable (False: data withheld from analysis or erased; such a patient is counted by status
    only, their facts are empty and no window of theirs is counted)."""
    analysable = data_analysable()

    def fact(column: Any) -> Any:
        return case((analysable, column), else_=None)

    statement = (
        select(
            Patient.id,
            Patient.code,
            fact(Patient.sex),
            fact(Patient.birth_year),
            fact(Patient.diagnosis),
            Patient.status,
            _raw(Patient.enrolled_at),
            case((analysable, 1), else_=0),
        )
        .where(*cohort_conditions(study_id, filters))
        .order_by(Patient.id)
    )
    frame = _frame(
        session,
        statement,
        ["patient_id", "code", "sex", "birth_year", "diagnosis", "status", "enrolled_at", "analysable"],
    )
    frame["analysable"] = frame["analysable"].astype(bool)
    frame["enrolled_at"] = _utc(frame["enrolled_at"])
    frame["age"] = frame["enrolled_at"].dt.year - frame["birth_year"].astype("Float64")
    return frame


def session_frame(session: Session, study_id: int, filters: Filters) -> pd.DataFrame:
    """One row per treatment session: patient_id, number, date (UTC midnight), agents, planned."""
    statement = (
        select(
            TreatmentSession.patient_id,
            TreatmentSession.number,
            _raw(TreatmentSession.date),
            TreatmentSession.agents,
            TreatmentSession.planned,
        )
        .join(Patient, Patient.id == TreatmentSession.patient_id)
        .where(*data_conditions(study_id, filters))
        .order_by(TreatmentSession.patient_id, TreatmentSession.number)
    )
    frame = _frame(session, statement, ["patient_id", "number", "date", "agents", "planned"])
    frame["date"] = _utc(frame["date"])
    frame["planned"] = frame["planned"].astype(bool)
    return frame


def extension_frame(session: Session, study_id: int, filters: Filters) -> pd.DataFrame:
    """One row per window staff reopened or extended: patient_id, timepoint, closes_on (the last
    local day, in the study's zone, it stays answerable; a naive midnight)."""
    statement = (
        select(WindowExtension.patient_id, WindowExtension.timepoint, _raw(WindowExtension.closes_on))
        .join(Patient, Patient.id == WindowExtension.patient_id)
        .where(*data_conditions(study_id, filters))
    )
    frame = _frame(session, statement, ["patient_id", "timepoint", "closes_on"])
    frame["closes_on"] = pd.to_datetime(frame["closes_on"].astype(str), format="ISO8601", cache=False)
    return frame


def submission_frame(session: Session, study_id: int, filters: Filters) -> pd.DataFrame:
    """One row per patient and timepoint with a submitted questionnaire: its first submission, how many."""
    statement = (
        select(Response.patient_id, Response.timepoint, func.min(_raw(Response.submitted_at)), func.count())
        .join(Patient, Patient.id == Response.patient_id)
        .where(*data_conditions(study_id, filters), Response.status == "submitted")
        .group_by(Response.patient_id, Response.timepoint)
    )
    frame = _frame(session, statement, ["patient_id", "timepoint", "first_submitted", "questionnaires"])
    frame["first_submitted"] = _utc(frame["first_submitted"])
    return frame


def _score_pairs(pairs: Iterable[tuple[str, str]]) -> ColumnElement[bool]:
    return or_(*(and_(Response.instrument_id == inst, Score.scale == scale) for inst, scale in pairs))


def score_frame(
    session: Session,
    study_id: int,
    filters: Filters,
    scores: Sequence[tuple[str, str]] = OUTCOMES + RESPONDER_SCORES,
) -> pd.DataFrame:
    """Long scores of submitted responses: patient_id, timepoint, instrument, scale, value, status.

    A submitted response whose score could not be computed has value NaN (missing, never 0).
    """
    statement = (
        select(
            Response.patient_id,
            Response.timepoint,
            Response.instrument_id,
            Score.scale,
            Score.value,
            Response.score_status,
        )
        .join(Patient, Patient.id == Response.patient_id)
        .join(Score, Score.response_id == Response.id)
        .where(*data_conditions(study_id, filters), Response.status == "submitted", _score_pairs(scores))
    )
    frame = _frame(
        session, statement, ["patient_id", "timepoint", "instrument", "scale", "value", "score_status"]
    )
    frame["value"] = frame["value"].astype(float)
    for column in ("timepoint", "instrument", "scale", "score_status"):
        frame[column] = frame[column].astype("category")  # fast comparisons on 100k+ rows
    return frame


def grade_frame(session: Session, study_id: int, filters: Filters) -> pd.DataFrame:
    """Side-effect grades counted in SQL: timepoint (S1, S2...), scale (`<symptom>_grade`), grade, count.

    Only checklists tied to a treatment session count; a NaN grade is an unanswered symptom.
    """
    statement = (
        select(Response.timepoint, Score.scale, Score.value, func.count())
        .join(Patient, Patient.id == Response.patient_id)
        .join(Score, Score.response_id == Response.id)
        .where(
            *data_conditions(study_id, filters),
            Response.status == "submitted",
            Response.instrument_id == SIDE_EFFECT_INSTRUMENT,
            Response.session_id.is_not(None),
            Score.scale.like("%\\_grade", escape="\\"),
        )
        .group_by(Response.timepoint, Score.scale, Score.value)
    )
    frame = _frame(session, statement, ["timepoint", "scale", "grade", "count"])
    frame["grade"] = frame["grade"].astype(float)
    return frame


def alert_frame(session: Session, study_id: int, filters: Filters) -> pd.DataFrame:
    """One row per alert: alert_id, patient_id, level, reasons (list), state, and the UTC times
    created_at, first_contact_at and resolved_at (NaT when not yet)."""
    statement = (
        select(
            Alert.id,
            Alert.patient_id,
            Alert.level,
            Alert.reasons,
            Alert.state,
            _raw(Alert.created_at),
            _raw(Alert.first_contact_at),
            _raw(Alert.resolved_at),
        )
        .join(Patient, Patient.id == Alert.patient_id)
        .where(*data_conditions(study_id, filters), Alert.study_id == study_id)
    )
    frame = _frame(
        session,
        statement,
        ["alert_id", "patient_id", "level", "reasons", "state", "created_at", "first_contact_at",
         "resolved_at"],
        plain=False,
    )
    frame["created_at"] = _utc(frame["created_at"])
    frame["first_contact_at"] = _utc(frame["first_contact_at"])
    frame["resolved_at"] = _utc(frame["resolved_at"])
    return frame
