"""The dashboard's cohort filters and the SQL conditions they make; no pandas here.

Kept apart from `reports.dashboards.frames` so the app can parse filters and list their options without
importing pandas (which the dashboard loads only when it draws).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from surveys.domain.models import Patient, TreatmentSession
from surveys.domain.participation import data_analysable

#: Age bands (age in the year of enrollment, from the birth year): conventions for filtering only.
AGE_BANDS: dict[str, tuple[int, int]] = {
    "under_30": (0, 29),
    "30_39": (30, 39),
    "40_49": (40, 49),
    "50_59": (50, 59),
    "60_plus": (60, 200),
}


@dataclass(frozen=True, slots=True)
class Filters:
    """The cohort filters of the dashboard; None means "everyone". `enrolled_from`/`enrolled_to` are
    local days of `zone`, the study's IANA time zone (not a filter itself)."""

    sex: str | None = None
    age_band: str | None = None
    diagnosis: str | None = None
    agents: str | None = None
    enrolled_from: date | None = None
    enrolled_to: date | None = None
    zone: str = "UTC"

    def active(self) -> dict[str, Any]:
        """The filters that are set, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "zone" and getattr(self, f.name) is not None}


def _midnight(day: date, zone: str) -> datetime:
    """The UTC instant a local day of `zone` starts."""
    return datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def cohort_conditions(study_id: int, filters: Filters) -> list[ColumnElement[bool]]:
    """WHERE clauses on `Patient` selecting the study's patients that pass the filters.

    A filter on the patients' facts (sex, age, diagnosis, formulation) passes no patient whose data
    are withheld or erased (`data_analysable`): their facts are not analysed, as if blank.
    """
    where: list[ColumnElement[bool]] = [Patient.study_id == study_id]
    if any(value is not None for value in (filters.sex, filters.age_band, filters.diagnosis, filters.agents)):
        where.append(data_analysable())
    if filters.sex is not None:
        where.append(Patient.sex == filters.sex)
    if filters.diagnosis is not None:
        where.append(Patient.diagnosis == filters.diagnosis)
    if filters.age_band is not None:
        low, high = AGE_BANDS[filters.age_band]
        age = func.extract("year", Patient.enrolled_at) - Patient.birth_year
        where.append(age.between(low, high))
    if filters.enrolled_from is not None:
        where.append(Patient.enrolled_at >= _midnight(filters.enrolled_from, filters.zone))
    if filters.enrolled_to is not None:
        where.append(Patient.enrolled_at < _midnight(filters.enrolled_to + timedelta(days=1), filters.zone))
    if filters.agents is not None:
        where.append(
            exists().where(
                TreatmentSession.patient_id == Patient.id, TreatmentSession.agents == filters.agents
            )
        )
    return where


def data_conditions(study_id: int, filters: Filters) -> list[ColumnElement[bool]]:
    """WHERE clauses on `Patient` selecting the patients whose collected data (sessions, answers,
    scores, alerts) the dashboard reads: the filtered cohort less the patients whose data are
    withheld from analysis or erased (`data_analysable`). Every frame but the patients' uses it."""
    return [*cohort_conditions(study_id, filters), data_analysable()]


def filter_options(session: Session, study_id: int) -> dict[str, list[str]]:
    """The values the filters can take in this study (from its data, not a fixed list)."""

    def distinct(column: Any, *where: Any) -> list[str]:
        return [v for v in session.scalars(select(column).distinct().where(*where).order_by(column)) if v]

    return {
        "sex": distinct(Patient.sex, Patient.study_id == study_id, data_analysable()),
        "diagnosis": distinct(Patient.diagnosis, Patient.study_id == study_id, data_analysable()),
        "agents": distinct(
            TreatmentSession.agents,
            TreatmentSession.patient_id.in_(
                select(Patient.id).where(Patient.study_id == study_id, data_analysable())),
        ),
        "age_band": list(AGE_BANDS),
    }
