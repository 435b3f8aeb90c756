"""A data subject's right to erasure (GDPR art. 17): delete what is held about one patient.

Deleted: every row that hangs on the patient by a foreign key, directly or through another
such row (responses, answers with their free text, scores, alerts with the staff's notes,
treatment sessions, personal links, reminders sent, and whatever table a later feature adds
with a foreign key to one of them), and the patient's own facts (sex, birth year, diagnosis,
prior treatments, e-mail, notes). Kept: a tombstone (the patient row with its code, enrollment
date, erasure date and reason, status "erased") and one audit event saying who erased what,
when and how many rows of each table went. The audit trail is append-only and hash-chained:
events recorded before the erasure stay as they were (they hold codes and ids, never answers;
see `docs/ERASURE.md`). Backups taken before the erasure still hold the data until they expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Table, delete, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from surveys.domain.audit import record
from surveys.domain.models import ERASURE_REASONS, Patient
from surveys.domain.participation import data_withheld, local_day
from surveys.infra.db import Base, utcnow


class ErasureError(ValueError):
    """An erasure that cannot be done, with the reason."""


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """What an erasure removed: rows deleted per table."""

    patient_code: str
    deleted: dict[str, int]


def _dependent_conditions(patient_id: int) -> list[tuple[Table, ColumnElement[bool]]]:
    """Every table holding rows that hang on the patient, with the condition selecting them,
    parents before children (the order of `Base.metadata.sorted_tables`)."""
    patient_table = Patient.__table__
    selected: dict[str, tuple[Table, ColumnElement[bool]]] = {
        patient_table.name: (patient_table, patient_table.c.id == patient_id)  # type: ignore[dict-item]
    }
    ordered: list[tuple[Table, ColumnElement[bool]]] = []
    for table in Base.metadata.sorted_tables:
        if table.name == patient_table.name:
            continue
        conditions = []
        for fk in table.foreign_keys:
            parent = selected.get(fk.column.table.name)
            if parent is None:
                continue
            _parent_table, parent_condition = parent
            conditions.append(fk.parent.in_(select(fk.column).where(parent_condition)))
        if conditions:
            condition = or_(*conditions)
            selected[table.name] = (table, condition)
            ordered.append((table, condition))
    return ordered


def erase_patient(session: Session, patient: Patient, *, reason: str, actor: str) -> ErasureReport:
    """Erase everything held about `patient`, leaving a tombstone; returns the rows deleted per table.

    `reason` is one of `ERASURE_REASONS`. Raises `ErasureError` for an unknown reason or an
    already erased patient. Deletes children before parents in the caller's transaction and
    flushes; the caller commits (all or nothing).
    """
    if patient.status == "erased":
        raise ErasureError(_("This patient's data were already erased."))
    if reason not in ERASURE_REASONS:
        raise ErasureError(_("Choose a reason for the erasure."))
    session.flush()
    deleted: dict[str, int] = {}
    dependents = _dependent_conditions(patient.id)
    counts = {table.name: session.scalar(select(func.count()).select_from(table).where(condition)) or 0
              for table, condition in dependents}
    for table, condition in reversed(dependents):  # children first
        if counts[table.name]:
            session.execute(delete(table).where(condition).execution_options(synchronize_session=False))
            deleted[table.name] = counts[table.name]
    session.expire(patient)
    enrolled_at, code = patient.enrolled_at, patient.code
    facts: dict[str, Any] = {
        "sex": None, "birth_year": None, "diagnosis": None, "prior_treatments": [], "email": None,
        "status": "erased", "status_on": local_day(patient.study, utcnow()), "withdrawal_reason": None,
        "status_note": None, "erasure_reason": reason,
    }
    for name, value in facts.items():
        setattr(patient, name, value)
    session.flush()
    record(session, actor, "patient.erase", entity="patient", entity_id=patient.id, study_id=patient.study_id,
           details={"patient": code, "reason": reason,
                    "enrolled_on": local_day(patient.study, enrolled_at).isoformat(), "deleted": deleted})
    return ErasureReport(code, deleted)


#: The reason an erasure is recorded with when nothing about the patient implies another.
DEFAULT_ERASURE_REASON = "data_subject_request"


def suggested_erasure_reason(patient: Patient) -> str | None:
    """The erasure reason the patient's record implies, or None when it implies none.

    A patient who withdrew consent without keeping their data (`data_withheld`) is erased for
    "consent_withdrawn". The erasure form pre-selects it; `patients erase` records it when no
    `--reason` is given (else `DEFAULT_ERASURE_REASON`).
    """
    return "consent_withdrawn" if data_withheld(patient) else None


def erasure_reason_label(reason: str | None) -> str:
    """The translated name of an erasure reason (one of `ERASURE_REASONS`; anything else as given)."""
    labels = {
        "data_subject_request": _("The patient asked for it (GDPR art. 17)"),
        "consent_withdrawn": _("Consent withdrawn, data not to be kept"),
        "enrolled_in_error": _("Enrolled in error"),
        "other": _("Other"),
    }
    return labels.get(reason or "", reason or "")


def erasure_reason_choices() -> list[tuple[str, str]]:
    """(code, translated label) pairs of `ERASURE_REASONS` for a form."""
    return [(reason, erasure_reason_label(reason)) for reason in ERASURE_REASONS]
