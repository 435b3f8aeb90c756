"""The coordinator's worklist: which questionnaire windows are open, due, overdue or missed."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveys.domain.models import Patient, PatientLink, Response, Study
from surveys.domain.patients import study_anchors, study_protocol
from surveys.domain.protocol import Protocol
from surveys.domain.schedule import Window, compute_schedule
from surveys.infra.db import utcnow

# What the worklist shows, most urgent first; "missed" = closed without every questionnaire.
WORK_STATES = ("overdue", "due", "open", "missed")


@dataclass(frozen=True, slots=True)
class PatientRow:
    """What the worklist needs of a patient (plain values, no ORM object)."""

    id: int
    code: str
    email: str | None


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One patient's window that needs attention."""

    patient: PatientRow
    window: Window
    state: str
    submitted: frozenset[str]
    has_live_link: bool

    @property
    def timepoint_kind(self) -> str:
        """The protocol timepoint the window belongs to (`S` for `S3`)."""
        return self.window.definition.id


def submitted_instruments(session: Session, study: Study) -> dict[tuple[int, str], set[str]]:
    """(patient id, timepoint) -> the instruments submitted there, for a whole study."""
    done: dict[tuple[int, str], set[str]] = defaultdict(set)
    rows = session.execute(
        select(Response.patient_id, Response.timepoint, Response.instrument_id)
        .join(Patient, Patient.id == Response.patient_id)
        .where(Patient.study_id == study.id, Response.status == "submitted")
    )
    for pid, timepoint, instrument in rows:
        done[(pid, timepoint)].add(instrument)
    return done


def window_state(window: Window, submitted: set[str]) -> str:
    """The window's state counting submissions: completed when every instrument is in."""
    needed = {entry.instrument for entry in window.instruments}
    if needed and needed <= submitted:
        return "completed"
    if window.state == "closed":
        return "missed"
    return window.state


def build_worklist(
    session: Session,
    study: Study,
    *,
    states: tuple[str, ...] = WORK_STATES,
    timepoint: str | None = None,
    now: datetime | None = None,
    protocol: Protocol | None = None,
) -> list[WorkItem]:
    """The active patients' windows in the given states, most urgent first, then by patient.

    Reads plain rows (patients, session dates, submissions: three queries for the whole study)
    and computes each patient's windows with the same pure schedule the patient side uses.
    """
    now = now or utcnow()
    protocol = protocol or study_protocol(study)
    active = (Patient.study_id == study.id) & (Patient.status == "active")
    patients = session.execute(
        select(Patient.id, Patient.code, Patient.email)
        .where(active).order_by(Patient.code)
    ).all()
    anchors_of = study_anchors(session, study)
    done = submitted_instruments(session, study)
    live = set(session.scalars(
        select(PatientLink.patient_id).join(Patient, Patient.id == PatientLink.patient_id)
        .where(active, PatientLink.revoked_at.is_(None))
    ))
    items: list[WorkItem] = []
    for pid, code, email in patients:
        row = PatientRow(pid, code, email)
        if pid not in anchors_of:  # enrolled between the two reads: on the next worklist
            continue
        for window in compute_schedule(protocol, anchors_of[pid], now):
            if timepoint and window.definition.id != timepoint:
                continue
            submitted = done.get((pid, window.timepoint), set())
            state = window_state(window, submitted)
            if state in states:
                items.append(WorkItem(row, window, state, frozenset(submitted), pid in live))
    rank = {state: n for n, state in enumerate(WORK_STATES)}
    items.sort(key=lambda i: (rank.get(i.state, 99), i.window.due_at or i.window.opens_at or now,
                              i.patient.code))
    return items


def worklist_counts(items: list[WorkItem]) -> dict[str, int]:
    """How many windows are in each worklist state."""
    counts = dict.fromkeys(WORK_STATES, 0)
    for item in items:
        counts[item.state] = counts.get(item.state, 0) + 1
    return counts
