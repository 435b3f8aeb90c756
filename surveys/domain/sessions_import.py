"""Importing a clinic's treatment log (CSV) as treatment sessions: all rows, or none.

The service checks every row, records the good ones through `patients.record_session` (the same
rules as the form and `sessions record`), and raises one SessionImportError naming every bad row
by its line number; the caller then rolls back, so nothing of the file is stored.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveys.domain.models import Patient, Study, TreatmentSession
from surveys.domain.patients import EnrollmentError, record_session
from surveys.domain.pregnancy_check import PregnancyCheck, check_from_answers, parse_answer

REQUIRED = ("patient", "number", "date")
CHECK_COLUMNS = ("pregnant", "breastfeeding", "trying_to_conceive")
OPTIONAL = ("agents", "notes", "planned", *CHECK_COLUMNS)
MAX_ROWS = 50_000
MAX_ERRORS_SHOWN = 50
YES = {"yes", "y", "true", "1", "oui"}
NO = {"", "no", "n", "false", "0", "non"}


class SessionImportError(ValueError):
    """A treatment log that cannot be imported: every bad row with its line number."""


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did: rows read, sessions created, updated, and rows equal to what was stored."""

    rows: int
    created: int
    updated: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    patient: str
    number: int
    day: date
    agents: str
    notes: str
    planned: bool
    check: PregnancyCheck | None


def _read(content: bytes) -> tuple[list[_Row], list[str]]:
    """Parse the file into rows and problems (line numbers count the header as line 1)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SessionImportError(f"The file is not UTF-8 text (byte {exc.start}).") from exc
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration as exc:
        raise SessionImportError("The file is empty: line 1 must name the columns.") from exc
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in REQUIRED + OPTIONAL]
    if missing or unknown or len(set(header)) != len(header):
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        if len(set(header)) != len(header):
            parts.append("a column named twice")
        raise SessionImportError(
            f"line 1: {'; '.join(parts)} (expected {', '.join(REQUIRED)}[, {', '.join(OPTIONAL)}])."
        )
    rows: list[_Row] = []
    problems: list[str] = []
    seen: dict[tuple[str, int], int] = {}
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue  # blank line
        if len(rows) + len(problems) >= MAX_ROWS:
            raise SessionImportError(f"line {line}: more than {MAX_ROWS} rows; split the file.")
        if len(values) != len(header):
            problems.append(f"line {line}: {len(values)} value(s) for {len(header)} column(s).")
            continue
        cell = {name: value.strip() for name, value in zip(header, values, strict=True)}
        problem = None
        number = cell["number"]
        if not number.isdigit():
            problem = f"session number {number!r} is not a whole number"
        try:
            day = date.fromisoformat(cell["date"])
        except ValueError:
            problem = problem or f"date {cell['date']!r} is not YYYY-MM-DD"
            day = date.min
        planned_text = cell.get("planned", "").lower()
        if planned_text not in YES | NO:
            problem = problem or f"planned {cell.get('planned')!r} is not yes or no"
        if not cell["patient"]:
            problem = problem or "no patient code"
        check = None
        try:
            check = check_from_answers(*(parse_answer(cell.get(name)) for name in CHECK_COLUMNS))
        except ValueError as exc:
            problem = problem or f"pregnancy check: {exc}"
        if problem is None:
            key = (cell["patient"], int(number))
            if key in seen:
                problem = f"patient {key[0]} session {key[1]} is already on line {seen[key]}"
            else:
                seen[key] = line
        if problem:
            problems.append(f"line {line}: {problem}.")
            continue
        rows.append(_Row(line, cell["patient"], int(number), day, cell.get("agents", ""),
                         cell.get("notes", ""), planned_text in YES, check))
    return rows, problems


def _stored_check(treatment: TreatmentSession) -> PregnancyCheck | None:
    if treatment.pregnancy_checked_at is None:
        return None
    return PregnancyCheck(bool(treatment.pregnant), bool(treatment.breastfeeding),
                          bool(treatment.trying_to_conceive))


def import_sessions(session: Session, study: Study, content: bytes, *, actor: str) -> ImportSummary:
    """Record every session of a CSV treatment log for a study's patients; flushes, never commits.

    `content` is the file's bytes (UTF-8, with or without BOM). Rows are applied per patient in
    session-number order, whatever their order in the file. Raises SessionImportError listing every
    bad row (at most 50 shown) by line number; the caller must then roll back.
    """
    rows, problems = _read(content)
    codes = sorted({row.patient for row in rows})
    patients = {
        p.code: p for p in session.scalars(
            select(Patient).where(Patient.study_id == study.id, Patient.code.in_(codes))
        )
    } if codes else {}
    created = updated = unchanged = 0
    for row in sorted(rows, key=lambda r: (r.patient, r.number)):
        patient = patients.get(row.patient)
        if patient is None:
            problems.append(f"line {row.line}: no patient {row.patient} in {study.code}.")
            continue
        existing = next((s for s in patient.sessions if s.number == row.number), None)
        if existing is not None and (existing.date, existing.agents, existing.notes, existing.planned) == (
            row.day, row.agents, row.notes, row.planned
        ) and (row.check is None or row.check == _stored_check(existing)):
            unchanged += 1
            continue
        try:
            record_session(session, patient, actor=actor, number=row.number, day=row.day, agents=row.agents,
                           notes=row.notes, planned=row.planned, pregnancy_check=row.check)
        except EnrollmentError as exc:
            problems.append(f"line {row.line}: patient {row.patient} session {row.number}: {exc}")
            continue
        if existing is None:
            created += 1
        else:
            updated += 1
    if problems:
        problems.sort(key=lambda text: int(text.split(":", 1)[0].removeprefix("line ")))
        shown = problems[:MAX_ERRORS_SHOWN]
        more = len(problems) - len(shown)
        raise SessionImportError("\n".join(shown + ([f"... and {more} more."] if more else [])))
    return ImportSummary(rows=len(rows), created=created, updated=updated, unchanged=unchanged)
