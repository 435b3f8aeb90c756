"""SQL -> tidy pandas frames for one study's cohort, one function per frame.

Each frame is built by one SQL statement over the whole (filtered) cohort: no per-patient
queries, no per-patient Python loops. Aggregations the database does well (counts by session
and grade) happen in SQL; everything else returns long rows for pandas.
Timestamps come back as pandas UTC timestamps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, String, and_, exists, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from surveys.models import Alert, Patient, Response, Score, TreatmentSession

#: Age bands (age in the year of enrollment, from the birth year): conventions for filtering only.
AGE_BANDS: dict[str, tuple[int, int]] = {
    "under_30": (0, 29),
    "30_39": (30, 39),
    "40_49": (40, 49),
    "50_59": (50, 59),
    "60_plus": (60, 200),
}
#: The outcome scores the study dashboard follows over time: (instrument id, score name).
OUTCOMES: tuple[tuple[str, str], ...] = (
    ("who5", "percent"),
    ("rses", "total"),
    ("hair_status", "hair_severity"),
    ("hair_status", "hair_bother"),
    ("hair_status", "shedding"),
)
#: Scores used only to count responders (no baseline exists for them).
RESPONDER_SCORES: tuple[tuple[str, str], ...] = (("pgic", "pgic"), ("hair_change", "amount"))
SIDE_EFFECT_INSTRUMENT = "pirc"


@dataclass(frozen=True, slots=True)
class Filters:
    """The cohort filters of the dashboard; None means "everyone"."""

    sex: str | None = None
    age_band: str | None = None
    diagnosis: str | None = None
    agents: str | None = None
    enrolled_from: date | None = None
    enrolled_to: date | None = None

    def active(self) -> dict[str, Any]:
        """The filters that are set, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def cohort_conditions(study_id: int, filters: Filters) -> list[ColumnElement[bool]]:
    """WHERE clauses on `Patient` selecting the study's patients that pass the filters."""
    where: list[ColumnElement[bool]] = [Patient.study_id == study_id]
    if filters.sex is not None:
        where.append(Patient.sex == filters.sex)
    if filters.diagnosis is not None:
        where.append(Patient.diagnosis == filters.diagnosis)
    if filters.age_band is not None:
        low, high = AGE_BANDS[filters.age_band]
        age = func.extract("year", Patient.enrolled_at) - Patient.birth_year
        where.append(age.between(low, high))
    if filters.enrolled_from is not None:
        where.append(Patient.enrolled_at >= _midnight(filters.enrolled_from))
    if filters.enrolled_to is not None:
        where.append(Patient.enrolled_at < _midnight(filters.enrolled_to + timedelta(days=1)))
    if filters.agents is not None:
        where.append(
            exists().where(
                TreatmentSession.patient_id == Patient.id, TreatmentSession.agents == filters.agents
            )
        )
    return where


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
    """One row per patient: id, code, sex, birth_year, age (at enrollment), diagnosis, status, enrolled_at."""
    statement = (
        select(
            Patient.id,
            Patient.code,
            Patient.sex,
            Patient.birth_year,
            Patient.diagnosis,
            Patient.status,
            _raw(Patient.enrolled_at),
        )
        .where(*cohort_conditions(study_id, filters))
        .order_by(Patient.id)
    )
    frame = _frame(
        session, statement, ["patient_id", "code", "sex", "birth_year", "diagnosis", "status", "enrolled_at"]
    )
    frame["enrolled_at"] = _utc(frame["enrolled_at"])
    frame["age"] = frame["enrolled_at"].dt.year - frame["birth_year"].astype("Float64")
    return frame


def session_frame(session: Session, study_id: int, filters: Filters) -> pd.DataFrame:
    """One row per treatment session: patient_id, number, date (UTC midnight), agents."""
    statement = (
        select(
            TreatmentSession.patient_id,
            TreatmentSession.number,
            _raw(TreatmentSession.date),
            TreatmentSession.agents,
        )
        .join(Patient, Patient.id == TreatmentSession.patient_id)
        .where(*cohort_conditions(study_id, filters))
        .order_by(TreatmentSession.patient_id, TreatmentSession.number)
    )
    frame = _frame(session, statement, ["patient_id", "number", "date", "agents"])
    frame["date"] = _utc(frame["date"])
    return frame


def submission_frame(session: Session, study_id: int, filters: Filters) -> pd.DataFrame:
    """One row per patient and timepoint with a submitted questionnaire: its first submission, how many."""
    statement = (
        select(Response.patient_id, Response.timepoint, func.min(_raw(Response.submitted_at)), func.count())
        .join(Patient, Patient.id == Response.patient_id)
        .where(*cohort_conditions(study_id, filters), Response.status == "submitted")
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
        .where(*cohort_conditions(study_id, filters), Response.status == "submitted", _score_pairs(scores))
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
            *cohort_conditions(study_id, filters),
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
    """One row per alert: alert_id, patient_id, level, reasons (list), created_at, acknowledged_at."""
    statement = (
        select(
            Alert.id,
            Alert.patient_id,
            Alert.level,
            Alert.reasons,
            _raw(Alert.created_at),
            _raw(Alert.acknowledged_at),
        )
        .join(Patient, Patient.id == Alert.patient_id)
        .where(*cohort_conditions(study_id, filters), Alert.study_id == study_id)
    )
    frame = _frame(
        session,
        statement,
        ["alert_id", "patient_id", "level", "reasons", "created_at", "acknowledged_at"],
        plain=False,
    )
    frame["created_at"] = _utc(frame["created_at"])
    frame["acknowledged_at"] = _utc(frame["acknowledged_at"])
    return frame


def filter_options(session: Session, study_id: int) -> dict[str, list[str]]:
    """The values the filters can take in this study (from its data, not a fixed list)."""

    def distinct(column: Any, *where: Any) -> list[str]:
        return [v for v in session.scalars(select(column).distinct().where(*where).order_by(column)) if v]

    return {
        "sex": distinct(Patient.sex, Patient.study_id == study_id),
        "diagnosis": distinct(Patient.diagnosis, Patient.study_id == study_id),
        "agents": distinct(
            TreatmentSession.agents,
            TreatmentSession.patient_id.in_(select(Patient.id).where(Patient.study_id == study_id)),
        ),
        "age_band": list(AGE_BANDS),
    }
